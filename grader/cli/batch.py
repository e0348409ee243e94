"""`python -m grader batch EXERCISE SUBMISSIONS_DIR --out DIR`: parse, run the batch, write the outputs, summarise."""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from grader import spec
from grader.batch import DEFAULT_TIMEOUT, BatchOptions, BatchResult, Listener, parse_shard
from grader.batch import run as run_batch
from grader.cli.class_outputs import print_roster_summary, template_dockerfile
from grader.cli.common import EXIT_DONE, EXIT_INTERRUPTED, EXIT_NOT_GRADABLE
from grader.engine.pool import Engine, describe, make_engines
from grader.gradebook import FILENAME, Gradebook
from grader.i18n import available_languages, set_language, t
from grader.model import ExerciseSpec
from grader.outputs.common import points, state_label
from grader.outputs.lms import RosterEntry, load_roster
from grader.outputs.registry import write_all
from grader.rows import GRADED, NOT_GRADABLE, STATE_LABELS, Grading, Pair
from grader.similarity import DEFAULT_THRESHOLD, similar_pairs


def default_jobs() -> int:
    """Gradings at once per engine: one per core, at most 4 (each container gets 1 CPU; builds are CPU-bound)."""
    return max(1, min(4, os.cpu_count() or 1))


def parser() -> argparse.ArgumentParser:
    """The batch command's arguments (help in the current language)."""
    p = argparse.ArgumentParser(prog="python -m grader batch", description=t("batch.description"), epilog=t("batch.epilog"))
    p.add_argument("exercise", help=t("batch.help_exercise"))
    p.add_argument("submissions", type=Path, help=t("batch.help_submissions"))
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help=t("batch.help_out"))
    p.add_argument("-j", "--jobs", type=int, default=default_jobs(), metavar="N", help=t("batch.help_jobs", default=default_jobs()))
    p.add_argument("--engine", action="append", default=[], metavar="URL", help=t("batch.help_engine"))
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS", help=t("batch.help_timeout", default=DEFAULT_TIMEOUT))
    p.add_argument("--build-timeout", type=float, default=600.0, metavar="SECONDS", help=t("batch.help_build_timeout"))
    p.add_argument("--builder", choices=("auto", "buildkit", "classic"), help=t("batch.help_builder"))
    p.add_argument("--regrade", action="store_true", help=t("batch.help_regrade"))
    p.add_argument("--similarity", type=float, default=DEFAULT_THRESHOLD, metavar="SCORE", help=t("batch.help_similarity", default=DEFAULT_THRESHOLD))
    p.add_argument("--labs", type=Path, help=t("cli.help_labs"))
    p.add_argument("--shard", metavar="K/N", help=t("batch.help_shard"))
    p.add_argument("--roster", type=Path, metavar="FILE", help=t("batch.help_roster"))
    p.add_argument("--assignment", metavar="TITLE", help=t("batch.help_assignment"))
    p.add_argument("--lang", choices=available_languages(), help=t("batch.help_lang"))
    return p


class PlainListener(Listener):
    """One line per finished submission, with counts and an ETA: for logs and CI."""

    def __init__(self, console: Console):
        self.console = console
        self.lock = threading.Lock()
        self.total = self.done = 0
        self.started = time.monotonic()
        self.counts = {state: 0 for state in STATE_LABELS}

    def start(self, total: int, skipped: int) -> None:
        self.total, self.started = total, time.monotonic()
        self.console.print(t("batch.start", total=total, skipped=skipped), markup=False)

    def eta(self) -> str:
        """`ETA 3m05s` from the pace so far; `ETA -` before the first result and after the last."""
        if not self.done or self.done >= self.total:
            return "ETA -"
        seconds = (time.monotonic() - self.started) / self.done * (self.total - self.done)
        return f"ETA {int(seconds // 60)}m{int(seconds % 60):02d}s"

    def counts_text(self) -> str:
        """`3 graded, 1 not gradable`: how many ended in each state so far (graded always shown)."""
        return ", ".join(f"{n} {state_label(s)}" for s, n in self.counts.items() if n or s == GRADED)

    def finish(self, grading: Grading, retrying: bool) -> None:
        with self.lock:
            if not retrying:
                self.done += 1
                self.counts[grading.state] += 1
            self.console.print(
                f"[{time.monotonic() - self.started:6.1f}s] {self.done}/{self.total} {line_of(grading, retrying)} · {self.counts_text()} · {self.eta()}",
                markup=False,
            )

    def engine_lost(self, engine: Engine) -> None:
        self.console.print(t("batch.engine_lost", name=engine.name, url=engine.url), markup=False)


