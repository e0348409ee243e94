"""A stop signal during cleanup waits for the cleanup; a broken output pipe never cuts it short."""

from __future__ import annotations

import io
import os
import signal
import sys

import pytest

from grader import worker
from grader.engine.signals import Background, signals_held
from grader.engine.session import Session


@pytest.fixture(autouse=True)
def stops_unwind():
    """SIGTERM and SIGINT raise KeyboardInterrupt, as in the CLI and the batch worker."""
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, signal.default_int_handler)
    yield
    for number, handler in previous.items():
        signal.signal(number, handler)


def _stop_myself() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_during_held_work_is_delivered_after_it():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            _stop_myself()
            finished.append("the rest of the cleanup")
    assert finished == ["the rest of the cleanup"]


def test_a_second_signal_still_interrupts_the_held_work():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            _stop_myself()
            _stop_myself()
            finished.append("never reached")
    assert finished == []


def test_a_signal_held_while_the_work_fails_is_still_delivered():
    """A stop during a create that then fails must not be lost with the create's error."""
    with pytest.raises(KeyboardInterrupt) as raised:
        with signals_held():
            _stop_myself()
            raise RuntimeError("the engine refused the create")
    assert isinstance(raised.value.__context__, RuntimeError)


def test_handlers_are_restored_after_held_work():
    with signals_held():
        assert signal.getsignal(signal.SIGTERM) is not signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_signal_means_no_interruption():
    with signals_held():
        pass  # nothing raised after the block


class _Container:
    def __init__(self, on_remove):
        self.on_remove = on_remove

    def start(self) -> None:
        pass

    def remove(self, force: bool = False) -> None:
        self.on_remove()


class _Images:
    def __init__(self):
        self.removed: list[str] = []

    def remove(self, image_id: str, force: bool = False, noprune: bool = False) -> None:
        self.removed.append(image_id)


class _Client:
    def __init__(self):
        self.images = _Images()


def test_sigterm_while_removing_the_container_still_removes_the_image():
    """The leak a killed batch showed: the stop landed between the container and the image."""
    client = _Client()
    session = Session(client=client, exercise_id="exercise-01", id="held1")
    session.containers.append(_Container(on_remove=_stop_myself))
    session.image_ids.append("sha256:built")
    with pytest.raises(KeyboardInterrupt):
        session.cleanup(thorough=False)
    assert client.images.removed == ["sha256:built"]
    assert session.containers == [] and session.image_ids == []


class _BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_worker_events_to_a_gone_batch_never_raise(monkeypatch):
    monkeypatch.setattr(sys, "stdout", _BrokenPipe())
    worker._emit("progress", text="bringing the stack down")
    worker._emit("progress", text="still nothing raised")
    assert not isinstance(sys.stdout, _BrokenPipe)  # later events go to /dev/null



class _Containers:
    """Creates like the engine does: it finishes a create even when the client is stopped before the answer."""

    def __init__(self):
        self.made: list[str] = []
        self.removed: list[str] = []

    def create(self, image_id, **options):
        name = options["name"]
        self.made.append(name)  # the engine has made it...
        _stop_myself()  # ...and the stop lands before its answer
        return _Container(on_remove=lambda: self.removed.append(name))


def test_a_stop_during_docker_run_waits_for_the_container_and_removes_it():
    """Measured before the fix: a SIGTERM during `docker run` left the container 1 time in 16."""
    client = _Client()
    client.containers = _Containers()
    with pytest.raises(KeyboardInterrupt):
        with Session(client=client, exercise_id="exercise-01", id="held2") as session:
            # The grading's network and probe exist already (they are made in the background).
            session.network_name, session.probe = "labkit-exercise-01-held2", object()
            session._network_job = Background(lambda: None, "network")
            session.start("sha256:built", 5001)
    assert client.containers.removed == client.containers.made != []
    assert session.containers == []
