"""exercise-07 on the real engine: commands.sh replayed under the grader's names, its mistakes, and nothing left."""

from __future__ import annotations

import shutil

import pytest

from grader.model import Status
from tests.integration.conftest import grade_folder, lost, result

pytestmark = pytest.mark.usefixtures("no_leftovers")

BUILD = "docker build -t my-iris-api:v1 .\n"
RUN = "docker run -d -p 5001:5001 --name my-api-container my-iris-api:v1\n"
STOP, RM, RMI = "docker stop my-api-container\n", "docker rm my-api-container\n", "docker rmi my-iris-api:v1\n"
REPLAYED = ["image-built", "app-answers", "curl-prediction", "logs-start-line", "container-removed", "image-removed"]


@pytest.fixture(scope="module")
def exercise07(exercise_spec):
    return exercise_spec("exercise-07")


@pytest.fixture
def submission(repo, tmp_path):
    """A copy of the solution whose commands.sh went through an edit."""

    def make(edit=lambda text: text):
        folder = tmp_path / f"exercise-07-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(repo / "solutions" / "exercise-07", folder)
        path = folder / "commands.sh"
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
        return folder

    return make


def the_lessons_names_are_untouched(engine):
    """The replay uses the grader's names: the learner's own my-iris-api / my-api-container are never made."""
    assert not engine.api.images(name="my-iris-api")
    assert not engine.api.containers(all=True, filters={"name": "^/my-api-container$"})


def test_solution_gets_full_marks_and_the_replay_used_the_graders_names(exercise07, repo, engine):
    report = grade_folder(exercise07, repo / "solutions" / "exercise-07", engine)
    assert {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED} == {}
    assert report.score == report.max_score == 100
    assert report.facts["replay_seconds"] > 0
    the_lessons_names_are_untouched(engine)


def test_starter_gets_the_build_and_little_else(exercise07, repo, engine):
    report = grade_folder(exercise07, repo / "exercises" / "exercise-07", engine)
    assert lost(report) == {
        "commands-no-todo": 5, "lesson-names": 10, "run-detached": 10, "app-answers": 15, "curl-prediction": 10,
        "logs-start-line": 10, "container-removed": 10, "image-removed": 10,
    }
    assert report.score == 20  # the build it was given, and its line is allowed


# Each mistake: how commands.sh is edited, and exactly the checks (and so the points) it must cost.
MISTAKES = {
    # The six, then refusals that never run.
    "publish-wrong-side-curl-misses": (lambda text: text.replace("-p 5001:5001", "-p 5000:5001"), {"curl-prediction": 10}),
    "publish-to-the-wrong-container-port": (
        lambda text: text.replace("-p 5001:5001", "-p 5001:5000"), {"app-answers": 15, "curl-prediction": 10},
    ),
    "rm-before-stop": (  # rm refused on a running container; then rmi refused: the stopped container still uses the image
        lambda text: text.replace(STOP + RM, RM + STOP), {"container-removed": 10, "image-removed": 10},
    ),
    "run-without-d": (lambda text: text.replace("docker run -d ", "docker run "), {"run-detached": 10}),
    "logs-of-a-container-run-never-named": (
        lambda text: text.replace("docker logs my-api-container", "docker logs my-container"), {"logs-start-line": 10},
    ),
    "rmi-before-rm": (lambda text: text.replace(RM + RMI, RMI + RM), {"image-removed": 10}),
    "forgot-rmi": (lambda text: text.replace(RMI, ""), {"image-removed": 10}),
    "forgot-stop-and-rm": (lambda text: text.replace(STOP + RM, ""), {"container-removed": 10, "image-removed": 10}),
    "run-rm-then-rm-again": (  # --rm removed it at stop: the learner's rm finds nothing, yet nothing is left
        lambda text: text.replace("docker run -d ", "docker run -d --rm "), {"container-removed": 10},
    ),
    "chained-commands": (lambda text: text.replace("docker ps\n", "docker ps; rm -rf ~\n"), {"commands-allowed": 10}),
    "curl-to-another-host": (
        lambda text: text.replace("http://localhost:5001", "http://192.0.2.10:5001"), {"commands-allowed": 10, "curl-prediction": 10},
    ),
    "privileged-run": (  # refused, so never started: everything the container should have done is lost
        lambda text: text.replace("docker run -d", "docker run --privileged -d"),
        {"commands-allowed": 10, "lesson-names": 10, "run-detached": 10, "app-answers": 15, "curl-prediction": 10,
         "logs-start-line": 10, "container-removed": 10},
    ),
    "host-root-mount": (
        lambda text: text.replace("docker run -d", "docker run -v /:/host -d"),
        {"commands-allowed": 10, "lesson-names": 10, "run-detached": 10, "app-answers": 15, "curl-prediction": 10,
         "logs-start-line": 10, "container-removed": 10},
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_mistake_loses_exactly_its_points(mistake, exercise07, submission, engine):
    edit, expected_lost = MISTAKES[mistake]
    report = grade_folder(exercise07, submission(edit), engine)
    assert lost(report) == expected_lost, {r.spec.id: r.message for r in report.results}
    assert report.score == 100 - sum(expected_lost.values())


def test_rm_before_stop_is_explained_with_the_engines_own_refusal(exercise07, submission, engine):
    report = grade_folder(exercise07, submission(MISTAKES["rm-before-stop"][0]), engine)
    removed = result(report, "container-removed")
    assert "docker stop my-api-container" in removed.message and "running container" in removed.message
    assert "docker rm my-api-container" in result(report, "image-removed").message


def test_empty_binary_and_huge_files_are_graded_zero_with_nothing_run(exercise07, submission, engine):
    for content in ("", "\x00\x01\x02binary", "docker ps\n" * 5000):
        report = grade_folder(exercise07, submission(lambda text, content=content: content), engine)
        assert report.score == 0
        assert all(result(report, check_id).message.startswith("nothing was replayed") for check_id in REPLAYED)


def test_other_spellings_of_the_same_commands_get_full_marks(exercise07, submission, engine):
    """The docker CLI's grammar, not the solution's text: long options, --opt=value, -dp, management commands, -d @FILE."""
    text = """docker image build --tag=my-iris-api:v1 .
docker container run -dp 5001:5001 --name=my-api-container my-iris-api:v1
curl --request POST --header 'Content-Type: application/json' --data @payload.json localhost:5001/predict_iris
docker container logs --tail 50 my-api-container
docker container stop --time 1 my-api-container
docker container rm my-api-container
docker image rm my-iris-api:v1
"""
    folder = submission(lambda _: text)
    (folder / "payload.json").write_text('{"features": [6.7, 3.0, 5.2, 2.3]}', encoding="utf-8")
    report = grade_folder(exercise07, folder, engine)
    assert report.score == 100, {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED}


def test_curl_never_sends_a_file_from_outside_the_folder(exercise07, submission, engine):
    folder = submission(lambda text: text.replace("-d '{\"features\": [6.7, 3.0, 5.2, 2.3]}'", "-d @/etc/passwd"))
    report = grade_folder(exercise07, folder, engine)
    assert lost(report) == {"curl-prediction": 10}
    assert "Failed to open/read local data" in result(report, "curl-prediction").message
