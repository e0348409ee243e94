"""Command line: parse, call the library, render, return an exit code (0 full marks, 1 points lost, 2 not gradable)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from rich.console import Console

from grader import __version__, spec
from grader.grading import DEFAULT_BUILD_TIMEOUT, grade
from grader.report import gradescope, points, render_terminal, write_json
from grader.session import EngineUnavailable, connect, sweep

EXIT_FULL, EXIT_POINTS_LOST, EXIT_NOT_GRADABLE, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS = ("list", "clean")


def _grade_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader",
        description="Grade a Docker-for-ML exercise: static checks, a real build, image checks, a run.",
        epilog="Other commands: `python -m grader list` (the exercises), `python -m grader clean` (remove leftovers).",
    )
    parser.add_argument("exercise", help="exercise id, e.g. exercise-01 (see `python -m grader list`)")
    parser.add_argument("--path", type=Path, help="grade this folder as the exercise instead of exercises/EXERCISE")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write Gradescope results.json to FILE")
    parser.add_argument(
        "--build-timeout", type=float, default=DEFAULT_BUILD_TIMEOUT, metavar="SECONDS",
        help=f"give up on a build after this many seconds (default {DEFAULT_BUILD_TIMEOUT:.0f})",
    )
    parser.add_argument("--labs", type=Path, help="labs.yaml to read (default: the repository's)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show logs and lint listings of failed checks")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    return parser


def _raise_interrupt(signum, frame):  # SIGTERM unwinds like Ctrl-C so every `with Session` cleans up
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if threading_is_main():
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if argv and argv[0] == "list":
            return cmd_list(argv[1:])
        if argv and argv[0] == "clean":
            return cmd_clean(argv[1:], err)
        return cmd_grade(argv, err)
    except spec.SpecError as error:
        err.print(f"error: labs.yaml is invalid, nothing graded.\n{error}", markup=False)
        return EXIT_NOT_GRADABLE
    except EngineUnavailable as error:
        err.print(f"error: {error}", markup=False)
        return EXIT_NOT_GRADABLE
    except KeyboardInterrupt:
        err.print("interrupted: the grader removed what it had started", markup=False)
        return EXIT_INTERRUPTED


def threading_is_main() -> bool:
    """Signal handlers can only be set from the main thread."""
    import threading

    return threading.current_thread() is threading.main_thread()


def cmd_grade(argv: list[str], err: Console) -> int:
    """Grade one submission and print the report."""
    args = _grade_parser().parse_args(argv)
    exercises = spec.load(args.labs)
    exercise = spec.find_exercise(exercises, args.exercise)
    if exercise is None:
        known = ", ".join(e.id for e in exercises)
        err.print(f"error: unknown exercise `{args.exercise}`; known: {known} (see `python -m grader list`)", markup=False)
        return EXIT_NOT_GRADABLE
    labs_root = (args.labs.resolve().parent if args.labs else spec.default_labs_path().parent)
    submission = (args.path or labs_root / exercise.folder).resolve()
    if not submission.is_dir():
        err.print(f"error: no folder at {submission}: pass the folder that holds your Dockerfile with --path", markup=False)
        return EXIT_NOT_GRADABLE
    out = _stdout_console()
    client = connect()
    report = _grade_with_progress(exercise, submission, args.build_timeout, client, err)
    render_terminal(report, out, verbose=args.verbose)
    if args.json:
        write_json(gradescope(report), args.json)
    return EXIT_FULL if report.full_marks else EXIT_POINTS_LOST


def _grade_with_progress(exercise, submission: Path, build_timeout: float, client, err: Console):
    if err.is_terminal:
        with err.status(f"grading {submission}", spinner="dots") as status:
            return grade(exercise, submission, build_timeout=build_timeout, client=client, progress=lambda text: status.update(text))
    started = time.monotonic()
    last = [""]

    def plain(text: str) -> None:
        stage = text.split(":")[0]
        if stage != last[0] or text.startswith("building:"):
            err.print(f"[{time.monotonic() - started:5.1f}s] {text}", markup=False)
            last[0] = stage

    return grade(exercise, submission, build_timeout=build_timeout, client=client, progress=plain)


def _stdout_console() -> Console:
    """A console for reports; wide enough for logs and CI when not a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=120)
    return console


def cmd_list(argv: list[str]) -> int:
    """List the exercises with their checks and points."""
    parser = argparse.ArgumentParser(prog="python -m grader list", description="List the exercises.")
    parser.add_argument("--labs", type=Path)
    args = parser.parse_args(argv)
    out = Console(highlight=False, soft_wrap=True)
    for exercise in spec.load(args.labs):
        out.print(f"{exercise.id}  {exercise.title}  ({len(exercise.checks)} checks, {points(exercise.max_score)} points)  {exercise.folder}", markup=False)
    return 0


def cmd_clean(argv: list[str], err: Console) -> int:
    """Remove every container and image the grader labelled, e.g. after a killed run."""
    parser = argparse.ArgumentParser(prog="python -m grader clean", description="Remove the grader's leftover containers and images.")
    parser.add_argument("--cache", action="store_true", help="also remove the layers kept as build cache")
    args = parser.parse_args(argv)
    client = connect()
    containers, images = sweep(client, prune_cache=args.cache)
    pruned = ""
    if args.cache:
        result = client.images.prune(filters={"dangling": True})
        pruned = f", {len(result.get('ImagesDeleted') or [])} cached layer image(s) pruned"
    Console(highlight=False, soft_wrap=True).print(f"removed {containers} container(s) and {images} image(s) labelled by the grader{pruned}", markup=False)
    return 0
