"""The grading child process and the batch command, without an engine: not gradable, never a 0."""

from __future__ import annotations

import subprocess
import sys
import time

from unit_helpers import LABS, NO_ENGINE, REPO_ROOT, SOLUTION
from grader.rows import NOT_GRADABLE
from grader.model import CheckResult, Status
from grader.worker import Children, _stop, grade_in_subprocess, infrastructure_problem, partial_report

from batch_helpers import report_of


def test_a_child_without_an_engine_is_not_gradable(exercise):
    attempt = grade_in_subprocess(exercise, LABS, SOLUTION, NO_ENGINE, time_limit=60, build_timeout=60, children=Children())
    assert attempt.state == NOT_GRADABLE and attempt.report is None
    assert "no Docker engine answered" in attempt.message


def test_partial_report_blocks_what_did_not_run_with_the_reason(exercise):
    first = CheckResult(exercise.checks[0], Status.PASSED, "fine")
    report = partial_report(exercise, SOLUTION, [first], "not checked: grading exceeded 5 s", 5.0)
    assert [r.spec.id for r in report.results] == [c.id for c in exercise.checks]
    assert report.results[0] is first and report.score == exercise.checks[0].points
    assert all(r.status is Status.BLOCKED and "exceeded 5 s" in r.message for r in report.results[1:])


def test_out_of_disk_inside_a_report_is_the_machine_s_fault(exercise):
    report = report_of(exercise, {"build": Status.FAILED})
    assert infrastructure_problem(report) == ""
    report.results[6] = CheckResult(report.results[6].spec, Status.FAILED, "the build failed", detail="write /x: no space left on device")
    assert "no space left on device" in infrastructure_problem(report)


def test_stop_kills_a_child_that_ignores_sigterm():
    child = subprocess.Popen([sys.executable, "-c",
                              "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE, start_new_session=True, text=True)
    child.stdout.readline()
    started = time.monotonic()
    _stop(child, grace=0.5)
    assert child.returncode == -9 and time.monotonic() - started < 5


def batch_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "batch", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": NO_ENGINE, "PYTHONPATH": str(REPO_ROOT)})


def test_batch_without_an_engine_exits_2_and_says_so(tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    completed = batch_cli("exercise-01", str(tmp_path / "subs"), "--out", str(tmp_path / "out"))
    assert completed.returncode == 2
    assert "no engine answered" in completed.stderr and "Traceback" not in completed.stderr
    second = batch_cli("exercise-01", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--engine", "tcp://127.0.0.1:1", "--engine", NO_ENGINE)
    assert second.returncode == 2 and "tcp://127.0.0.1:1" in second.stderr


def test_batch_with_a_missing_folder_or_exercise_exits_2(tmp_path):
    assert batch_cli("exercise-01", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")).returncode == 2
    unknown = batch_cli("exercise-99", str(tmp_path), "--out", str(tmp_path / "out"))
    assert unknown.returncode == 2 and "unknown exercise" in unknown.stderr


def test_batch_help_names_the_options():
    completed = batch_cli("--help")
    assert completed.returncode == 0
    for option in ("--out", "-j", "--engine", "--timeout", "--regrade", "--similarity"):
        assert option in completed.stdout
