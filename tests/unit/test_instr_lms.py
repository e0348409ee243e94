"""canvas.csv and moodle.csv through a roster: the importers' columns, empty grades, no folder dropped."""

from __future__ import annotations

import csv

import pytest

from batch_helpers import grading_of
from grader.cli.batch import parser
from grader.rows import NOT_GRADABLE
from grader.model import Status
from grader.outputs.registry import write_all
from grader.outputs.lms import CANVAS_IDENTITY, RosterError, load_roster

CANVAS_EXPORT = """\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Lab 1 (1234),folder
    Points Possible,,,,,100,
"Kim, Minji",101,s101,minji,A,,minji-kim
"Lee, Jun",102,s102,jun,A,,jun-lee
"Park, Sora",103,s103,sora,B,,sora-park
"""


@pytest.fixture
def standing(exercise):
    return {
        "minji-kim": grading_of(exercise, "minji-kim", {"expose-port": Status.FAILED}),
        "jun-lee": grading_of(exercise, "jun-lee", state=NOT_GRADABLE, message="engine gone"),
        "=stranger": grading_of(exercise, "=stranger"),  # in no roster row; a name a spreadsheet would run
    }


def read(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_canvas_and_moodle_files_from_a_canvas_export(tmp_path, exercise, standing):
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(CANVAS_EXPORT, encoding="utf-8")
    roster = load_roster(roster_file)
    assert [entry.get("Student") for entry in roster] == ["Kim, Minji", "Lee, Jun", "Park, Sora"]
    write_all(tmp_path / "out", exercise, standing, roster=roster, assignment="Lab 1 (1234)")
    canvas = read(tmp_path / "out" / "canvas.csv")
    assert canvas[0] == CANVAS_IDENTITY + ["Lab 1 (1234)"]
    rows = {row[0]: row for row in canvas[1:]}
    lost = next(c.points for c in exercise.checks if c.id == "expose-port")
    assert rows["Kim, Minji"] == ["Kim, Minji", "101", "s101", "minji", "A", f"{exercise.max_score - lost:g}"]
    assert rows["Lee, Jun"][-1] == ""  # not gradable: empty, never 0
    assert rows["Park, Sora"][-1] == ""  # no submission: empty
    moodle = read(tmp_path / "out" / "moodle.csv")
    assert moodle[0] == ["username", "email", "idnumber", "Lab 1 (1234)"]
    unmatched = read(tmp_path / "out" / "unmatched.csv")
    assert unmatched[1][0] == "'=stranger" and unmatched[1][1] == f"{exercise.max_score:g}"


def test_moodle_export_matched_by_username_without_a_folder_column(tmp_path, exercise, standing):
    roster_file = tmp_path / "participants.csv"
    roster_file.write_text(
        "First name,Last name,Username,Email address,ID number\n"
        "Minji,Kim,minji-kim,minji@uni.kr,2026001\n"
        "Jun,Lee,JUN-LEE,jun@uni.kr,2026002\n"
    )
    write_all(tmp_path, exercise, standing, roster=load_roster(roster_file))
    moodle = read(tmp_path / "moodle.csv")
    assert moodle[0] == ["username", "email", "idnumber", "exercise-01 (exercise-01)"]
    assert moodle[1][:3] == ["minji-kim", "minji@uni.kr", "2026001"] and moodle[1][3] != ""
    assert moodle[2][0] == "JUN-LEE" and moodle[2][3] == ""  # matched case-insensitively, not gradable
    assert [row[0] for row in read(tmp_path / "unmatched.csv")[1:]] == ["'=stranger"]


def test_a_roster_that_identifies_nobody_is_refused(tmp_path):
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text("name,grade\nMinji,\n")
    with pytest.raises(RosterError, match="folder"):
        load_roster(roster_file)


def test_batch_takes_a_roster_and_an_assignment_title():
    args = parser().parse_args(["exercise-01", "subs", "--out", "o", "--roster", "r.csv", "--assignment", "Lab 1 (9)"])
    assert str(args.roster) == "r.csv" and args.assignment == "Lab 1 (9)"
