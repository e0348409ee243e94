"""The limits a learner's container is started with (no engine: the parameters are recorded)."""

from __future__ import annotations

import pytest

from grader.engine.signals import Background

from grader.engine.session import Session


class _RecordingContainers:
    def __init__(self):
        self.kwargs = {}

    def create(self, image_id, **kwargs):
        self.kwargs = kwargs
        raise RuntimeError("recorded")  # no engine: stop after the parameters are known


def _start_parameters(**limits) -> dict:
    from grader.engine.limits import RunLimits

    client = type("Client", (), {})()
    client.containers = _RecordingContainers()
    session = Session(client=client, exercise_id="exercise-01", id="limits1")
    session.network_name, session.probe = "labkit-exercise-01-limits1", object()  # made in the background
    session._network_job = Background(lambda: None, "network")
    with pytest.raises(RuntimeError):
        session.start("sha256:img", 5001, RunLimits(**limits))
    return client.containers.kwargs


def test_learner_containers_get_memory_pids_and_a_low_cpu_weight_but_no_cpu_quota_by_default():
    kwargs = _start_parameters()
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == "512m"  # no swap beyond memory
    assert kwargs["pids_limit"] == 128 and kwargs["cap_drop"] == ["ALL"]
    assert kwargs["cpu_shares"] < 1024  # yields to the grader and the engine under contention
    assert kwargs["nano_cpus"] is None
    # The grading's network alone: no default bridge, and nothing published on any host.
    assert kwargs["network"] == "labkit-exercise-01-limits1" and "ports" not in kwargs


def test_a_cpu_quota_can_still_be_asked_for():
    assert _start_parameters(cpus=1.5)["nano_cpus"] == 1_500_000_000


def test_a_graded_stacks_services_get_the_single_containers_limits():
    """One copy of the run limits: Compose's service keys come from RunLimits (they drifted once: a 1-CPU cap)."""
    from grader.engine import compose
    from grader.engine.limits import RunLimits

    single = RunLimits()
    assert compose.LIMITS["mem_limit"] == compose.LIMITS["memswap_limit"] == single.memory
    assert compose.LIMITS["pids_limit"] == single.pids and compose.LIMITS["cpu_shares"] == single.cpu_shares
    assert "cpus" not in compose.LIMITS  # shared by weight, not capped, as for one container
    assert RunLimits(cpus=1.5).compose_service()["cpus"] == 1.5
