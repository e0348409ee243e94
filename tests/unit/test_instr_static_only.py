"""`python -m grader EXERCISE --static-only`: what runs where there is no engine (Gradescope, PrairieLearn)."""

from __future__ import annotations

import json
import subprocess
import sys

import docker.api.client
import pytest

from unit_helpers import NO_ENGINE, REPO_ROOT, SOLUTION, STARTER
from grader import cli
from grader.cli import grade as grade_command
from grader.grading import _uses_engine
from grader.i18n import set_language

PLATFORM_PAGES = ("gradescope", "prairielearn", "github-classroom", "canvas", "moodle", "plain-ci")


@pytest.fixture
def no_engine(monkeypatch):
    """Any attempt to make an engine client fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("--static-only tried to reach a Docker engine")

    monkeypatch.setattr(docker.api.client.APIClient, "__init__", refuse)
    monkeypatch.setattr(grade_command, "connect", refuse)
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)


def static_points(exercise) -> float:
    return sum(check.points for check in exercise.checks if not _uses_engine(check))


def test_solution_gets_full_static_marks_without_an_engine(tmp_path, exercise, no_engine, capsys):
    code = cli.main(["exercise-01", "--path", str(SOLUTION), "--static-only", "--json", str(tmp_path / "gs.json"),
                     "--prairielearn", str(tmp_path / "pl.json"), "--lang", "en"])
    out = capsys.readouterr().out
    assert code == 0
    maximum = static_points(exercise)
    assert 0 < maximum < exercise.max_score
    assert out.strip().splitlines()[-1] == f"Score: {maximum:g}/{maximum:g}"
    document = json.loads((tmp_path / "gs.json").read_text())
    assert document["score"] == maximum == sum(test["max_score"] for test in document["tests"])
    not_run = [test for test in document["tests"] if test["output"] == "not run: no Docker engine here"]
    assert {test["extra_data"]["check_id"] for test in not_run} == {c.id for c in exercise.checks if _uses_engine(c)}
    assert all(test["max_score"] == 0 for test in not_run)
    prairie = json.loads((tmp_path / "pl.json").read_text())
    assert prairie["gradable"] is True and prairie["score"] == 1.0


def test_starter_loses_static_points_and_exits_1_in_korean(tmp_path, no_engine, capsys):
    code = cli.main(["exercise-01", "--path", str(STARTER), "--static-only", "--json", str(tmp_path / "gs.json"), "--lang", "ko"])
    out = capsys.readouterr().out
    set_language(None)
    assert code == 1
    assert "실행하지 않음: 여기에는 Docker 엔진이 없습니다" in out
    document = json.loads((tmp_path / "gs.json").read_text())
    assert document["score"] < sum(test["max_score"] for test in document["tests"])


def test_static_only_as_a_process_with_no_engine_at_all(exercises):
    maximum = static_points(next(e for e in exercises if e.id == "exercise-06"))
    completed = subprocess.run(
        [sys.executable, "-m", "grader", "exercise-06", "--path", str(REPO_ROOT / "solutions" / "exercise-06"), "--static-only"],
        cwd=REPO_ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": NO_ENGINE, "LANG": "C.UTF-8"},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == f"Score: {maximum:g}/{maximum:g}"
    assert "not run: no Docker engine here" in completed.stdout


def test_every_platform_has_a_page_that_says_what_it_allows():
    folder = REPO_ROOT / "docs" / "platforms"
    for name in PLATFORM_PAGES:
        text = (folder / f"{name}.md").read_text()
        assert "What it allows" in text, name
    for name in ("gradescope", "prairielearn"):
        assert "--static-only" in (folder / f"{name}.md").read_text()
    assert "docs/platforms/" in (REPO_ROOT / "README.md").read_text()
