"""Grading where there is no Docker engine (Gradescope's and PrairieLearn's graders): the checks that
only read files, with the others listed as not run and worth nothing, so the maximum is the static points.

Nothing here connects to an engine: it runs `grading.static_report`, which runs no check that uses one.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from grader.grading import static_report
from grader.i18n import t
from grader.model import CheckResult, ExerciseSpec, Report, Status


def not_run(spec) -> CheckResult:
    """A check that needs an engine, listed with 0 of 0 points and the reason."""
    return CheckResult(dataclasses.replace(spec, points=0.0), Status.BLOCKED, t("static_only.not_run"))


def static_grading(exercise: ExerciseSpec, submission: Path) -> Report:
    """The static checks' results and every other check as not run, in labs.yaml's order; max = static points."""
    started = time.monotonic()
    report, _ = static_report(exercise, submission)
    ran = {result.spec.id: result for result in report.results}
    results = [ran.get(spec.id) or not_run(spec) for spec in exercise.checks]
    narrowed = dataclasses.replace(exercise, checks=tuple(result.spec for result in results))
    facts = {"static_only": True, "not_run": sum(1 for spec in exercise.checks if spec.id not in ran)}
    return Report(narrowed, submission, results, time.monotonic() - started, facts)
