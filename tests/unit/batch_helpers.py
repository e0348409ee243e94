"""Reports and gradings made up for the engine-free batch tests."""

from __future__ import annotations

from pathlib import Path

from grader.rows import GRADED, NOT_GRADABLE, Grading
from grader.model import CheckResult, ExerciseSpec, Report, Status


def report_of(exercise: ExerciseSpec, failing: dict[str, Status] | None = None, folder: Path = Path("/nowhere"), message: str = "ok") -> Report:
    """A report where every check passed except those in FAILING (check id -> status)."""
    failing = failing or {}
    results = [
        CheckResult(check, failing.get(check.id, Status.PASSED), message if check.id not in failing else f"{check.id} went wrong",
                    "Dockerfile:3" if check.id in failing else None, "detail text" if check.id in failing else "", 0.25)
        for check in exercise.checks
    ]
    return Report(exercise, folder, results, 3.5, {"base_image_id": "sha256:base", "image_mb": 466.3})


def grading_of(exercise: ExerciseSpec, learner: str, failing: dict[str, Status] | None = None, state: str = GRADED, **fields) -> Grading:
    """A gradebook row for LEARNER."""
    report = None if state == NOT_GRADABLE else report_of(exercise, failing)
    defaults = dict(content_hash="h-" + learner, grader_version="v1", engine="unix:///e1.sock", engine_version="20.10", duration=3.5)
    return Grading(learner, exercise.id, state, report, **{**defaults, **fields})
