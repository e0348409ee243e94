"""PrairieLearn external grading results.json (`/grade/results/results.json`, at most 1 MB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.i18n import t
from grader.model import ExerciseSpec, Status
from grader.outputs.common import Cohort, result_text, score_line, status_label, title, write_per_learner
from grader.rows import Grading

FOLDER = "prairielearn"
MAX_BYTES = 1_000_000
MAX_TEST_TEXT = 8_000


def _cut(text: str, limit: int = MAX_TEST_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 30] + "\n… (cut: too long)"


def results(grading: Grading, exercise: ExerciseSpec) -> dict[str, Any]:
    """The grading as PrairieLearn reads it; infrastructure failures are `gradable: false`, not a 0."""
    if not grading.final or grading.report is None:
        return {
            "gradable": False,
            "score": 0.0,
            "message": t("outputs.not_graded", message=grading.message),
            "format_errors": [grading.message or t("outputs.not_gradable_default")],
            "tests": [],
        }
    report = grading.report
    tests = []
    for result in report.results:
        tests.append({
            "name": title(result),
            "description": f"{result.spec.id} ({status_label(result.status)})",
            "points": result.score,
            "max_points": result.max_score,
            "message": _cut(result_text(result)),
            "output": _cut(result.detail) if result.status is not Status.PASSED else "",
        })
    message = score_line(report) + (f" — {grading.message}" if grading.message else "")
    document = {
        "gradable": True,
        "score": round(report.score / report.max_score, 6) if report.max_score else 1.0,
        "message": message,
        "output": "\n".join(f"{status_label(r.status):7} {title(r)}" for r in report.results),
        "tests": tests,
    }
    while len(json.dumps(document).encode()) > MAX_BYTES and any(t["output"] or len(t["message"]) > 200 for t in tests):
        for test in tests:
            test["output"] = ""
            test["message"] = _cut(test["message"], max(200, len(test["message"]) // 2))
    return document


def write(out: Path, cohort: Cohort) -> list[Path]:
    """prairielearn/LEARNER/results.json for every learner (a not-gradable one says so)."""
    return write_per_learner(out, FOLDER, cohort, results)
