"""Renderers for a batch: every output reads the same gradebook rows (`Grading`, holding the one `Report`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from grader.rows import Grading
from grader.model import ExerciseSpec

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str | None) -> str:
    """Text without the control characters XML, HTML and spreadsheets choke on (a container's log can hold any)."""
    return _CONTROL.sub("", text or "")


def state_label(state: str) -> str:
    """`graded`, `timed out`... in the batch's language."""
    from grader.i18n import t

    return t(f"state.{state}")


def title(result) -> str:
    """A check's title in the batch's language (labs.yaml's `title_<lang>`, kept in the gradebook)."""
    from grader.i18n import current_language

    return result.spec.title_in(current_language())


def location_parts(location: str | None) -> tuple[str, int | None]:
    """`Dockerfile:6` -> ('Dockerfile', 6)."""
    if not location:
        return "", None
    name, _, line = location.rpartition(":")
    return (name, int(line)) if name and line.isdigit() else (location, None)


def write_all(
    out: Path, exercise: ExerciseSpec, standing: dict[str, Grading], pairs: Iterable = (), roster: list | None = None,
    assignment: str | None = None,
) -> list[Path]:
    """Write every format into OUT from each learner's current grading (with a ROSTER, the LMS CSVs too); returns the files written."""
    from grader.outputs import csv_gradebook, github_classroom, html_report, junit, prairielearn, similarity_csv
    from grader.report import gradescope, write_json

    out = Path(out)
    pairs = list(pairs)
    written = [csv_gradebook.write(out / "gradebook.csv", exercise, standing)]
    for learner, grading in standing.items():
        if grading.final and grading.report is not None:  # Gradescope has no "not gradable": no file, not a 0
            path = out / "gradescope" / learner / "results.json"
            write_json(gradescope(grading.report), path)
            written.append(path)
        for folder, render in (("prairielearn", prairielearn.results), ("github-classroom", github_classroom.results)):
            path = out / folder / learner / "results.json"
            write_json(render(grading, exercise), path)
            written.append(path)
    written.append(junit.write(out / "junit.xml", exercise, standing))
    written.append(similarity_csv.write(out / "similarity.csv", pairs))
    written.append(html_report.write(out / "report.html", exercise, standing, pairs))
    if roster is not None:
        from grader.outputs import lms

        written += lms.write_all(out, exercise, standing, roster, assignment)[0]
    return written
