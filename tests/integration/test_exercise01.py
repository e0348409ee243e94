"""exercise-01 on the real engine: the solution, the untouched starter, and typical mistakes."""

from __future__ import annotations

import re

import pytest

from grader.model import Status
from tests.conftest import on_podman
from tests.integration.conftest import grade_folder, lost, statuses

pytestmark = pytest.mark.usefixtures("no_leftovers")


def test_solution_gets_full_marks(exercise01, repo, engine):
    checked: list[str] = []  # check ids in the order their results came
    waits: list[int] = []  # how many results had come when while_waiting was called
    report = grade_folder(
        exercise01, repo / "solutions" / "exercise-01", engine,
        on_result=lambda result: checked.append(result.spec.id), while_waiting=lambda: waits.append(len(checked)),
    )
    failed = {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED}
    assert failed == {}
    assert report.score == report.max_score == 100
    assert report.facts["added_mb"] > 0
    # Where it was graded, from the connection's own /version answer.
    assert report.provenance["engine_version"] == engine.version()["Version"] and report.provenance["builder"]
    assert len(waits) == 1  # once, after the start and before the first answer:
    assert "expose-port" in checked[: waits[0]] and "container-ready" in checked[waits[0]:]


def test_untouched_exercise_does_not_pass(exercise01, repo, engine):
    waits: list[str] = []
    report = grade_folder(exercise01, repo / "exercises" / "exercise-01", engine, while_waiting=lambda: waits.append("called"))
    assert waits == []  # nothing started, nothing to wait for
    result = statuses(report)
    assert report.score < 10
    assert result["no-todo"] is Status.FAILED
    assert result["build"] is Status.FAILED
    # What needs an image is blocked, not failed, and says why.
    assert result["predictions"] is Status.BLOCKED
    blocked = next(r for r in report.results if r.spec.id == "expose-port")
    assert "build failed" in blocked.message


# Each mistake: how to make it, and exactly the checks (and so the points) it must cost.
MISTAKES = {
    "no-expose": (
        dict(edit_dockerfile=lambda text: re.sub(r"(?m)^EXPOSE 5001\n", "", text)),
        {"expose-port": 10},
    ),
    "shell-form-cmd": (
        dict(edit_dockerfile=lambda text: text.replace('CMD ["python", "flask_api_v2.py"]', "CMD python flask_api_v2.py")),
        {"cmd-exec-form": 5, "image-exec-form": 5, "hadolint": 5},
    ),
    "todo-left": (
        dict(edit_dockerfile=lambda text: text + "# TODO 7: remove me\n"),
        {"no-todo": 5},
    ),
    "model-not-copied": (
        dict(edit_dockerfile=lambda text: text.replace("COPY . /app", "COPY flask_api_v2.py requirements.txt /app/")),
        {"container-ready": 10, "binds-all-interfaces": 5, "predictions": 10, "rejects-malformed": 5},
    ),
    "bound-to-localhost": (
        dict(edit_app=lambda text: text.replace('app.run(host="0.0.0.0", port=5001)', 'app.run(host="127.0.0.1", port=5001)')),
        {"container-ready": 10, "binds-all-interfaces": 5, "predictions": 10, "rejects-malformed": 5},
    ),
    "build-error": (
        dict(edit_dockerfile=lambda text: text.replace("-r requirements.txt", "-r requirement.txt")),
        {
            "pip-no-cache": 5,  # no `pip install` reads requirements.txt any more: named statically too
            "build": 10, "expose-port": 10, "image-exec-form": 5, "image-workdir": 5, "image-size": 5,
            "container-ready": 10, "binds-all-interfaces": 5, "predictions": 10, "rejects-malformed": 5,
        },
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_mistake_loses_exactly_its_points(mistake, exercise01, submission, engine):
    edits, expected_lost = MISTAKES[mistake]
    report = grade_folder(exercise01, submission(**edits), engine)
    assert lost(report) == expected_lost, {r.spec.id: r.message for r in report.results}
    assert report.score == 100 - sum(expected_lost.values())


def test_localhost_bind_is_named_with_its_line(exercise01, submission, engine):
    folder = submission(edit_app=lambda text: text.replace('host="0.0.0.0"', 'host="127.0.0.1"'))
    report = grade_folder(exercise01, folder, engine)
    bind = next(r for r in report.results if r.spec.id == "binds-all-interfaces")
    assert "127.0.0.1:5001" in bind.message and "0.0.0.0" in bind.message
    assert re.fullmatch(r"flask_api_v2\.py:\d+", bind.location)
    ready = next(r for r in report.results if r.spec.id == "container-ready")
    assert "127.0.0.1" in ready.message


def test_model_not_copied_shows_how_the_container_died(exercise01, submission, engine):
    folder = submission(edit_dockerfile=lambda text: text.replace("COPY . /app", "COPY flask_api_v2.py requirements.txt /app/"))
    report = grade_folder(exercise01, folder, engine)
    ready = next(r for r in report.results if r.spec.id == "container-ready")
    assert "exited with code" in ready.message
    assert "iris_binary_model.pkl" in ready.message  # the tail of its logs names the missing file


def test_build_error_names_the_step_and_line(exercise01, submission, engine):
    folder = submission(edit_dockerfile=lambda text: text.replace("-r requirements.txt", "-r requirement.txt"))
    report = grade_folder(exercise01, folder, engine)
    build = next(r for r in report.results if r.spec.id == "build")
    run_line = next(n for n, line in enumerate((folder / "Dockerfile").read_text().splitlines(), 1) if line.startswith("RUN"))
    assert build.location == f"Dockerfile:{run_line}"
    assert "exit code" in build.message
    assert "requirement.txt" in build.detail  # the tail of the log shows pip's complaint


@pytest.mark.skipif(on_podman(), reason="Docker's classic builder only: Podman's builder (buildah) accepts RUN --mount, as BuildKit does")
def test_buildkit_only_syntax_is_explained_by_the_classic_builder(exercise01, submission, engine):
    """Asked for the classic builder (auto would build it with BuildKit where the machine has it)."""
    folder = submission(edit_dockerfile=lambda text: text.replace("RUN pip install", "RUN --mount=type=cache,target=/root/.cache pip install"))
    report = grade_folder(exercise01, folder, engine, builder="classic")
    build = next(r for r in report.results if r.spec.id == "build")
    assert build.status is Status.FAILED
    assert "BuildKit" in build.message and "classic builder" in build.message


def test_build_time_limit_aborts_and_cleans_up(exercise01, submission, engine):
    folder = submission(edit_dockerfile=lambda text: text.replace("RUN pip install", "RUN sleep 600 && pip install"))
    report = grade_folder(exercise01, folder, engine, build_timeout=8)
    build = next(r for r in report.results if r.spec.id == "build")
    assert build.status is Status.FAILED
    assert "did not finish within 8 s" in build.message and "RUN sleep 600" in build.message
    assert report.duration < 60
