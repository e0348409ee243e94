"""Run-time networks on the real engine: no way out unless the exercise opens it, and the grader still reaches the app.

Egress is checked by behaviour without sending anything off this machine: the "outside" is a
network namespace of the test's own, joined to the host by a veth pair (see netns.py).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from grader.engine.limits import SESSION_LABEL

from grader.engine.connect import is_podman
from grader.engine.probe import bridge_is_here
from grader.engine.session import Session
from netns import outside

SLEEPER = ["python3", "-c", "import time; time.sleep(300)"]
SERVER = ["python3", "-m", "http.server", "5001"]
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()"


def base_image(engine) -> str:
    return engine.images.get("python:3.11-slim").id


def default_route(running) -> bool:
    """Does the container's routing table have a default route (destination 0.0.0.0)?"""
    code, table = running.exec_output(["cat", "/proc/net/route"])
    assert code == 0, table
    return any(line.split()[1:2] == ["00000000"] for line in table.splitlines()[1:])


@pytest.mark.parametrize("opened", [False, True], ids=["internal", "open"])
def test_a_learner_container_has_a_way_out_only_when_the_exercise_opens_the_network(opened, engine, no_leftovers):
    with outside() as (address, port), Session(engine, "egress-test") as session:
        session.open_network(open_to_outside=opened)
        running = session.start(base_image(engine), 5001, command=SLEEPER)
        network = engine.api.inspect_network(session.network_name)
        assert network["Internal"] is (not opened)
        assert network["Labels"][SESSION_LABEL] == session.id
        code, output = running.exec_output(["python3", "-c", CONNECT, address, str(port)])
        if opened:
            assert code == 0, output  # a normal bridge: the outside answers
            assert default_route(running)
        else:
            # No way out: the connection is dropped (a timeout) or refused a route, never answered.
            assert code != 0 and ("timed out" in output.lower() or "unreachable" in output.lower()), output


@pytest.mark.parametrize("route", ["auto", "container"])
def test_the_app_is_reached_through_the_engine_and_published_nowhere(route, engine, no_leftovers, monkeypatch):
    monkeypatch.setenv("LABKIT_PROBE", route)
    with Session(engine, "probe-test") as session:
        session.open_network()
        running = session.start(base_image(engine), 5001, command=SERVER)
        state = session.wait_ready(running, "/", 30)
        assert state.ready, state.problem
        response = running.request("GET", "/", timeout=5.0)
        assert response.status_code == 200 and "Directory listing" in response.text
        container = engine.api.inspect_container(running.id)
        assert list(container["NetworkSettings"]["Networks"]) == [session.network_name]  # not on the default bridge
        assert not container["NetworkSettings"]["Ports"] and not container["HostConfig"]["PortBindings"]
        probes = [c for c in engine.api.containers(filters={"label": f"{SESSION_LABEL}={session.id}"}) if c["Id"] != running.id]
        here = bridge_is_here(engine.api.inspect_network(session.network_name))
        if route == "auto" and here:  # the grader shares the engine's host: no helper container
            assert session.probe_route == "in-process" and probes == []
            return
        assert session.probe_route == "container"
        (probe,) = probes
        config = engine.api.inspect_container(probe["Id"])["HostConfig"]
        assert config["ReadonlyRootfs"] and config["CapDrop"] == ["ALL"] and "no-new-privileges" in config["SecurityOpt"]
        assert 0 < config["Memory"] <= 128 * 1024 ** 2 and 0 < config["PidsLimit"] <= 32 and not config["PortBindings"]


def test_a_local_docker_engine_is_reached_from_the_grader_s_own_process(engine, no_leftovers):
    if is_podman(engine):
        pytest.skip("Podman's Docker API names no bridge: its gradings use the probe container")
    with Session(engine, "probe-here") as session:
        session.open_network()
        session.network()
        assert session.probe_route == "in-process"


def test_a_missing_probe_image_is_one_line_and_exit_2(repo, engine, no_leftovers, monkeypatch):
    monkeypatch.setenv("LABKIT_PROBE_IMAGE", "labkit-no-such-probe:never")
    monkeypatch.setenv("LABKIT_PROBE", "container")  # the in-process probe needs no image
    completed = subprocess.run(
        [sys.executable, "-m", "grader", "exercise-01", "--path", "solutions/exercise-01", "--no-record"],
        cwd=repo, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 2, completed.stdout + completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "labkit-no-such-probe:never" in errors[0] and "LABKIT_PROBE_IMAGE" in errors[0]
    assert "Score:" not in completed.stdout
