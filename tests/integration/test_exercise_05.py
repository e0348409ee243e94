"""exercise-05 on the real engine: ENV, ARG, ENTRYPOINT + CMD and a secret kept out; typical mistakes."""

from __future__ import annotations


import pytest

from grader.model import Status
from tests.integration.conftest import grade_folder, statuses
from tests.integration.conftest import lost, result

pytestmark = pytest.mark.usefixtures("no_leftovers")

ENTRYPOINT = 'ENTRYPOINT ["python", "serve.py"]'
CMD = 'CMD ["--log-level", "info"]'
APP_COPY = "COPY flask_api_v2.py serve.py iris_binary_model.pkl ./"
VERSION_ENV = "ENV APP_VERSION=$APP_VERSION\n"
SECRET = "labkit-demo-token-3c9f1b7e5a20"


@pytest.fixture(scope="module")
def exercise05(exercise_spec):
    """The exercise-05 spec from the repository's labs.yaml."""
    return exercise_spec("exercise-05")


@pytest.fixture
def edited(copy_solution):
    """A copy of the exercise-05 solution with its Dockerfile and/or serve.py edited, and files removed."""

    def make(dockerfile=None, serve=None, remove=()):
        return copy_solution("exercise-05", {"Dockerfile": dockerfile, "serve.py": serve}, remove=remove)

    return make


def test_solution_gets_full_marks(exercise05, repo, engine):
    report = grade_folder(exercise05, repo / "solutions" / "exercise-05", engine)
    assert {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED} == {}
    assert report.score == report.max_score == 100
    assert "graded-" in result(report, "build-arg").message
    assert "8080" in result(report, "env-port").message


def test_untouched_exercise_does_not_pass(exercise05, repo, engine):
    report = grade_folder(exercise05, repo / "exercises" / "exercise-05", engine)
    result_of = statuses(report)
    assert report.score < 10
    assert result_of["entrypoint-and-cmd"] is Status.FAILED
    assert result_of["build"] is Status.FAILED
    assert result_of["env-port"] is Status.BLOCKED


def _names_the_entrypoint(report, folder):
    lines = (folder / "Dockerfile").read_text().splitlines()
    where = f"Dockerfile:{lines.index('ENTRYPOINT python serve.py') + 1}"
    assert result(report, "entrypoint-and-cmd").location == where
    assert "JSON array" in result(report, "entrypoint-and-cmd").message  # the way, not the line
    assert "shell" in result(report, "args-reach-server").message


def _says_which_port(report, folder):
    message = result(report, "env-port").message
    assert "8080" in message and "5001" in message  # it listens on 5001, not on the port asked for
    assert result(report, "env-port").location.startswith("serve.py:")


def _never_shows_the_secret(report, folder):
    secret = result(report, "no-secret")
    assert SECRET not in secret.message + secret.detail
    assert "MODEL_REGISTRY_TOKEN" in secret.message


def _names_the_file(report, folder):
    secret = result(report, "no-secret")
    assert "/app/.env" in secret.message and ".dockerignore" in secret.message
    assert SECRET not in secret.message + secret.detail


# Each mistake: the edits, exactly the checks (and so the points) it must cost, more to assert.
MISTAKES = {
    # Shell-form ENTRYPOINT: /bin/sh -c drops the CMD and every `docker run IMAGE ARGS`.
    "shell-form-entrypoint": (
        dict(dockerfile=lambda text: text.replace(ENTRYPOINT, "ENTRYPOINT python serve.py")),
        {"entrypoint-and-cmd": 10, "hadolint": 5, "args-reach-server": 10},
        _names_the_entrypoint,
    ),
    # The program in CMD with its arguments, no ENTRYPOINT: `docker run IMAGE --log-level debug` replaces it all.
    "no-entrypoint": (
        dict(dockerfile=lambda text: text.replace(ENTRYPOINT + "\n" + CMD, 'CMD ["python", "serve.py", "--log-level", "info"]')),
        {"entrypoint-and-cmd": 10, "args-reach-server": 10},
        None,
    ),
    # A port written into the code: -e PORT=8080 changes nothing.
    "hard-coded-port": (
        dict(serve=lambda text: text.replace('"--port", type=int, default=int(settings["PORT"])', '"--port", type=int, default=5001')),
        {"env-port": 10},
        _says_which_port,
    ),
    # The token passed as a build argument and kept with ENV: it shows in `docker image inspect`.
    "secret-in-arg-and-env": (
        dict(dockerfile=lambda text: text.replace(VERSION_ENV, VERSION_ENV + "ARG MODEL_REGISTRY_TOKEN\nENV MODEL_REGISTRY_TOKEN=$MODEL_REGISTRY_TOKEN\n")),
        {"no-secret": 10, "hadolint": 5},  # hadolint's DL3064 names the sensitive ARG/ENV too
        _never_shows_the_secret,
    ),
    # `COPY . .` without a .dockerignore: .env is copied into the image.
    "env-file-copied": (
        dict(dockerfile=lambda text: text.replace(APP_COPY, "COPY . ."), remove=(".dockerignore",)),
        {"no-secret": 10},
        _names_the_file,
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_mistake_loses_exactly_its_points(mistake, exercise05, edited, engine):
    edits, expected_lost, more = MISTAKES[mistake]
    folder = edited(**edits)
    report = grade_folder(exercise05, folder, engine)
    assert lost(report) == expected_lost, {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED}
    assert report.score == 100 - sum(expected_lost.values())
    if more:
        more(report, folder)
    print(f"\nexercise-05 mistake {mistake}: {report.score:g}/100 in {report.duration:.1f} s")
