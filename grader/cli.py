"""Command line: parse, call the library, render, return an exit code (0 full marks, 1 points lost, 2 not gradable)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from grader import __version__, spec
from grader.grading import DEFAULT_BUILD_TIMEOUT, grade, static_report
from grader.i18n import available_languages, current_language, set_language, t
from grader.model import Status
from grader.progress_store import ProgressStore, store_path
from grader.errors import EngineUnavailable
from grader.engine.connect import connect
from grader.engine.sweep import sweep
from grader.startup import unwind_on_signals

# rich and the report renderers (~30 ms of imports) are not needed before the build starts: a
# grading imports them while its app comes up (see prefetch_rendering), the other commands where used.
if TYPE_CHECKING:
    from rich.console import Console

EXIT_FULL, EXIT_POINTS_LOST, EXIT_NOT_GRADABLE, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS = ("list", "clean", "batch", "hint", "doctor", "starter-kit", "merge")


def _grade_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description=t("cli.description"), epilog=t("cli.epilog"))
    _exercise_arguments(parser)
    parser.add_argument("--json", type=Path, metavar="FILE", help=t("cli.help_json"))
    parser.add_argument(
        "--build-timeout", type=float, default=DEFAULT_BUILD_TIMEOUT, metavar="SECONDS",
        help=t("cli.help_build_timeout", default=DEFAULT_BUILD_TIMEOUT),
    )
    parser.add_argument("--builder", choices=("auto", "buildkit", "classic"), help=t("cli.help_builder"))
    parser.add_argument("-v", "--verbose", action="store_true", help=t("cli.help_verbose"))
    parser.add_argument("--watch", action="store_true", help=t("cli.help_watch"))
    parser.add_argument("--no-record", action="store_true", help=t("cli.help_no_record", path=store_path()))
    parser.add_argument("--static-only", action="store_true", help=t("cli.help_static_only"))
    parser.add_argument("--prairielearn", type=Path, metavar="FILE", help=t("cli.help_prairielearn"))
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    return parser


def _exercise_arguments(parser: argparse.ArgumentParser) -> None:
    """EXERCISE, --path, --labs and --lang: what grade and hint share."""
    parser.add_argument("exercise", help=t("cli.help_exercise"))
    parser.add_argument("--path", type=Path, help=t("cli.help_path"))
    parser.add_argument("--labs", type=Path, help=t("cli.help_labs"))
    _language_argument(parser)


def _language_argument(parser: argparse.ArgumentParser) -> None:
    # main() has already applied it (help texts are translated too); argparse only validates it.
    parser.add_argument("--lang", choices=available_languages(), help=t("cli.help_lang"))


def _language_option(argv: list[str]) -> str | None:
    """The value of --lang in ARGV when it names a language we have."""
    for index, word in enumerate(argv):
        if word == "--lang" and index + 1 < len(argv):
            value = argv[index + 1]
        elif word.startswith("--lang="):
            value = word.split("=", 1)[1]
        else:
            continue
        return value if value in available_languages() else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    err: Any = DeferredConsole(stderr=True, highlight=False, soft_wrap=True)
    if threading_is_main():
        unwind_on_signals()
    language = _language_option(argv)
    if language:
        set_language(language)
    try:
        if argv and argv[0] == "list":
            return cmd_list(argv[1:], err)
        if argv and argv[0] == "hint":
            return cmd_hint(argv[1:], err)
        if argv and argv[0] == "clean":
            return cmd_clean(argv[1:], err)
        if argv and argv[0] == "doctor":
            return cmd_doctor(argv[1:])
        if argv and argv[0] == "starter-kit":
            return cmd_starter_kit(argv[1:], err)
        if argv and argv[0] == "merge":
            from grader import batch_cli

            return batch_cli.merge_main(argv[1:], err.console)
        if argv and argv[0] == "batch":
            from grader import batch_cli

            return batch_cli.main(argv[1:], err.console)
        return cmd_grade(argv, err)
    except spec.SpecError as error:
        err.print(t("cli.labs_invalid", error=error), markup=False)
        return EXIT_NOT_GRADABLE
    except EngineUnavailable as error:
        err.print(t("cli.error", error=error), markup=False)
        return EXIT_NOT_GRADABLE
    except KeyboardInterrupt:
        err.print(t("cli.interrupted"), markup=False)
        return EXIT_INTERRUPTED
    finally:
        if language:
            set_language(None)  # back to the locale: main() may be called again in the same process


class DeferredConsole:
    """A rich Console made on first use: a grading that prints plain progress lines makes it only
    after the build has started, instead of importing rich (~25 ms) ahead of everything."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The Console itself (made now if it was not yet)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def plain_progress(stream: Any = None) -> bool:
    """True when progress goes to a file or pipe, which rich would not treat as a terminal; decided
    without importing rich. With FORCE_TERMINAL or TTY_COMPATIBLE set, rich decides."""
    stream = sys.stderr if stream is None else stream
    if any(name in os.environ for name in ("FORCE_TERMINAL", "TTY_COMPATIBLE")):
        return False
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return True


