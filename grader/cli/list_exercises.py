"""`python -m grader list`: the exercises with their checks, points and the learner's best score so far."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from grader import spec
from grader.cli.common import language_argument, open_store
from grader.i18n import t
from grader.outputs.common import exercise_title, points


def parser() -> argparse.ArgumentParser:
    """The list command's arguments (help in the current language)."""
    parser = argparse.ArgumentParser(prog="python -m grader list", description=t("cli.list_description"))
    parser.add_argument("--labs", type=Path, help=t("cli.help_labs"))
    language_argument(parser)
    return parser


def run(argv: list[str], err: Console) -> int:
    """List the exercises with their checks, points and the learner's best score so far."""
    args = parser().parse_args(argv)
    out = Console(highlight=False, soft_wrap=True)
    store = open_store(err)
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
