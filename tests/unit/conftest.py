"""Fixtures for the engine-free unit tests; plain helpers live in unit_helpers.py.

Nothing here talks to a Docker engine: DOCKER_HOST points at a socket that does not exist for
every test, so a stray `connect()` fails fast instead of reaching a real engine.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest

from unit_helpers import GOOD_DOCKERFILE, LABS, NO_ENGINE, REPO_ROOT, FakeContainer
from grader import spec
from grader.kinds import registry
from grader.context import Context
from grader.dockerfile import parse_text
from grader.model import ExerciseSpec, Outcome


@pytest.fixture(autouse=True)
def _no_engine(monkeypatch):
    """Make sure no test can reach a real engine, whatever the machine has."""
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    for name in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _keep_sigterm_handler():
    """grader.cli.main installs a SIGTERM handler; put the previous one back after each test."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def exercises() -> list[ExerciseSpec]:
    """The repository's real labs.yaml."""
    return spec.load(LABS)


@pytest.fixture(scope="session")
def exercise(exercises) -> ExerciseSpec:
    """exercise-01 as labs.yaml declares it."""
    found = spec.find_exercise(exercises, "exercise-01")
    assert found is not None, "labs.yaml has no exercise-01"
    return found


@pytest.fixture
def make_ctx(exercise) -> Callable[..., Context]:
    """Build a Context from Dockerfile text (or none) plus any other Context fields."""

    def build(text: str | None = GOOD_DOCKERFILE, submission: Path | None = None, **fields: Any) -> Context:
        ctx = Context(exercise=exercise, submission=submission or REPO_ROOT / "nowhere")
        if text is not None:
            ctx.dockerfile = parse_text(text)
        for name, value in fields.items():
            setattr(ctx, name, value)
        return ctx

    return build


@pytest.fixture
def run_kind(exercise) -> Callable[..., Outcome]:
    """Call a check kind's function directly with labs.yaml's params, optionally overridden."""

    def call(kind: str, ctx: Context, params: Mapping[str, Any] | None = None, **overrides: Any) -> Outcome:
        if params is None:
            params = dict(next((c.params for c in exercise.checks if c.kind == kind), {}))
        merged = {**params, **overrides}
        return registry()[kind].func(ctx, merged)

    return call


@pytest.fixture
def fake_container() -> type[FakeContainer]:
    """The FakeContainer class, to instantiate with canned answers."""
    return FakeContainer
