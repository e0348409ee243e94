"""`python -m grader hint EXERCISE [CHECK]`: one more hint for a check (the one named, else the first failing).

Static checks run now; the others come from the learner's last grading (the progress file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.text import Text

from grader.cli.common import EXIT_NOT_GRADABLE, exercise_arguments, open_store, resolve
from grader.grading import static_report
from grader.i18n import current_language, t
from grader.model import ExerciseSpec, Status
from grader.outputs.common import hint_levels, result_text
from grader.progress_store import ProgressStore


def parser() -> argparse.ArgumentParser:
    """The hint command's arguments (help in the current language)."""
    parser = argparse.ArgumentParser(prog="python -m grader hint", description=t("cli.hint_description"))
    exercise_arguments(parser)
    parser.add_argument("check", nargs="?", help=t("cli.help_check"))
    parser.add_argument("--reset", action="store_true", help=t("cli.help_reset"))
    return parser


def run(argv: list[str], err: Console) -> int:
    """Show the next level of a check's hint ladder (or reset the ladders with --reset)."""
    args = parser().parse_args(argv)
    resolved = resolve(args, err)
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
    store = open_store(err)
    if args.reset:
        store.reset_hints(exercise.id)
        out.print(t("hint_cmd.reset", exercise=exercise.id), markup=False)
        return 0
    target = hint_target(exercise, submission, store, args.check)
    if isinstance(target, str):  # nothing to hint, and why
        out.print(target, markup=False)
        return 0
    show(out, exercise, store, *target)
    return 0


def show(out: Console, exercise: ExerciseSpec, store: ProgressStore, check_id: str, feedback: str, note: str) -> None:
    """Print the check's next hint level, with the grader's feedback on it and where that came from."""
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


def hint_target(exercise: ExerciseSpec, submission: Path, store: ProgressStore, named: str | None) -> tuple[str, str, str] | str:
    """(check id, the grader's feedback on it, a note on where that came from), or the text to print instead."""
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
