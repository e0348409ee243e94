"""Faults around a grading: two graders at once on one engine, signals at every stage."""

from __future__ import annotations

import threading

import pytest

from grader.model import Status
from tests.integration.conftest import grade_folder, labelled

pytestmark = pytest.mark.usefixtures("no_leftovers")


def test_two_graders_same_exercise_same_time_do_not_collide(exercise01, repo, engine):
    reports, errors = {}, []

    def run(name: str) -> None:
        try:
            reports[name] = grade_folder(exercise01, repo / "solutions" / "exercise-01", engine)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    assert [reports[n].score for n in ("first", "second")] == [100, 100], {
        n: [(r.spec.id, r.message) for r in reports[n].results if r.status is not Status.PASSED] for n in reports
    }


def test_engine_dying_mid_build_is_not_gradable(repo, submission, tmp_path):
    """The engine is killed during a build: exit 2 with a clear line, no score written."""
    import os
    import subprocess
    import sys
    import time

    from tests.integration.throwaway_engine import throwaway_engine

    with throwaway_engine("faults", "172.30.71.1/24") as engine:
        folder = submission(edit_dockerfile=lambda text: text.replace("RUN pip install", "RUN sleep 120 && pip install"))
        results = tmp_path / "results.json"
        env = {**os.environ, "DOCKER_HOST": engine.url, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            [sys.executable, "-m", "grader", "exercise-01", "--path", str(folder), "--json", str(results)],
            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        seen = ""
        deadline = time.monotonic() + 120
        while "RUN sleep 120" not in seen and time.monotonic() < deadline:
            seen += process.stderr.readline()
        time.sleep(1)
        engine.kill()
        out, err = process.communicate(timeout=120)
        assert process.returncode == 2, out + err
        assert "stopped answering" in err and "Traceback" not in err
        assert not results.exists()  # nothing recorded as a score


def test_engine_out_of_disk_is_not_gradable(repo, submission, tmp_path):
    """An engine whose disk fills during a RUN step: exit 2 naming the full disk, no score, nothing left."""
    import os
    import subprocess
    import sys
    import time

    from tests.integration.throwaway_engine import throwaway_engine

    with throwaway_engine("diskfull", "172.30.72.1/24", disk_mb=400) as engine:  # ~200 MB free
        folder = submission(edit_dockerfile=lambda text: text.replace("RUN pip install", "RUN head -c 400000000 /dev/zero > /fill && pip install"))
        results = tmp_path / "results.json"
        env = {**os.environ, "DOCKER_HOST": engine.url}
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "grader", "exercise-01", "--path", str(folder), "--json", str(results)],
            cwd=repo, env=env, capture_output=True, text=True, timeout=300,
        )
        assert completed.returncode == 2, completed.stdout + completed.stderr
        assert "out of disk space" in completed.stderr and "No space left on device" in completed.stderr
        assert "grader clean --cache" in completed.stderr and "Traceback" not in completed.stderr
        assert time.monotonic() - started < 120
        assert not results.exists()  # the machine's problem is nobody's grade
        client = engine.client()
        assert labelled(client) == ([], [], [])
