"""grader/engine/replay.py's push, on a fake engine and registry: the pushed digest is known on every engine."""

from __future__ import annotations

from types import SimpleNamespace

from tests.unit.unit_helpers import REPO_ROOT  # noqa: F401  (puts the repository on sys.path)

from grader.commands import REGISTRY_VARIABLES, parse_line
from grader.engine import replay

HELD = "sha256:" + "a" * 64


class FakeRegistry:
    """A registry that holds one manifest, for the path and tag the push named."""

    address = "127.0.0.1:5999"

    def __init__(self):
        self.asked: list[tuple[str, str]] = []

    def manifest(self, repository, reference):
        self.asked.append((repository, reference))
        return HELD, {}


def pushing(events):
    """A fake session whose engine streams EVENTS for a push and holds every image."""
    api = SimpleNamespace(push=lambda repository, tag, stream, decode: iter(events))
    return SimpleNamespace(id="fake0002", exercise_id="exercise-08", client=SimpleNamespace(api=api),
                           inspect_image=lambda reference: {"Id": "sha256:" + "b" * 64})


def push(events, registry):
    runner = replay.Replayer(pushing(events), REPO_ROOT, port=5001, start_line="x", prediction={}, build_timeout=10,
                             registry=registry)
    return runner, runner._push(parse_line(1, "docker push $REGISTRY/my-iris-api:1.0.0", REGISTRY_VARIABLES))


def test_dockers_push_digest_comes_from_its_stream():
    registry = FakeRegistry()
    streamed = "sha256:" + "c" * 64
    runner, step = push([{"status": "Pushed"}, {"aux": {"Tag": "1.0.0", "Digest": streamed}}], registry)
    assert step.ok and step.facts["digest"] == streamed and runner.last_digest == streamed
    assert registry.asked == []


def test_podmans_push_without_a_digest_asks_the_registry():
    registry = FakeRegistry()
    runner, step = push([{"status": "Pushed"}], registry)  # Podman 4.3 streams no aux event
    assert step.ok and step.facts["digest"] == HELD and runner.last_digest == HELD
    assert registry.asked == [("labkit-replay-fake0002/my-iris-api", "1.0.0")]


def test_a_push_the_engine_refused_fails_without_asking_the_registry():
    registry = FakeRegistry()
    _, step = push([{"error": "denied: requested access to the resource is denied"}], registry)
    assert not step.ok and "denied" in step.error and registry.asked == []
