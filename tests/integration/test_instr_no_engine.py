"""--static-only where PrairieLearn and Gradescope grade: a container with no Docker socket, no network,
the submission bound read-only, results written to a folder. The container is the real one such a
platform would start (python:3.11-slim); the grader and its packages are bound in read-only."""

from __future__ import annotations

import json
import sys
import sysconfig
import uuid

import pytest

from grader.checks.lint import hadolint_binary
from grader.grading import _uses_engine

IMAGE = "python:3.11-slim"


def test_static_only_grades_inside_a_grader_container_without_engine_or_network(engine, repo, tmp_path, exercise01):
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the bound site-packages must match the image's Python 3.11")
    results = tmp_path / "results"
    results.mkdir()
    command = ["python", "-m", "grader", "exercise-01", "--path", "/grade/student", "--static-only",
               "--prairielearn", "/grade/results/results.json", "--json", "/grade/results/gradescope.json"]
    container = engine.containers.create(
        IMAGE, command, working_dir="/labkit", network_mode="none", user="0", labels={"org.labkit.test": "no-engine"},
        name=f"labkit-test-no-engine-{uuid.uuid4().hex[:8]}",
        environment={"PYTHONPATH": "/deps", "LABKIT_LANG": "en", "PYTHONDONTWRITEBYTECODE": "1"},
        volumes={
            str(repo): {"bind": "/labkit", "mode": "ro"},
            str(repo / "solutions" / "exercise-01"): {"bind": "/grade/student", "mode": "ro"},
            str(results): {"bind": "/grade/results", "mode": "rw"},
            sysconfig.get_paths()["purelib"]: {"bind": "/deps", "mode": "ro"},
            hadolint_binary(): {"bind": "/usr/local/bin/hadolint", "mode": "ro"},
        },
    )
    try:
        container.start()
        status = container.wait(timeout=120)
        logs = container.logs().decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0, logs[-3000:]
    static = sum(c.points for c in exercise01.checks if not _uses_engine(c))
    assert logs.strip().splitlines()[-1] == f"Score: {static:g}/{static:g}"
    assert "not run: no Docker engine here" in logs
    prairie = json.loads((results / "results.json").read_text())
    assert prairie["gradable"] is True and prairie["score"] == 1.0
    assert sum(test["max_points"] for test in prairie["tests"]) == static
    gradescope = json.loads((results / "gradescope.json").read_text())
    assert gradescope["score"] == static
