"""GitHub Classroom autograding runner JSON (what `autograding-grading-reporter` reads, base64-encoded, from a step output)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from grader.i18n import t
from grader.model import ExerciseSpec, Status
from grader.outputs.common import Cohort, location_parts, result_text, title, write_per_learner
from grader.rows import Grading

FOLDER = "github-classroom"


def results(grading: Grading, exercise: ExerciseSpec) -> dict[str, Any]:
    """`{version: 1, status, max_score, tests[]}`; the reporter prints `Points X/Y` from the tests' scores."""
    if not grading.final or grading.report is None:
        return {
            "version": 1, "status": "error", "max_score": exercise.max_score,
            "tests": [{"name": "grading", "status": "error", "score": 0, "message": t("outputs.not_graded", message=grading.message),
                       "test_code": "", "filename": "", "line_no": 0, "duration": 0}],
        }
    report = grading.report
    tests = []
    for result in report.results:
        filename, line = location_parts(result.location)
        tests.append({
            "name": title(result),
            "status": "pass" if result.status is Status.PASSED else "fail",
            "score": result.score,
            "message": result_text(result)[:4000],
            "test_code": f"{result.spec.kind} ({result.spec.id})",
            "filename": filename,
            "line_no": line or 0,
            "duration": int(result.duration * 1000),
        })
    return {"version": 1, "status": "pass" if report.full_marks else "fail", "max_score": report.max_score, "tests": tests}


def encoded(document: dict[str, Any]) -> str:
    """The base64 a workflow step puts in its `result` output."""
    return base64.b64encode(json.dumps(document).encode()).decode()


def write(out: Path, cohort: Cohort) -> list[Path]:
    """github-classroom/LEARNER/results.json for every learner (a not-gradable one is an error)."""
    return write_per_learner(out, FOLDER, cohort, results)
