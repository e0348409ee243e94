"""Shared fixtures: the repository's paths, the engine (required under CI), and a leak check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import grader.checks  # noqa: F401  (the check families register their kinds, as the apps' entry points do)

REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    """Everything under tests/integration talks to a real engine: mark it `docker`."""
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(autouse=True)
def english_and_private_progress(monkeypatch, tmp_path_factory):
    """Tests read English messages whatever the developer's locale, and never touch their progress file."""
    from grader import i18n

    monkeypatch.setenv("LABKIT_LANG", "en")  # inherited by `python -m grader` subprocesses
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path_factory.mktemp("labkit-home")))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path_factory.mktemp("labkit-cache")))  # no figures shared between tests
    i18n.set_language(None)
    yield
    i18n.set_language(None)


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


def on_podman() -> bool:
    """The tests run on Podman's Docker API (`make test-podman`)."""
    return os.environ.get("LABKIT_ENGINE") == "podman"


@pytest.fixture(scope="session")
def engine():
    """A client for the real engine; skipped without one, but a failure under CI=true."""
    from grader.errors import EngineUnavailable
    from grader.engine.connect import connect, is_podman

    wanted = os.environ.get("LABKIT_ENGINE", "")  # `make test-podman` sets "podman"
    try:
        client = connect()
    except EngineUnavailable as error:
        if os.environ.get("CI") or os.environ.get("LABKIT_REQUIRE_ENGINE"):
            pytest.fail(f"CI needs a {wanted or 'Docker'} engine and none answered: {error}")
        pytest.skip(f"no {wanted or 'Docker'} engine: {error}" + (" (make setup runs scripts/podman.sh)" if wanted else ""))
    if wanted == "podman" and not is_podman(client):
        pytest.fail(f"LABKIT_ENGINE=podman, but the engine at {os.environ.get('DOCKER_HOST', 'the default socket')} is not Podman")
    yield client
    client.close()
