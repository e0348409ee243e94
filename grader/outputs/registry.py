"""The batch's output formats: one module each, one entry each in FORMATS, written in this order.

Every writer takes the output folder and the `Cohort` (each learner's current grading, read back from
the gradebook) and returns the files it wrote. Adding a format is a module with a `write(out, cohort)`
and a line here; the single grading's terminal report (terminal.py) and its `--json` and
`--prairielearn` files are the grade command's, which names them itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from grader.model import ExerciseSpec
from grader.outputs import csv_gradebook, github_classroom, gradescope, html_report, junit, lms, prairielearn, similarity_csv
from grader.outputs.common import Cohort
from grader.rows import Grading

Writer = Callable[[Path, Cohort], list[Path]]

FORMATS: dict[str, Writer] = {
    "gradebook-csv": csv_gradebook.write,  # gradebook.csv
    "gradescope": gradescope.write,  # gradescope/LEARNER/results.json
    "prairielearn": prairielearn.write,  # prairielearn/LEARNER/results.json
    "github-classroom": github_classroom.write,  # github-classroom/LEARNER/results.json
    "junit": junit.write,  # junit.xml
    "similarity-csv": similarity_csv.write,  # similarity.csv
    "html": html_report.write,  # report.html
    "lms": lms.write,  # canvas.csv, moodle.csv, unmatched.csv (with a roster only)
}


def write_all(
    out: Path, exercise: ExerciseSpec, standing: dict[str, Grading], pairs: Iterable = (), roster: list | None = None,
    assignment: str | None = None,
) -> list[Path]:
    """Write every format into OUT from each learner's current grading (with a ROSTER, the LMS CSVs too); returns the files written."""
    cohort = Cohort(exercise, standing, tuple(pairs), roster, assignment)
    written: list[Path] = []
    for write in FORMATS.values():
        written += write(Path(out), cohort)
    return written
