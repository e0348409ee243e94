"""`python -m grader EXERCISE`: grade one submission and print the report (again on every save with --watch)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from grader import __version__
from grader.cli.common import (
    EXIT_FULL, EXIT_INTERRUPTED, EXIT_POINTS_LOST, exercise_arguments, open_store, resolve, stdout_console,
)
from grader.engine.connect import connect
from grader.grading import DEFAULT_BUILD_TIMEOUT, grade, static_report
from grader.i18n import t
from grader.model import ExerciseSpec, Report
from grader.progress_store import store_path

# rich and the report renderers (~30 ms of imports) are not needed before the build starts: a
# grading imports them while its app comes up (see prefetch_rendering).
if TYPE_CHECKING:
    from rich.console import Console


def parser() -> argparse.ArgumentParser:
    """The grade command's arguments (help in the current language)."""
    parser = argparse.ArgumentParser(prog="python -m grader", description=t("cli.description"), epilog=t("cli.epilog"))
    exercise_arguments(parser)
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


def run(argv: list[str], err: Console) -> int:
    """Grade one submission and print the report (again on every save with --watch)."""
    args = parser().parse_args(argv)
    resolved = resolve(args, err)
    if isinstance(resolved, int):
        return resolved
    exercise, submission = resolved
    if args.static_only:
        return static_only(exercise, submission, args)
    client = connect()
    # Only a learner's own runs are progress: not CI's, and not an instructor's (--no-record).
    store = None if args.no_record or os.environ.get("CI") == "true" else open_store(err)

    def grade_and_show() -> int:
        report = grade_with_progress(exercise, submission, args.build_timeout, client, err, args.builder)
        from grader.outputs.terminal import render_terminal  # imported already, while the app started

        render_terminal(report, stdout_console(), verbose=args.verbose)
        write_results(report, args)
        if store is not None:
            store.record(report)
        return EXIT_FULL if report.full_marks else EXIT_POINTS_LOST

    if args.watch:
        return watch_and_grade(exercise, submission, grade_and_show, stdout_console(), err)
    return grade_and_show()


def static_only(exercise: ExerciseSpec, submission: Path, args: argparse.Namespace) -> int:
    """Grade the checks that need no engine (never connecting to one); the others are listed as not run."""
    from rich.text import Text

    from grader.outputs.terminal import render_terminal
    from grader.static_only import static_grading

    report = static_grading(exercise, submission)
    out = stdout_console()
    out.print(Text(t("static_only.note", not_run=report.facts["not_run"]), style="dim"))
    render_terminal(report, out, verbose=args.verbose)
    write_results(report, args)
    return EXIT_FULL if report.full_marks else EXIT_POINTS_LOST


def write_results(report: Report, args: argparse.Namespace) -> None:
    """--json (Gradescope) and --prairielearn files of one grading."""
    from grader.outputs.common import write_json
    from grader.outputs.gradescope import gradescope

    if args.json:
        write_json(gradescope(report), args.json)
    if args.prairielearn:
        from grader.outputs.prairielearn import results
        from grader.rows import GRADED, Grading

        write_json(results(Grading("", report.exercise.id, GRADED, report), report.exercise), args.prairielearn)


def watch_and_grade(exercise: ExerciseSpec, submission: Path, grade_and_show: Callable[[], int], out: Console, err: Console) -> int:
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


def grade_with_progress(
    exercise: ExerciseSpec, submission: Path, build_timeout: float, client: Any, err: Console, builder: str | None = None,
) -> Report:
    """The grading, with a spinner on a terminal and one timed line per stage otherwise."""
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
