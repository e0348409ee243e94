"""The BuildKit builder on the real engine: every exercise as with the classic builder, BuildKit-only
syntax that a learner's own `docker build` accepts, the rebuild cache, and stops that leave nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.engine import buildkit
from grader.model import Status
from tests.integration.conftest import grade_folder, labelled, lost, result

pytestmark = pytest.mark.usefixtures("no_leftovers")

EXERCISES = ("exercise-01", "exercise-02", "exercise-03", "exercise-04", "exercise-05", "exercise-07")  # 06 builds with Compose


@pytest.fixture(scope="module", autouse=True)
def buildkit_cli():
    """A docker CLI that builds with BuildKit; skipped without one, a failure under CI=true."""
    cli = buildkit.find_buildkit_cli()
    if cli is None:
        if os.environ.get("CI") or os.environ.get("LABKIT_REQUIRE_ENGINE"):
            pytest.fail("CI needs a docker CLI with BuildKit (buildx, or Debian's 20.10 CLI at /usr/bin/docker)")
        pytest.skip("no docker CLI with BuildKit here")
    return cli


def graded(exercise_spec, exercise_id, folder, engine, **kwargs):
    kwargs.setdefault("builder", "buildkit")
    report = grade_folder(exercise_spec(exercise_id), folder, engine, **kwargs)
    assert report.facts["builder"] == kwargs["builder"] or kwargs["builder"] == "auto"
    return report


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_solution_gets_full_marks_and_starter_does_not(exercise_id, exercise_spec, repo, engine):
    solution = graded(exercise_spec, exercise_id, repo / "solutions" / exercise_id, engine)
    assert {r.spec.id: r.message for r in solution.results if r.status is not Status.PASSED} == {}
    assert solution.score == solution.max_score
    starter = graded(exercise_spec, exercise_id, repo / "exercises" / exercise_id, engine)
    assert starter.score < starter.max_score


def test_buildkit_only_syntax_builds_under_auto(exercise_spec, copy_solution, engine):
    """RUN --mount and several COPY sources to `.` fail the classic builder and build with the learner's."""

    def edit(text: str) -> str:
        text = text.replace("COPY . /app", "COPY flask_api_v2.py iris_binary_model.pkl requirements.txt .")
        return text.replace(
            "RUN pip install --no-cache-dir -r requirements.txt",
            "RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt",
        )

    folder = copy_solution("exercise-01", {"Dockerfile": edit})
    report = graded(exercise_spec, "exercise-01", folder, engine, builder="auto")
    assert report.facts["builder"] == "buildkit"
    # It builds and serves; hadolint's DL3021 follows the Dockerfile reference (several sources need a
    # destination ending in /), which BuildKit does not enforce: a lint finding, not a broken build.
    assert lost(report) == {"hadolint": 5}
    assert "DL3021" in result(report, "hadolint").message
    classic = graded(exercise_spec, "exercise-01", folder, engine, builder="classic")
    build = result(classic, "build")
    assert build.status is Status.FAILED and "--builder buildkit" in build.message


def test_code_before_install_loses_the_rebuild_cache_check(exercise_spec, copy_solution, engine):
    def code_first(text: str) -> str:
        text = re.sub(r"(?m)^COPY \. \.\n", "", text)
        return text.replace("COPY requirements.txt .\n", "COPY . .\n")

    report = graded(exercise_spec, "exercise-02", copy_solution("exercise-02", {"Dockerfile": code_first}), engine)
    assert "rebuild-uses-cache" in lost(report)
    assert "COPY . ." in result(report, "rebuild-uses-cache").message


def test_failing_step_is_named_with_its_line(exercise_spec, submission, engine):
    folder = submission(edit_dockerfile=lambda text: text.replace("RUN pip install", "RUN exit 3 && pip install"))
    build = result(graded(exercise_spec, "exercise-01", folder, engine), "build")
    assert build.status is Status.FAILED
    assert "exit code 3" in build.message and "Dockerfile:13" in build.message


def test_endless_step_is_stopped_at_the_time_limit(exercise_spec, submission, engine):
    folder = submission(edit_dockerfile=lambda text: text.replace("RUN pip install", "RUN sleep 600 && pip install"))
    started = time.monotonic()
    build = result(graded(exercise_spec, "exercise-01", folder, engine, build_timeout=8), "build")
    assert time.monotonic() - started < 60
    assert build.status is Status.FAILED and "RUN sleep 600" in build.message
    assert not _sleeping_steps()


def test_step_writing_too_much_is_stopped(exercise_spec, submission, engine, monkeypatch):
    import grader.engine.session

    monkeypatch.setattr(grader.engine.limits, "MAX_STEP_WRITE_BYTES", 300_000_000)
    edit = lambda text: text.replace("RUN pip install", "RUN dd if=/dev/zero of=/filler bs=1M count=4000 && pip install")  # noqa: E731
    build = result(graded(exercise_spec, "exercise-01", submission(edit_dockerfile=edit), engine, build_timeout=120), "build")
    assert build.status is Status.FAILED
    assert "wrote more than 300 MB" in build.message and "RUN dd" in build.message


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_build_leaves_nothing(sig, repo, submission, engine, no_leftovers):
    folder = submission(edit_dockerfile=lambda text: text.replace("RUN pip install", "RUN sleep 600 && pip install"))
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", "exercise-01", "--path", str(folder), "--builder", "buildkit", "--no-record"],
        cwd=repo, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _sleeping_steps() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert _sleeping_steps(), "the build never reached its sleep step"
        process.send_signal(sig)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not _sleeping_steps()  # BuildKit's step process is gone with the cancelled build
    assert labelled(engine, no_leftovers) == ([], [], [])


def _sleeping_steps() -> list[int]:
    """Processes on this machine running a build step's `sleep 600` (BuildKit's steps are no containers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command[:2] == [b"sleep", b"600"]:
            found.append(int(entry.name))
    return found
