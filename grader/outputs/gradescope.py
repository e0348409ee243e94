"""Gradescope's results.json: one per grading (`--json FILE`), and one per graded learner in a batch (gradescope/LEARNER/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader import __version__
from grader.i18n import current_language
from grader.model import Report, Status
from grader.outputs.common import Cohort, result_text, score_line, write_json

FOLDER = "gradescope"
MAX_TEST_OUTPUT = 8_000  # characters per check in JSON outputs
MAX_TOTAL_OUTPUT = 200_000  # Gradescope and PrairieLearn choke on huge results


def _bounded(text: str, limit: int = MAX_TEST_OUTPUT) -> str:
    return text if len(text) <= limit else text[: limit - 40] + "\n… (cut: output too long)"


def gradescope(report: Report) -> dict[str, Any]:
    """The report as Gradescope's results.json."""
    tests = []
    for number, result in enumerate(report.results, start=1):
        output = result_text(result)
        if result.detail and result.status is not Status.PASSED:
            output += "\n\n" + result.detail
        tests.append(
            {
                "name": result.spec.title_in(current_language()),
                "number": str(number),
                "score": result.score,
                "max_score": result.max_score,
                "status": "passed" if result.status is Status.PASSED else "failed",
                "output": _bounded(output),
                "tags": [result.spec.id, result.spec.kind],
                "extra_data": {"check_id": result.spec.id, "outcome": result.status.value, "location": result.location},
            }
        )
    document = {
        "score": report.score,
        "execution_time": round(report.duration, 2),
        "output": f"{report.exercise.id}: {score_line(report)}",
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "tests": tests,
        "extra_data": {"grader_version": __version__, "exercise": report.exercise.id, "facts": report.facts, "provenance": report.provenance},
    }
    # Keep the whole file bounded even with many long outputs.
    while len(json.dumps(document)) > MAX_TOTAL_OUTPUT and any(len(t["output"]) > 500 for t in tests):
        longest = max(tests, key=lambda t: len(t["output"]))
        longest["output"] = _bounded(longest["output"], len(longest["output"]) // 2)
    return document


def write(out: Path, cohort: Cohort) -> list[Path]:
    """gradescope/LEARNER/results.json for each learner with a result; Gradescope has no "not gradable": no file, not a 0."""
    written = []
    for learner, grading in cohort.standing.items():
        if grading.final and grading.report is not None:
            path = out / FOLDER / learner / "results.json"
            write_json(gradescope(grading.report), path)
            written.append(path)
    return written