def prefetch_rendering() -> None:
    """Import what renders the report while the learner's app starts, when the grading only waits."""
    import grader.outputs.terminal  # noqa: F401
    import rich.table  # noqa: F401


def threading_is_main() -> bool:
    """Signal handlers can only be set from the main thread."""
    import threading

    return threading.current_thread() is threading.main_thread()


def _resolve(args: argparse.Namespace, err: Console):
    """(exercise, submission folder) the arguments name, or the exit code after saying what is wrong."""
    exercises = spec.load(args.labs)
    exercise = spec.find_exercise(exercises, args.exercise)
    if exercise is None:
        known = ", ".join(e.id for e in exercises)
        err.print(t("cli.unknown_exercise", exercise=args.exercise, known=known), markup=False)
        return EXIT_NOT_GRADABLE
    labs_root = (args.labs.resolve().parent if args.labs else spec.default_labs_path().parent)
    submission = (args.path or labs_root / exercise.folder).resolve()
    if not submission.is_dir():
        err.print(t("cli.no_folder", path=submission), markup=False)
        return EXIT_NOT_GRADABLE
    return exercise, submission


def _store(err: Console) -> ProgressStore:
    return ProgressStore(warn=lambda text: err.print(text, markup=False))


def cmd_grade(argv: list[str], err: Console) -> int:
    """Grade one submission and print the report (again on every save with --watch)."""
    args = _grade_parser().parse_args(argv)
    resolved = _resolve(args, err)
    if isinstance(resolved, int):
        return resolved
    exercise, submission = resolved
    if args.static_only:
        return cmd_static_only(exercise, submission, args)
    client = connect()
    # Only a learner's own runs are progress: not CI's, and not an instructor's (--no-record).
    store = None if args.no_record or os.environ.get("CI") == "true" else _store(err)

    def grade_and_show() -> int:
        report = _grade_with_progress(exercise, submission, args.build_timeout, client, err, args.builder)
        from grader.outputs.terminal import render_terminal  # imported already, while the app started

        render_terminal(report, _stdout_console(), verbose=args.verbose)
        _write_results(report, args)
        if store is not None:
            store.record(report)
        return EXIT_FULL if report.full_marks else EXIT_POINTS_LOST

    if args.watch:
        return _watch(exercise, submission, grade_and_show, _stdout_console(), err)
    return grade_and_show()


def cmd_static_only(exercise, submission: Path, args: argparse.Namespace) -> int:
    """Grade the checks that need no engine (never connecting to one); the others are listed as not run."""
    from rich.text import Text

    from grader.outputs.terminal import render_terminal
    from grader.static_only import static_grading

    report = static_grading(exercise, submission)
    out = _stdout_console()
    out.print(Text(t("static_only.note", not_run=report.facts["not_run"]), style="dim"))
    render_terminal(report, out, verbose=args.verbose)
    _write_results(report, args)
    return EXIT_FULL if report.full_marks else EXIT_POINTS_LOST


def _write_results(report, args: argparse.Namespace) -> None:
    """--json (Gradescope) and --prairielearn files of one grading."""
    from grader.outputs.common import write_json
    from grader.outputs.gradescope import gradescope

    if args.json:
        write_json(gradescope(report), args.json)
    if args.prairielearn:
        from grader.rows import GRADED, Grading
        from grader.outputs.prairielearn import results

        write_json(results(Grading("", report.exercise.id, GRADED, report), report.exercise), args.prairielearn)


def _watch(exercise, submission: Path, grade_and_show, out: Console, err: Console) -> int:
    """Grade now and after every save until Ctrl-C (main turns that into exit code 130)."""
    from rich.text import Text

    from grader.watch import watch

    gradings = [0]

    def full() -> None:
        if gradings[0]:
            out.print(Text(t("watch.full"), style="bold"))
        gradings[0] += 1
        grade_and_show()
        err.print(t("watch.watching", path=submission), markup=False)

    def static() -> None:
        from grader.outputs.terminal import render_static

        render_static(static_report(exercise, submission)[0], out)

    def changed(files: list[str]) -> None:
        shown = ", ".join(files[:3]) + (t("watch.more_files", count=len(files) - 3) if len(files) > 3 else "")
        out.rule(Text(t("watch.changed", time=time.strftime("%H:%M:%S"), files=shown)))

    watch(submission, grade=full, static=static, on_change=changed)
    return EXIT_INTERRUPTED  # not reached: watch() ends only by Ctrl-C