class RichListener(PlainListener):
    """A progress bar with counts and an ETA on a terminal; finished submissions scroll above it."""

    def __init__(self, console: Console):
        super().__init__(console)
        self.bar = Progress(
            TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
        )
        self.task_id = None

    def start(self, total: int, skipped: int) -> None:
        super().start(total, skipped)
        self.bar.start()
        self.task_id = self.bar.add_task("grading", total=total, counts="")

    def finish(self, grading: Grading, retrying: bool) -> None:
        with self.lock:
            if not retrying:
                self.done += 1
                self.counts[grading.state] += 1
            self.bar.console.print(line_of(grading, retrying), markup=False, highlight=False)
            self.bar.update(self.task_id, completed=self.done, counts=self.counts_text())

    def close(self) -> None:
        """Stop the bar, leaving its last state on the terminal."""
        self.bar.stop()


def line_of(grading: Grading, retrying: bool = False) -> str:
    """`alice: 85/100 (graded, 12.3 s, engine 1)`."""
    if grading.final and grading.report is not None:
        head = f"{points(grading.report.score)}/{points(grading.report.max_score)}"
    else:
        head = state_label(NOT_GRADABLE) + (t("batch.will_retry") if retrying else "")
    state = "" if grading.state in (GRADED, NOT_GRADABLE) else f"{state_label(grading.state)}, "
    note = f" — {grading.message[:160]}" if grading.message and grading.state != GRADED else ""
    return t("batch.line", learner=grading.learner, head=head, state=state, seconds=grading.duration, engine=grading.engine, note=note)


def dockerfiles_of(result: BatchResult) -> dict[str, str]:
    """learner -> Dockerfile text, for the submissions that have one."""
    texts = {}
    for submission in result.submissions:
        try:
            texts[submission.learner] = (submission.folder / "Dockerfile").read_text(encoding="utf-8", errors="replace")[:200_000]
        except OSError:
            pass
    return texts


def run(argv: list[str], err: Console) -> int:
    """Run `python -m grader batch`; returns the exit code."""
    args = parser().parse_args(argv)
    checked = check_arguments(args, err)
    if isinstance(checked, int):
        return checked
    exercise, shard, roster = checked
    engines = make_engines(args.engine, args.jobs)
    for engine in engines:
        engine.connect()
    if all(engine.dead for engine in engines):
        err.print(t("batch.no_engine", engines=describe(engines)), markup=False)
        return EXIT_NOT_GRADABLE
    options = options_of(args, exercise, shard)
    result, pairs, standing = grade_and_write(options, engines, args, roster, err)
    out = Console(highlight=False, soft_wrap=True)
    print_summary(out, exercise, result, pairs, options, engines)
    if roster is not None:
        print_roster_summary(out, roster, standing)
    if result.interrupted:
        err.print(t("batch.interrupted"), markup=False)
        return EXIT_INTERRUPTED
    return EXIT_NOT_GRADABLE if result.not_gradable() else EXIT_DONE


