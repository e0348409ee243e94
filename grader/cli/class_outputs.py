"""What `batch` and `merge` share when they write a class's outputs: the starter's Dockerfile and the roster summary."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from grader import spec
from grader.i18n import t
from grader.model import ExerciseSpec
from grader.outputs.lms import RosterEntry, match
from grader.rows import Grading


def template_dockerfile(labs: Path | None, exercise: ExerciseSpec) -> str:
    """The starter's Dockerfile, whose lines do not count as alike."""
    root = labs.resolve().parent if labs else spec.default_labs_path().parent
    try:
        return (root / exercise.folder / "Dockerfile").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def print_roster_summary(out: Console, roster: list[RosterEntry], standing: dict[str, Grading]) -> None:
    """Who in the roster has no result, and which folders no roster row claims (listed, never dropped)."""
    matched = match(roster, standing)
    missing = [entry for entry, grading in matched.rows if grading is None or not grading.final]
    out.print(t("batch.roster", learners=len(matched.rows), missing=len(missing)), markup=False)
    if matched.unmatched:
        out.print(t("batch.unmatched", count=len(matched.unmatched), folders=", ".join(matched.unmatched)), markup=False)
