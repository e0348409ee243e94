"""exercise-02 on the real engine: layer-cache order and .dockerignore, with typical mistakes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.model import Status
from tests.integration.conftest import grade_folder, lost, result, statuses

pytestmark = pytest.mark.usefixtures("no_leftovers")

SECRET = "labkit-fake-secret-7f3a"


@pytest.fixture(scope="module")
def exercise02(exercise_spec):
    """The exercise-02 spec from the repository's labs.yaml."""
    return exercise_spec("exercise-02")


@pytest.fixture
def solution_copy(copy_solution):
    """An edited copy of the exercise-02 solution (an edit of .dockerignore returning None deletes it)."""

    def make(edit_dockerfile=None, edit_dockerignore=None) -> Path:
        return copy_solution("exercise-02", {"Dockerfile": edit_dockerfile, ".dockerignore": edit_dockerignore})

    return make


def code_before_install(text: str) -> str:
    """Exercise-01's order: the whole folder first, then the install."""
    text = re.sub(r"(?m)^COPY \. \.\n", "", text)
    return text.replace("COPY requirements.txt .\n", "COPY . .\n")


def test_solution_gets_full_marks_and_reports_both_build_times(exercise02, repo, engine):
    report = grade_folder(exercise02, repo / "solutions" / "exercise-02", engine)
    assert {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED} == {}
    assert report.score == report.max_score == 100
    assert report.facts["first_build_seconds"] > 0 and report.facts["rebuild_seconds"] > 0
    rebuild = result(report, "rebuild-uses-cache")
    assert "first build" in rebuild.message and "rebuild" in rebuild.message
    assert rebuild.location == "Dockerfile:9"  # the pip install line


def test_untouched_exercise_does_not_pass(exercise02, repo, engine):
    report = grade_folder(exercise02, repo / "exercises" / "exercise-02", engine)
    result_of = statuses(report)
    assert report.score == 15  # the given FROM and a build that succeeds; nothing of this exercise
    for check_id in ("no-todo", "deps-before-code", "rebuild-uses-cache", "planted-files-absent", "container-ready"):
        assert result_of[check_id] is Status.FAILED, check_id
    assert "/app/flask_api_v2.py" in result(report, "planted-files-absent").message


def test_code_copied_before_install_loses_the_cache_checks(exercise02, solution_copy, engine):
    folder = solution_copy(edit_dockerfile=code_before_install)
    copy_line = next(n for n, line in enumerate((folder / "Dockerfile").read_text().splitlines(), 1) if line == "COPY . .")
    report = grade_folder(exercise02, folder, engine)
    assert lost(report) == {"deps-before-code": 15, "rebuild-uses-cache": 20}, {r.spec.id: r.message for r in report.results}
    assert report.score == 65
    static = result(report, "deps-before-code")
    assert static.location == f"Dockerfile:{copy_line}" and "reinstall" in static.message
    rebuild = result(report, "rebuild-uses-cache")
    assert rebuild.location == f"Dockerfile:{copy_line}"
    assert "COPY . ." in rebuild.message and "ran `RUN pip install" in rebuild.message
    assert report.facts["rebuild_seconds"] > 0 and report.facts["first_build_seconds"] > 0


def test_no_dockerignore_leaks_every_planted_file(exercise02, solution_copy, engine):
    report = grade_folder(exercise02, solution_copy(edit_dockerignore=lambda text: None), engine)
    assert lost(report) == {"planted-files-absent": 20}
    assert report.score == 80
    leak = result(report, "planted-files-absent")
    assert "no .dockerignore" in leak.message
    for name in ("/app/.git", "/app/venv", "/app/__pycache__", "/app/.env"):
        assert name in leak.message


def test_dockerignore_without_env_names_env(exercise02, solution_copy, engine):
    without_env = lambda text: re.sub(r"(?m)^\*?\.env\n", "", text)  # noqa: E731
    report = grade_folder(exercise02, solution_copy(edit_dockerignore=without_env), engine)
    assert lost(report) == {"planted-files-absent": 20}
    leak = result(report, "planted-files-absent")
    assert leak.location == ".dockerignore"
    assert "`/app/.env`" in leak.message and ".dockerignore" in leak.message  # the path; the pattern is the learner's to write
    assert "/app/.git" not in leak.message


def test_secret_written_into_env_is_found(exercise02, solution_copy, engine):
    add_env = lambda text: text.replace("EXPOSE 5001", f"ENV API_TOKEN={SECRET}\nEXPOSE 5001")  # noqa: E731
    report = grade_folder(exercise02, solution_copy(edit_dockerfile=add_env), engine)
    assert lost(report) == {"planted-files-absent": 20}
    leak = result(report, "planted-files-absent")
    assert "Config.Env" in leak.message and SECRET not in leak.message
    assert re.fullmatch(r"Dockerfile:\d+", leak.location)