def check_arguments(args: argparse.Namespace, err: Console) -> tuple[ExerciseSpec, tuple[int, int] | None, list[RosterEntry] | None] | int:
    """(exercise, shard, roster) the arguments name, or the exit code after saying what is wrong; no engine is asked yet."""
    if args.jobs < 1:
        err.print(t("batch.bad_jobs"), markup=False)
        return EXIT_NOT_GRADABLE
    exercises = spec.load(args.labs)
    exercise = spec.find_exercise(exercises, args.exercise)
    if exercise is None:
        err.print(t("batch.unknown_exercise", exercise=args.exercise, known=", ".join(e.id for e in exercises)), markup=False)
        return EXIT_NOT_GRADABLE
    if not args.submissions.is_dir():
        err.print(t("batch.no_folder", path=args.submissions), markup=False)
        return EXIT_NOT_GRADABLE
    try:
        shard = parse_shard(args.shard) if args.shard else None
        roster = load_roster(args.roster) if args.roster else None
    except ValueError as error:  # RosterError is one
        err.print(t("cli.error", error=error), markup=False)
        return EXIT_NOT_GRADABLE
    return exercise, shard, roster


def options_of(args: argparse.Namespace, exercise: ExerciseSpec, shard: tuple[int, int] | None) -> BatchOptions:
    """The batch's options; --lang and --builder reach the grading processes through their environment."""
    labs = (args.labs or spec.default_labs_path()).resolve()
    if args.lang:
        set_language(args.lang)
        os.environ["LABKIT_LANG"] = args.lang  # the grading processes' messages follow it
    if args.builder:
        os.environ["LABKIT_BUILDER"] = args.builder  # what every grading process reads, as a learner's shell would set it
    return BatchOptions(exercise, labs, args.submissions.resolve(), args.out.resolve(), args.timeout, args.build_timeout, args.regrade, shard=shard)


def grade_and_write(
    options: BatchOptions, engines: list[Engine], args: argparse.Namespace, roster: list[RosterEntry] | None, err: Console,
) -> tuple[BatchResult, list[Pair], dict[str, Grading]]:
    """Grade what changed, then write every output from the gradebook; returns (result, alike pairs, each learner's standing)."""
    exercise = options.exercise
    listener = RichListener(err) if err.is_terminal else PlainListener(err)
    err.print(t("batch.engines", engines=describe(engines)), markup=False)
    gradebook = Gradebook.in_folder(options.out)
    try:
        try:
            result = run_batch(options, engines, gradebook, listener=listener)
        finally:
            if isinstance(listener, RichListener):
                listener.close()
        pairs = similar_pairs(dockerfiles_of(result), template_dockerfile(args.labs, exercise), args.similarity)
        standing = gradebook.current(exercise.id)
        write_all(options.out, exercise, standing, pairs, roster, args.assignment)
    finally:
        gradebook.close()
    return result, pairs, standing


def print_summary(out: Console, exercise: ExerciseSpec, result: BatchResult, pairs: list[Pair], options: BatchOptions, engines: list[Engine]) -> None:
    """What the batch did, the regrade diff, alike pairs and where the outputs are."""
    counts = result.counts()
    states = ", ".join(f"{counts[s]} {state_label(s)}" for s in STATE_LABELS)
    out.print(
        t("batch.summary", exercise=exercise.id, submissions=len(result.submissions), states=states, unchanged=counts["unchanged"],
          seconds=result.wall),
        markup=False,
    )
    out.print(t("batch.engines", engines=describe(engines)), markup=False)
    if result.changes or options.regrade:
        out.print(t("batch.regrade_diff", count=len(result.changes)) + (":" if result.changes else ""), markup=False)
        for change in sorted(result.changes, key=lambda c: c.learner):
            out.print(f"  {change.line()}", markup=False)
    if pairs:
        out.print(t("batch.alike", count=len(pairs)), markup=False)
        for pair in pairs[:5]:
            out.print(f"  {pair.a} ~ {pair.b}: {pair.score:.2f}" + (t("batch.identical") if pair.identical else ""), markup=False)
    left = result.not_gradable()
    if left:
        out.print(t("batch.left_not_gradable", learners=", ".join(left)), markup=False)
    out.print(t("batch.outputs", out=options.out, gradebook=FILENAME), markup=False)
