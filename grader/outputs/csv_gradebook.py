"""gradebook.csv: one row per learner, one column per check (points earned), for a spreadsheet or an LMS import."""

from __future__ import annotations

import csv
from pathlib import Path

from grader.model import ExerciseSpec
from grader.outputs.common import Cohort, cell, csv_title, number, state_label
from grader.rows import Grading

FILENAME = "gradebook.csv"
FIXED = ["learner", "exercise", "state", "score", "max_score", "percent"]
TRAILING = ["duration_s", "graded_at", "content_hash", "grader_version", "engine", "message"]


def rows(exercise: ExerciseSpec, standing: dict[str, Grading]) -> tuple[list[str], list[dict[str, object]]]:
    """(header, rows): a not-gradable learner has empty scores, never zeros."""
    check_ids = [check.id for check in exercise.checks]
    header = FIXED + check_ids + TRAILING
    table = []
    for learner, grading in sorted(standing.items()):
        earned = {r.spec.id: r.score for r in grading.report.results} if grading.final and grading.report else {}
        score, maximum = grading.score, grading.max_score or exercise.max_score
        row: dict[str, object] = {
            "learner": cell(learner), "exercise": grading.exercise, "state": state_label(grading.state),
            "score": number(score), "max_score": number(maximum),
            "percent": "" if score is None or not maximum else round(100 * score / maximum, 1),
            "duration_s": round(grading.duration, 1), "graded_at": grading.finished_at, "content_hash": grading.content_hash,
            "grader_version": grading.grader_version, "engine": grading.engine, "message": cell(grading.message),
        }
        for check_id in check_ids:
            row[check_id] = number(earned.get(check_id))
        table.append(row)
    return header, table


def write(out: Path, cohort: Cohort) -> list[Path]:
    """Write gradebook.csv."""
    path = out / FILENAME
    header, table = rows(cohort.exercise, cohort.standing)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        # Column titles in the batch's language (check columns keep their ids, which never change).
        writer.writerow({name: csv_title(name) if name in FIXED + TRAILING else name for name in header})
        writer.writerows(table)
    return [path]