def _grade_with_progress(exercise, submission: Path, build_timeout: float, client, err: Console, builder: str | None = None):
    options = dict(build_timeout=build_timeout, client=client, while_waiting=prefetch_rendering, builder=builder)
    if not plain_progress() and err.is_terminal:
        with err.status(t("cli.grading", path=submission), spinner="dots") as status:
            return grade(exercise, submission, progress=lambda text: status.update(text), **options)
    started = time.monotonic()
    last = [""]

    replaying = t("progress.replaying_line", text="")  # each replayed command on its own line, with its time

    def plain(text: str) -> None:
        stage = text.split(":")[0]
        if stage != last[0] or text.startswith(("building:", replaying)):
            print(f"[{time.monotonic() - started:5.1f}s] {text}", file=sys.stderr, flush=True)
            last[0] = stage

    return grade(exercise, submission, progress=plain, **options)


def _stdout_console() -> Console:
    """A console for reports; wide enough for logs and CI when not a terminal."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=120)
    return console


def cmd_list(argv: list[str], err: Console) -> int:
    """List the exercises with their checks, points and the learner's best score so far."""
    from rich.console import Console

    from grader.outputs.common import exercise_title, points

    parser = argparse.ArgumentParser(prog="python -m grader list", description=t("cli.list_description"))
    parser.add_argument("--labs", type=Path, help=t("cli.help_labs"))
    _language_argument(parser)
    args = parser.parse_args(argv)
    out = Console(highlight=False, soft_wrap=True)
    store = _store(err)
    for exercise in spec.load(args.labs):
        best, entry = store.best(exercise.id), store.entry(exercise.id) or {}
        progress = t("list.not_graded")
        if best is not None:
            progress = t(
                "list.best", best=points(best[0]), best_max=points(best[1]), gradings=entry.get("gradings", 1),
                last=points(entry.get("last", best[0])), max=points(entry.get("max", best[1])),
            )
        out.print(
            t("list.line", id=exercise.id, title=exercise_title(exercise), checks=len(exercise.checks),
              points=points(exercise.max_score), folder=exercise.folder, progress=progress),
            markup=False,
        )
    return 0


def cmd_hint(argv: list[str], err: Console) -> int:
    """One more hint for a check (the one named, else the first failing): static checks run now, the others come from the last grading."""
    from rich.console import Console
    from rich.text import Text

    from grader.outputs.common import hint_levels

    parser = argparse.ArgumentParser(prog="python -m grader hint", description=t("cli.hint_description"))
    _exercise_arguments(parser)
    parser.add_argument("check", nargs="?", help=t("cli.help_check"))
    parser.add_argument("--reset", action="store_true", help=t("cli.help_reset"))
    args = parser.parse_args(argv)
    resolved = _resolve(args, err)
    if isinstance(resolved, int):
        return resolved
    exercise, submission = resolved
    out = Console(highlight=False, soft_wrap=True)
    if exercise.feedback == "exam":
        out.print(t("hint_cmd.exam", exercise=exercise.id), markup=False)
        return 0
    known = [check.id for check in exercise.checks]
    if args.check is not None and args.check not in known:
        err.print(t("hint_cmd.unknown_check", check=args.check, exercise=exercise.id, known=", ".join(known)), markup=False)
        return EXIT_NOT_GRADABLE
    store = _store(err)
    if args.reset:
        store.reset_hints(exercise.id)
        out.print(t("hint_cmd.reset", exercise=exercise.id), markup=False)
        return 0
    target = _hint_target(exercise, submission, store, args.check)
    if isinstance(target, str):  # nothing to hint, and why
        out.print(target, markup=False)
        return 0
    check_id, feedback, note = target
    levels = hint_levels(exercise, check_id)
    level = store.next_hint_level(exercise.id, check_id)
    shown = min(level, len(levels))
    check = next(c for c in exercise.checks if c.id == check_id)
    header = t("hint_cmd.header", level=shown, levels=len(levels), title=check.title_in(current_language()), check=check_id)
    out.print(Text(header, style="bold"))
    if note:
        out.print(Text(note, style="dim"))
    if feedback:
        out.print(Text(t("hint_cmd.feedback", feedback=feedback)))
    out.print(Text(levels[shown - 1]))
    out.print(Text(t("hint_cmd.no_more", exercise=exercise.id) if level >= len(levels) else t("hint_cmd.more_available"), style="dim"))
    return 0


