"""exercise-03 on the real engine: gunicorn as PID 1, non-root, a health check, quick stops; typical mistakes."""

from __future__ import annotations

import re

import pytest

from grader.model import Status
from tests.integration.conftest import grade_folder, statuses
from tests.integration.conftest import lost, result

pytestmark = pytest.mark.usefixtures("no_leftovers")

GUNICORN_CMD = 'CMD ["gunicorn", "--bind", "0.0.0.0:5001", "--workers", "2", "flask_api_v2:app"]'


@pytest.fixture(scope="module")
def exercise03(exercise_spec):
    """The exercise-03 spec from the repository's labs.yaml."""
    return exercise_spec("exercise-03")


@pytest.fixture
def with_dockerfile(copy_solution):
    """A copy of the exercise-03 solution with its Dockerfile edited (or replaced)."""
    return lambda edit: copy_solution("exercise-03", {"Dockerfile": edit})


def test_solution_gets_full_marks_and_stops_fast(exercise03, repo, engine):
    report = grade_folder(exercise03, repo / "solutions" / "exercise-03", engine)
    assert {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED} == {}
    assert report.score == report.max_score == 100
    assert report.facts["stop_seconds"] < 3
    assert "gunicorn" in result(report, "gunicorn-pid1").message


def test_untouched_exercise_does_not_pass(exercise03, repo, engine):
    report = grade_folder(exercise03, repo / "exercises" / "exercise-03", engine)
    assert report.score == 15  # the given FROM, and it builds: nothing of this exercise yet
    result_of = statuses(report)
    for check_id in ("no-todo", "non-root-user", "healthcheck-healthy", "container-ready", "gunicorn-pid1", "stops-quickly"):
        assert result_of[check_id] is Status.FAILED, check_id


# Each mistake: the edit that makes it, and exactly the checks (and so the points) it must cost.
MISTAKES = {
    "runs-as-root": (
        lambda text: re.sub(r"(?m)^(RUN useradd .*|USER appuser)\n", "", text),
        {"non-root-user": 10},
    ),
    "curl-healthcheck": (
        lambda text: text.replace('CMD ["python", "healthcheck.py"]', "CMD curl -f http://127.0.0.1:5001/health || exit 1"),
        {"healthcheck-healthy": 15},
    ),
    "shell-form-gunicorn": (
        lambda text: text.replace(GUNICORN_CMD, "CMD gunicorn --bind 0.0.0.0:5001 --workers 2 flask_api_v2:app"),
        {"gunicorn-pid1": 10, "stops-quickly": 10},
    ),
    "flask-dev-server": (
        lambda text: text.replace(GUNICORN_CMD, 'CMD ["python", "flask_api_v2.py"]'),
        {"gunicorn-pid1": 10, "no-dev-server": 5, "stops-quickly": 10},
    ),
    "buffered-logs": (
        lambda text: re.sub(r"(?m)^ENV PYTHONUNBUFFERED=1\n", "", text),
        {"unbuffered-logs": 5},
    ),
}

# What the feedback of the first lost check must say, so the learner knows what to change.
EXPLAINED = {
    "runs-as-root": ("non-root-user", "no USER"),
    "curl-healthcheck": ("healthcheck-healthy", "`curl`"),
    "shell-form-gunicorn": ("gunicorn-pid1", "shell form"),
    "flask-dev-server": ("no-dev-server", "development server"),
    "buffered-logs": ("unbuffered-logs", "PYTHONUNBUFFERED"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_mistake_loses_exactly_its_points(mistake, exercise03, with_dockerfile, engine):
    edit, expected_lost = MISTAKES[mistake]
    report = grade_folder(exercise03, with_dockerfile(edit), engine)
    assert lost(report) == expected_lost, {r.spec.id: r.message for r in report.results}
    assert report.score == 100 - sum(expected_lost.values())
    check_id, words = EXPLAINED[mistake]
    feedback = result(report, check_id)
    assert words in feedback.message and re.fullmatch(r"Dockerfile:\d+", feedback.location or ""), feedback
    if "stops-quickly" in expected_lost:
        assert report.facts["stop_seconds"] >= 3
        assert "SIGTERM" in result(report, "stops-quickly").message
