"""`python -m grader doctor` on the real engine: what it finds, where it looked (the active docker context), exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.engine import compose
from grader.engine.connect import endpoint_of


def doctor(cwd: Path, **environment: str | None) -> subprocess.CompletedProcess:
    """Run `python -m grader doctor` with ENVIRONMENT changed (None removes a variable)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name, value in environment.items():
        env.pop(name, None) if value is None else env.__setitem__(name, value)
    return subprocess.run([sys.executable, "-m", "grader", "doctor"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_doctor_on_this_machine_finds_what_make_setup_installed(repo, engine):
    completed = doctor(repo)
    out = completed.stdout
    # make setup installs every piece, so under CI nothing may be missing.
    assert completed.returncode == 0, out + completed.stderr
    version = engine.version()
    assert f"{version['Version']} (API {version['ApiVersion']}" in out
    assert endpoint_of(engine) in out
    assert "python:3.11-slim is on the engine" in out and "hadolint" in out
    assert f"the grader uses `{compose.find_compose().name}`" in out
    assert out.rstrip().splitlines()[-1] == "Everything the grader needs is here."


@pytest.fixture
def docker_cli():
    cli = shutil.which("docker")
    if cli is None:
        if os.environ.get("CI") or os.environ.get("LABKIT_REQUIRE_ENGINE"):
            pytest.fail("CI needs the docker CLI (make setup installs docker.io)")
        pytest.skip("no docker CLI to make a docker context with")
    return cli


def _context(cli: str, config: Path, name: str, host: str) -> None:
    """Make docker context NAME (endpoint HOST) the active one in the CLI config folder CONFIG."""
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    env.pop("DOCKER_HOST", None)
    for command in (["context", "create", name, "--docker", f"host={host}"], ["context", "use", name]):
        subprocess.run([cli, *command], env=env, check=True, capture_output=True, timeout=60)


def test_doctor_follows_the_active_docker_context(repo, engine, docker_cli, tmp_path):
    live, dead = tmp_path / "live", tmp_path / "dead"
    _context(docker_cli, live, "labkit-live", endpoint_of(engine))
    _context(docker_cli, dead, "labkit-dead", f"unix://{tmp_path}/nothing.sock")
    # LABKIT_COMPOSE=v1: these config folders have no Compose plugin, and the doctor must not call that missing.
    completed = doctor(repo, DOCKER_CONFIG=str(live), DOCKER_HOST=None, LABKIT_COMPOSE="v1")
    assert "docker context `labkit-live`" in completed.stdout, completed.stdout + completed.stderr
    gone = doctor(repo, DOCKER_CONFIG=str(dead), DOCKER_HOST=None)
    assert gone.returncode == 2, gone.stdout + gone.stderr
    assert "nothing.sock" in gone.stdout and gone.stdout.rstrip().splitlines()[-1].startswith("No engine answers")


def test_doctor_exit_2_when_docker_host_names_no_engine(repo, engine, tmp_path):
    completed = doctor(repo, DOCKER_HOST=f"unix://{tmp_path}/nothing.sock")
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert f"DOCKER_HOST=unix://{tmp_path}/nothing.sock names an engine that does not answer" in completed.stdout