def _hint_target(exercise, submission: Path, store: ProgressStore, named: str | None) -> tuple[str, str, str] | str:
    """(check id, the grader's feedback on it, a note on where that came from), or the text to print instead."""
    from grader.outputs.common import result_text

    report, _ = static_report(exercise, submission)
    failing = next((r for r in report.results if r.status is not Status.PASSED), None)
    if failing is not None and failing.status is Status.BLOCKED:
        return t("hint_cmd.blocked", reason=failing.message)
    entry = store.entry(exercise.id) or {}
    last_failed = {f["id"]: f for f in store.failed_checks(exercise.id)}
    static = {r.spec.id: r for r in report.results}
    if named is not None:  # the learner chose the check: its ladder, with whatever the grader last said about it
        if named in static and static[named].status is not Status.PASSED:
            return named, result_text(static[named], with_hint=False), ""
        if named not in static and named in last_failed:
            return named, str(last_failed[named].get("message") or ""), t("hint_cmd.from_last_grading", when=entry["when"])
        return named, "", ""
    if failing is not None:
        return failing.spec.id, result_text(failing, with_hint=False), ""
    if "when" not in entry:
        return t("hint_cmd.grade_first", exercise=exercise.id)
    known = {check.id for check in exercise.checks}
    failed = [f for f in last_failed.values() if f["id"] in known and f["id"] not in static]
    if not failed:
        return t("hint_cmd.nothing", when=entry["when"])
    return failed[0]["id"], str(failed[0].get("message") or ""), t("hint_cmd.from_last_grading", when=entry["when"])


def cmd_clean(argv: list[str], err: Console) -> int:
    """Remove every container and image the grader labelled, e.g. after a killed run."""
    from rich.console import Console

    from grader.engine.compose import sweep_compose

    parser = argparse.ArgumentParser(prog="python -m grader clean", description=t("cli.clean_description"))
    parser.add_argument("--cache", action="store_true", help=t("cli.help_cache"))
    _language_argument(parser)
    args = parser.parse_args(argv)
    client = connect()
    # Compose projects first: their volumes carry no session label.
    stacks = sweep_compose(client)
    containers, images, networks = sweep(client, prune_cache=args.cache)
    containers += stacks["containers"]
    stacks["networks"] += networks
    pruned = t("cli.clean_stacks", networks=stacks["networks"], volumes=stacks["volumes"]) if stacks["networks"] or stacks["volumes"] else ""
    from grader.engine.registry import sweep_registries  # exercise-08's registries, after a killed grading

    registries = sweep_registries()
    if registries:
        pruned += t("cli.clean_registries", count=registries)
    if args.cache:
        result = client.images.prune(filters={"dangling": True})
        pruned += t("cli.clean_pruned", count=len(result.get("ImagesDeleted") or []))
    Console(highlight=False, soft_wrap=True).print(
        t("cli.clean_done", containers=containers, images=images, pruned=pruned), markup=False
    )
    return 0


def cmd_starter_kit(argv: list[str], err: Console) -> int:
    """Write the learners' repository (no solution) into a new folder."""
    from grader.starter_kit import StarterKitError, write

    parser = argparse.ArgumentParser(prog="python -m grader starter-kit", description=t("cli.starter_kit_description"))
    parser.add_argument("dir", type=Path, help=t("cli.help_starter_kit_dir"))
    _language_argument(parser)
    args = parser.parse_args(argv)
    try:
        written = write(args.dir)
    except StarterKitError as error:
        err.print(t("starter_kit.error", error=error), markup=False)
        return EXIT_NOT_GRADABLE
    print(t("starter_kit.done", path=args.dir, files=len(written)))
    return 0


def cmd_doctor(argv: list[str]) -> int:
    """Say what this machine has for grading and what is missing, with the fix (0 ready, 1 missing, 2 no engine)."""
    from rich.console import Console
    from rich.text import Text

    from grader.doctor import INFO, MISSING, OK, WARN, diagnose

    parser = argparse.ArgumentParser(prog="python -m grader doctor", description=t("cli.doctor_description"))
    _language_argument(parser)
    parser.parse_args(argv)
    out = Console(highlight=False, soft_wrap=True)
    diagnosis = diagnose()
    labels = {OK: ("doctor.status_ok", "green"), WARN: ("doctor.status_warn", "yellow"),
              MISSING: ("doctor.status_missing", "bold red"), INFO: ("doctor.status_info", "dim")}
    for finding in diagnosis.findings:
        key, style = labels[finding.status]
        line = Text(f"{t(key):<8} ", style=style)
        out.print(line + Text(finding.text))
        if finding.fix:
            out.print(Text("         " + t("doctor.fix", fix=finding.fix)))
    missing = [f for f in diagnosis.findings if f.status == MISSING]
    if diagnosis.engine is None:
        out.print(Text(t("doctor.summary_no_engine"), style="bold red"))
    elif missing:
        out.print(Text(t("doctor.summary_missing", count=len(missing), label=t("doctor.status_missing")), style="bold red"))
    else:
        out.print(Text(t("doctor.summary_ready"), style="bold green"))
    return diagnosis.exit_code
