"""canvas.csv and moodle.csv: the class's scores in the columns each LMS's grade import reads, via a roster.

The roster maps submission folders to LMS identities. It is a CSV: a Canvas gradebook export, a
Moodle participants export, or a sheet of one's own, with a `folder` column naming each learner's
submission folder (without one, a folder is matched to the SIS login, username, email, ID or ID number).
A learner in the roster without a result gets an empty cell (the LMS leaves the grade alone), never
a 0; a folder in no roster row is listed in unmatched.csv, never dropped. The importers' column
names are theirs and stay as they are in every language.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.i18n import t
from grader.model import ExerciseSpec
from grader.outputs.common import Cohort, cell, number, state_label
from grader.rows import Grading

CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_IDENTITY = ["username", "email", "idnumber"]
# Header spellings of the exports (lower case, without spaces and underscores) -> the roster's field.
ALIASES = {
    "folder": "folder", "submission": "folder", "githubusername": "folder", "github": "folder",
    "student": "Student", "id": "ID", "sisuserid": "SIS User ID", "sisloginid": "SIS Login ID", "section": "Section",
    "username": "username", "emailaddress": "email", "email": "email", "idnumber": "idnumber",
}
# Fields a folder name is matched against when the roster has no `folder` column, most specific first.
MATCH_ORDER = ("SIS Login ID", "username", "email", "ID", "idnumber", "SIS User ID")


class RosterError(ValueError):
    """The roster cannot be read or identifies nobody."""


@dataclass
class RosterEntry:
    """One learner as the LMS knows them."""

    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        """A field's value, '' when the roster has none."""
        return self.fields.get(name, "")

    def keys(self) -> list[str]:
        """The values a folder name may be matched against (email also by its local part)."""
        if self.get("folder"):
            return [self.get("folder")]
        keys = [self.get(name) for name in MATCH_ORDER if self.get(name)]
        if "@" in self.get("email"):
            keys.append(self.get("email").split("@")[0])
        return keys


def _normal(header: str) -> str:
    return re.sub(r"[\s_]+", "", header.strip().lstrip("\ufeff")).lower()


def load_roster(path: Path) -> list[RosterEntry]:
    """The learners of a roster CSV (Canvas's "Points Possible" row and blank rows skipped)."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = {name: ALIASES[_normal(name)] for name in reader.fieldnames or [] if _normal(name) in ALIASES}
            entries = []
            for row in reader:
                values = {fields[name]: (row.get(name) or "").strip() for name in fields}
                if "points possible" in values.get("Student", "").lower() or not any(values.values()):
                    continue
                entries.append(RosterEntry(values))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RosterError(f"cannot read the roster {path}: {error}") from None
    if not fields or not any(entry.keys() for entry in entries):
        raise RosterError(
            f"the roster {path} has no column that identifies a learner: give it a `folder` column, or one of "
            + ", ".join(MATCH_ORDER)
        )
    return entries


@dataclass
class Matched:
    """Roster entries with their grading (None: no submission), and the folders no entry claims."""

    rows: list[tuple[RosterEntry, Grading | None]]
    unmatched: list[str]


def match(roster: list[RosterEntry], standing: dict[str, Grading]) -> Matched:
    """Each roster entry's grading, by folder name (exact, then case-insensitive)."""
    by_lower = {learner.lower(): learner for learner in standing}
    claimed: set[str] = set()
    rows = []
    for entry in roster:
        learner = next((key for key in entry.keys() if key in standing), None)
        if learner is None:
            learner = next((by_lower[key.lower()] for key in entry.keys() if key.lower() in by_lower), None)
        if learner is not None:
            claimed.add(learner)
        rows.append((entry, standing.get(learner) if learner else None))
    return Matched(rows, sorted(set(standing) - claimed))


def grade_cell(grading: Grading | None) -> object:
    """The points earned, or '' when there is no result (no submission, not gradable)."""
    return "" if grading is None or not grading.final else number(grading.score)


def assignment_title(exercise: ExerciseSpec, assignment: str | None) -> str:
    """The grade column's title: what --assignment says, else `exercise-01 (exercise-01)` (Canvas's `name (id)` form)."""
    return assignment or f"{exercise.id} ({exercise.id})"


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write(out: Path, cohort: Cohort) -> list[Path]:
    """canvas.csv, moodle.csv and unmatched.csv in OUT when the batch has a roster (none without one)."""
    if cohort.roster is None:
        return []
    standing = cohort.standing
    matched = match(list(cohort.roster), standing)
    title = assignment_title(cohort.exercise, cohort.assignment)
    canvas = [[cell(entry.get(name)) for name in CANVAS_IDENTITY] + [grade_cell(grading)] for entry, grading in matched.rows]
    moodle = [[cell(entry.get(name)) for name in MOODLE_IDENTITY] + [grade_cell(grading)] for entry, grading in matched.rows]
    unmatched = [
        [cell(learner), grade_cell(standing[learner]), state_label(standing[learner].state)]
        for learner in matched.unmatched
    ]
    written = [
        _write(Path(out) / "canvas.csv", CANVAS_IDENTITY + [title], canvas),
        _write(Path(out) / "moodle.csv", MOODLE_IDENTITY + [title], moodle),
        _write(Path(out) / "unmatched.csv", [t("csv.folder"), t("csv.score"), t("csv.state")], unmatched),
    ]
    return written
