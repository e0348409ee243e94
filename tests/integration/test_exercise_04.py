"""exercise-04 on the real engine: a multi-stage build that trains in the builder; typical mistakes."""

from __future__ import annotations


import pytest

from grader.model import Status
from tests.integration.conftest import grade_folder, lost, result, statuses

pytestmark = pytest.mark.usefixtures("no_leftovers")

MODEL_COPY = "COPY --from=builder /app/iris_binary_model.pkl ."
BUILDER_INSTALL = "RUN pip install --no-cache-dir -r requirements.txt\n\n# Training"

SINGLE_STAGE = """\
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN python train.py
EXPOSE 5001
CMD ["python", "flask_api_v2.py"]
"""


@pytest.fixture(scope="module")
def exercise04(exercise_spec):
    """The exercise-04 spec from the repository's labs.yaml."""
    return exercise_spec("exercise-04")


@pytest.fixture
def with_dockerfile(copy_solution):
    """A copy of the exercise-04 solution with its Dockerfile edited (or replaced)."""
    return lambda edit: copy_solution("exercise-04", {"Dockerfile": edit})


def test_solution_gets_full_marks(exercise04, repo, engine):
    report = grade_folder(exercise04, repo / "solutions" / "exercise-04", engine)
    assert {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED} == {}
    assert report.score == report.max_score == 100
    # Both numbers of the size comparison are reported, and the exercise-01 solution was built for it.
    size = result(report, "size-vs-single-stage").message
    assert "solutions/exercise-01" in size and "(built)" in size
    assert report.facts["added_mb"] <= 1.05 * report.facts["reference_added_mb"]
    assert report.facts["efficiency_percent"] >= 99.9
    print(
        f"\nexercise-04 solution: adds {report.facts['added_mb']} MB over its base; "
        f"exercise-01 solution adds {report.facts['reference_added_mb']} MB; "
        f"efficiency {report.facts['efficiency_percent']} %, wasted {report.facts['wasted_mb']} MB"
    )


def test_untouched_exercise_does_not_pass(exercise04, repo, engine):
    report = grade_folder(exercise04, repo / "exercises" / "exercise-04", engine)
    result_of = statuses(report)
    assert report.score < 10
    assert result_of["no-todo"] is Status.FAILED
    assert result_of["multi-stage"] is Status.FAILED
    assert result_of["build"] is Status.FAILED
    assert result_of["model-loads-strict"] is Status.BLOCKED


def _names_versions_and_builder_line(report, folder):
    strict = result(report, "model-loads-strict")
    assert "1.7.2" in strict.message and "1.9.1" in strict.message
    lines = (folder / "Dockerfile").read_text().splitlines()
    assert strict.location == f"Dockerfile:{lines.index('RUN pip install --no-cache-dir scikit-learn==1.7.2') + 1}"


def _names_the_copy(report, folder):
    absent = result(report, "training-files-absent")
    assert "/app/train.py" in absent.message
    lines = (folder / "Dockerfile").read_text().splitlines()
    assert absent.location == f"Dockerfile:{lines.index('COPY --from=builder /app .') + 1}"


def _reports_the_waste(report, folder):
    assert report.facts["efficiency_percent"] < 95
    assert "python3.11" in result(report, "layer-efficiency").message


# Each mistake: how to make it, exactly the checks (and so the points) it must cost, and
# optionally more to assert about the feedback.
MISTAKES = {
    # Trains in the one and only stage: train.py ships with the image.
    "single-stage": (
        lambda text: SINGLE_STAGE,
        {"multi-stage": 15, "training-files-absent": 15},
        None,
    ),
    # The runtime copies the builder's whole folder instead of the model alone.
    "copies-whole-builder-folder": (
        lambda text: text.replace(MODEL_COPY, "COPY --from=builder /app ."),
        {"training-files-absent": 15},
        _names_the_copy,
    ),
    # The builder trains with another scikit-learn than the one the runtime serves with.
    "builder-trains-with-other-sklearn": (
        lambda text: text.replace(
            BUILDER_INSTALL,
            "RUN pip install --no-cache-dir -r requirements.txt\nRUN pip install --no-cache-dir scikit-learn==1.7.2\n\n# Training",
        ),
        {"model-loads-strict": 10},
        _names_versions_and_builder_line,
    ),
    # Copies the builder's packages over the ones the runtime already installed: two copies of each file.
    "packages-twice": (
        lambda text: text.replace(MODEL_COPY, MODEL_COPY + "\nCOPY --from=builder /usr/local/lib/python3.11 /usr/local/lib/python3.11"),
        {"size-vs-single-stage": 10, "layer-efficiency": 5},
        _reports_the_waste,
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_mistake_loses_exactly_its_points(mistake, exercise04, with_dockerfile, engine):
    edit, expected_lost, more = MISTAKES[mistake]
    folder = with_dockerfile(edit)
    report = grade_folder(exercise04, folder, engine)
    assert lost(report) == expected_lost, {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED}
    assert report.score == 100 - sum(expected_lost.values())
    if more:
        more(report, folder)
    print(f"\nexercise-04 mistake {mistake}: {report.score:g}/100")
