"""A batch in Korean: every class-wide output (report.html and its lang, CSV titles, LMS JSON, JUnit) in the batch's language."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from batch_helpers import grading_of
from unit_helpers import REPO_ROOT
from grader.cli.batch import parser
from grader.gradebook import Gradebook
from grader.rows import NOT_GRADABLE
from grader.i18n import set_language
from grader.model import Status
from grader.outputs.registry import write_all


@pytest.fixture
def korean():
    set_language("ko")
    yield
    set_language(None)


@pytest.fixture
def standing(tmp_path, exercise):
    """Gradings as a batch stores them: through the gradebook, so what survives the round trip is tested."""
    book = Gradebook.in_folder(tmp_path / "book")
    for grading in (grading_of(exercise, "minji", {"expose-port": Status.FAILED}), grading_of(exercise, "jun", state=NOT_GRADABLE, message="x")):
        book.record(grading)
    current = book.current(exercise.id)
    book.close()
    return current


def test_every_output_speaks_the_batch_language(tmp_path, exercise, standing, korean):
    check = next(c for c in exercise.checks if c.id == "expose-port")
    korean_title = check.title_in("ko")
    assert korean_title != check.title
    write_all(tmp_path, exercise, standing)
    html = (tmp_path / "report.html").read_text()
    assert '<html lang="ko">' in html and korean_title in html and "요약" in html and "Summary" not in html
    assert exercise.title_in("ko") in html
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert korean_title in {case.get("name") for case in suite.iter("testcase")}
    for folder in ("prairielearn", "github-classroom", "gradescope"):
        document = json.loads((tmp_path / folder / "minji" / "results.json").read_text())
        assert korean_title in {test["name"] for test in document["tests"]}, folder
    not_graded = json.loads((tmp_path / "prairielearn" / "jun" / "results.json").read_text())
    assert not_graded["message"].startswith("채점하지 못함")
    with (tmp_path / "gradebook.csv").open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header[:4] == ["학습자", "실습", "상태", "점수"] and "expose-port" in header
    assert {row[2] for row in rows} == {"채점됨", "채점 불가"}
    feedback_hint = check.hint_in("ko")
    assert feedback_hint and feedback_hint in html  # the failed check's hint, in Korean


def test_english_outputs_keep_their_columns(tmp_path, exercise, standing):
    set_language("en")
    try:
        write_all(tmp_path, exercise, standing)
    finally:
        set_language(None)
    assert '<html lang="en">' in (tmp_path / "report.html").read_text()
    with (tmp_path / "gradebook.csv").open(newline="") as handle:
        assert next(csv.reader(handle))[:6] == ["learner", "exercise", "state", "score", "max_score", "percent"]


def test_batch_and_clean_take_a_language():
    assert parser().parse_args(["exercise-01", "s", "--out", "o", "--lang", "ko"]).lang == "ko"
    with pytest.raises(SystemExit):
        parser().parse_args(["exercise-01", "s", "--out", "o", "--lang", "xx"])
    completed = subprocess.run([sys.executable, "-m", "grader", "clean", "--help", "--lang", "ko"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert completed.returncode == 0 and "--lang" in completed.stdout and "컨테이너" in completed.stdout


def test_labkit_lang_is_documented():
    assert "LABKIT_LANG" in (REPO_ROOT / "docs" / "instructors.md").read_text()
    assert "LABKIT_LANG" in (REPO_ROOT / "README.md").read_text()


def test_batch_terminal_lines_follow_the_language(exercise, korean):
    from grader.cli.batch import line_of

    line = line_of(grading_of(exercise, "jun", state=NOT_GRADABLE, message="engine gone"), retrying=True)
    assert line.startswith("jun: 채점 불가 (다른 엔진에서 다시 시도)")
