"""What every output format shares: the cohort a batch format renders, and the text helpers (points, labels, titles, cells).

The format modules import from here, never from each other or from the package, so that a format is
one module and one line in registry.py. Every text follows the current language (grader.i18n).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from grader.i18n import current_language, t
from grader.model import CheckResult, ExerciseSpec, Report, Status
from grader.rows import Grading, Pair

# A status's catalog key and its colour on a terminal.
SYMBOLS = {Status.PASSED: ("report.passed", "green"), Status.FAILED: ("report.failed", "red"), Status.BLOCKED: ("report.blocked", "yellow")}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Cohort:
    """What a batch's formats render: the exercise, each learner's current grading, alike Dockerfiles, and the LMS roster when given."""

    exercise: ExerciseSpec
    standing: dict[str, Grading]
    pairs: Sequence[Pair] = ()
    roster: Sequence[Any] | None = None  # lms.RosterEntry rows (--roster); None: no LMS files
    assignment: str | None = None  # the LMS grade column's title (--assignment)


def clean(text: str | None) -> str:
    """Text without the control characters XML, HTML and spreadsheets choke on (a container's log can hold any)."""
    return _CONTROL.sub("", text or "")


def cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula (a learner picks their folder name and their logs)."""
    text = clean(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def number(value: float | None) -> object:
    """10.0 -> 10, 2.5 -> 2.5, None -> '' (not gradable: no number at all)."""
    if value is None:
        return ""
    value = round(float(value), 3)
    return int(value) if value.is_integer() else value


def points(value: float) -> str:
    """10.0 -> '10', 2.5 -> '2.5'."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# Catalog keys written out whole, so that a search for a key finds every use of it.
STATE_KEYS = {
    "graded": "state.graded", "timed_out": "state.timed_out", "grader_error": "state.grader_error", "not_gradable": "state.not_gradable",
}
CSV_TITLE_KEYS = {
    "learner": "csv.learner", "exercise": "csv.exercise", "state": "csv.state", "score": "csv.score", "max_score": "csv.max_score",
    "percent": "csv.percent", "duration_s": "csv.duration_s", "graded_at": "csv.graded_at", "content_hash": "csv.content_hash",
    "grader_version": "csv.grader_version", "engine": "csv.engine", "message": "csv.message", "rank": "csv.rank",
    "learner_a": "csv.learner_a", "learner_b": "csv.learner_b", "identical": "csv.identical", "shared_lines": "csv.shared_lines",
    "lines_a": "csv.lines_a", "lines_b": "csv.lines_b", "rare_shared_lines": "csv.rare_shared_lines", "folder": "csv.folder",
}


def state_label(state: str) -> str:
    """`graded`, `timed out`... in the batch's language."""
    return t(STATE_KEYS[state])


def csv_title(name: str) -> str:
    """A fixed CSV column's title in the batch's language."""
    return t(CSV_TITLE_KEYS[name])


def status_label(status: Status) -> str:
    """PASS / FAIL / SKIP in the current language."""
    return t(SYMBOLS[status][0])


def title(result: CheckResult) -> str:
    """A check's title in the batch's language (labs.yaml's `title_<lang>`, kept in the gradebook)."""
    return result.spec.title_in(current_language())


def exercise_title(exercise: ExerciseSpec) -> str:
    """The exercise's title in the current language (labs.yaml `title_<lang>`), English otherwise."""
    return exercise.title_in(current_language())


def location_parts(location: str | None) -> tuple[str, int | None]:
    """`Dockerfile:6` -> ('Dockerfile', 6)."""
    if not location:
        return "", None
    name, _, line = location.rpartition(":")
    return (name, int(line)) if name and line.isdigit() else (location, None)


def score_line(report: Report) -> str:
    """The last line of every terminal report; the same in every language, because tools parse it."""
    return f"Score: {points(report.score)}/{points(report.max_score)}"


def result_text(result: CheckResult, with_hint: bool = True) -> str:
    """A check's feedback as plain text: where, what, and how to fix it."""
    text = f"{result.location}: {result.message}" if result.location else result.message
    hint = result.spec.report_hint(current_language())
    if with_hint and result.status is Status.FAILED and hint:
        text += "\n" + t("report.hint_line", hint=hint)
    return text


def hint_levels(exercise: ExerciseSpec, check_id: str) -> list[str]:
    """A check's hint ladder from labs.yaml (`hints:`), in the current language: a nudge first, the exact line last."""
    spec = next(check for check in exercise.checks if check.id == check_id)
    return list(spec.ladder_in(current_language())) or [t("report.see_feedback")]


def write_per_learner(out: Path, folder: str, cohort: Cohort, results: Callable[[Grading, ExerciseSpec], dict[str, Any]]) -> list[Path]:
    """FOLDER/LEARNER/results.json for every learner of the cohort, each the document RESULTS makes."""
    written = []
    for learner, grading in cohort.standing.items():
        path = out / folder / learner / "results.json"
        write_json(results(grading, cohort.exercise), path)
        written.append(path)
    return written


def write_json(document: dict[str, Any], path: Path) -> None:
    """Write a JSON document, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
