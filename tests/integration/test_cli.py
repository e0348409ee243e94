"""The command line as a learner runs it: exit codes, the score line, JSON, and cleanup on signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.engine.connect import is_podman

from tests.integration.conftest import labelled

pytestmark = pytest.mark.usefixtures("no_leftovers")


def grader(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m grader ARGS` to completion."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kwargs)


def test_solution_exit_0_score_line_and_gradescope_json(repo, tmp_path, exercise01):
    out = tmp_path / "results.json"
    completed = grader("exercise-01", "--path", "solutions/exercise-01", "--json", str(out), cwd=repo)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.rstrip().splitlines()[-1] == "Score: 100/100"
    assert "building" in completed.stderr  # progress while it builds
    document = json.loads(out.read_text())
    assert document["score"] == 100
    assert document["execution_time"] > 0 and document["output"]
    assert len(document["tests"]) == len(exercise01.checks)
    for test in document["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output"}
        assert test["status"] == "passed"


def test_untouched_exercise_exit_1(repo):
    completed = grader("exercise-01", cwd=repo)
    assert completed.returncode == 1
    last = completed.stdout.rstrip().splitlines()[-1]
    assert last.startswith("Score: ") and last.endswith("/100") and last != "Score: 100/100"
    assert "Traceback" not in completed.stderr


def test_missing_dockerfile_is_a_graded_zero(repo, tmp_path):
    completed = grader("exercise-01", "--path", str(tmp_path), cwd=repo)
    assert completed.returncode == 1
    assert completed.stdout.rstrip().splitlines()[-1] == "Score: 0/100"
    assert "no Dockerfile" in completed.stdout
    assert "Traceback" not in completed.stderr


def _start(repo: Path, folder: Path, probe: str = "auto") -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LABKIT_PROBE": probe}
    return subprocess.Popen(
        [sys.executable, "-m", "grader", "exercise-01", "--path", str(folder)],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(process: subprocess.Popen, marker: str, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return
    process.kill()
    pytest.fail(f"never saw {marker!r}; stderr was: {''.join(seen)}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_build_leaves_nothing(sig, repo, submission, engine):
    folder = submission(edit_dockerfile=lambda text: text.replace("RUN pip install", "RUN sleep 600 && pip install"))
    process = _start(repo, folder)
    _wait_for(process, "RUN sleep 600")
    time.sleep(1.0)  # let the step's container start
    process.send_signal(sig)
    assert process.wait(timeout=30) == 130
    # The engine cancels the step when the stream drops; give it a moment to remove the container.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _sleep_step_containers(engine):
        time.sleep(0.2)
    assert not _sleep_step_containers(engine)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_at_the_label_step_leaves_no_image(sig, repo, submission, engine, no_leftovers):
    """The engine commits the step it is on even when the stream drops: a stop at the grader's
    LABEL step used to leave a labelled image behind every time."""
    process = _start(repo, submission())
    _wait_for(process, "labelling the image")
    process.send_signal(sig)
    assert process.wait(timeout=30) == 130
    time.sleep(2)  # the engine committed such an image about 0.2 s after the stream dropped
    assert labelled(engine, no_leftovers)[1] == []


def _sleep_step_containers(engine) -> list[str]:
    """Build-step containers still running the `sleep 600` step."""
    found = []
    for container in engine.containers.list(all=True, sparse=True):
        if "sleep 600" in str(container.attrs.get("Command", "")):
            found.append(container.id)
    return found


def _containers_while_the_app_starts(engine, probe: str) -> int:
    """The learner's container, and the grader's probe container unless the grader reaches the app from its own process."""
    return 2 if probe == "container" or is_podman(engine) else 1  # Podman's API names no bridge: always the container


@pytest.mark.parametrize("probe", ["auto", "container"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_waiting_for_the_app_leaves_nothing(sig, probe, repo, submission, engine, no_leftovers):
    folder = submission(edit_dockerfile=lambda text: text.replace('CMD ["python", "flask_api_v2.py"]', 'CMD ["python", "-c", "import time; time.sleep(600)"]'))
    process = _start(repo, folder, probe)
    try:
        _wait_for(process, "waiting for an HTTP answer")
        assert len(labelled(engine, no_leftovers)[0]) == _containers_while_the_app_starts(engine, probe)
        started = time.monotonic()
        process.send_signal(sig)
        assert process.wait(timeout=30) == 130
        assert time.monotonic() - started < 5  # removal is forced, never a 10 s `docker stop`
    finally:
        _stop(process)


@pytest.mark.parametrize("probe", ["auto", "container"])
def test_clean_sweeps_what_a_killed_grader_left(probe, repo, submission, engine, no_leftovers):
    folder = submission(edit_dockerfile=lambda text: text.replace('CMD ["python", "flask_api_v2.py"]', 'CMD ["python", "-c", "import time; time.sleep(600)"]'))
    process = _start(repo, folder, probe)
    try:
        _wait_for(process, "waiting for an HTTP answer")
    finally:
        _stop(process)  # SIGKILL: no handler runs, leftovers stay
    containers, images, networks = labelled(engine, no_leftovers)
    # The app (and the probe container, when there is one), on the grading's network.
    assert len(containers) == _containers_while_the_app_starts(engine, probe) and len(images) == 1 and len(networks) == 1
    completed = grader("clean", cwd=repo)
    assert completed.returncode == 0
    assert "removed" in completed.stdout and "labelled by the grader" in completed.stdout  # counts include any other grader's
    assert labelled(engine, no_leftovers) == ([], [], [])


def _stop(process: subprocess.Popen) -> None:
    """SIGKILL a grader that is still running (a failed assertion must not leave it grading)."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
