"""Hostile and broken submissions: each is graded in bounded time, with a clear message, leaving nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

import grader.engine.limits
from grader import spec
from grader.model import Status
from tests.integration.conftest import grade_folder, result, statuses

pytestmark = pytest.mark.usefixtures("no_leftovers")

READY_TIMEOUT = 8  # seconds the hostile cases get to answer (labs.yaml gives learners 60)
HOG_READY_TIMEOUT = 30  # the app beside four CPU hogs in its own container


@pytest.fixture(scope="module")
def quick_exercise(repo, tmp_path_factory):
    """exercise-01 with a short readiness timeout, so cases that never answer end quickly."""
    return exercise_01_answering_within(READY_TIMEOUT, repo, tmp_path_factory)


@pytest.fixture(scope="module")
def patient_exercise(repo, tmp_path_factory):
    """exercise-01 with room to start beside CPU hogs: the app's share of the CPU depends on the
    machine's other load (measured: 8 s ran out once while other test runs shared the 2 cores)."""
    return exercise_01_answering_within(HOG_READY_TIMEOUT, repo, tmp_path_factory)


def exercise_01_answering_within(seconds: float, repo, tmp_path_factory):
    """exercise-01 whose readiness check waits SECONDS."""
    document = yaml.safe_load((repo / "labs.yaml").read_text())
    exercise = next(e for e in document["exercises"] if e["id"] == "exercise-01")
    for check in exercise["checks"]:
        if check["kind"] == "container_ready":
            check["params"]["timeout"] = seconds
    path = tmp_path_factory.mktemp("labs") / "labs.yaml"
    path.write_text(yaml.safe_dump({"exercises": [exercise]}))
    return spec.find_exercise(spec.load(path), "exercise-01")


def with_cmd(python_code: str):
    """An edit that replaces the solution's CMD with `python -c CODE` (the pip layer stays cached)."""
    return lambda text: text.replace('CMD ["python", "flask_api_v2.py"]', "CMD " + json.dumps(["python", "-c", python_code]))


def graded(exercise, folder, engine, limit: float, **kwargs):
    """Grade within LIMIT seconds; with LABKIT_HOSTILE_LOG=FILE, each case's outcome is appended there."""
    started = time.monotonic()
    report = grade_folder(exercise, folder, engine, **kwargs)
    elapsed = time.monotonic() - started
    if os.environ.get("LABKIT_HOSTILE_LOG"):
        log_outcome(Path(os.environ["LABKIT_HOSTILE_LOG"]), report, elapsed)
    assert elapsed < limit, f"grading took {elapsed:.0f} s"
    return report


def log_outcome(path: Path, report, elapsed: float) -> None:
    """One JSON line per case: the test, its score, its time and the first message that is not a pass."""
    first = next((r for r in report.results if r.status is not Status.PASSED), None)
    line = {
        "case": os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0],
        "score": f"{report.score:g}/{report.max_score:g}", "seconds": round(elapsed, 1),
        "check": first.spec.id if first else None, "message": first.message if first else "",
    }
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(line, ensure_ascii=False) + "\n")


# -- run time ---------------------------------------------------------------------------------

def test_exits_at_once_says_how(quick_exercise, submission, engine):
    report = graded(quick_exercise, submission(edit_dockerfile=with_cmd("print('bye'); raise SystemExit(3)")), engine, 60)
    ready = result(report, "container-ready")
    assert ready.status is Status.FAILED
    assert "exited with code 3" in ready.message and "bye" in ready.message


def test_memory_hog_is_oom_killed(quick_exercise, submission, engine):
    code = "x = bytearray(3 * 1024 ** 3); print(len(x))"
    report = graded(quick_exercise, submission(edit_dockerfile=with_cmd(code)), engine, 60)
    ready = result(report, "container-ready")
    assert ready.status is Status.FAILED
    assert "OOM" in ready.message or "137" in ready.message


def test_fork_bomb_is_contained(quick_exercise, submission, engine):
    code = "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.1)"
    report = graded(quick_exercise, submission(edit_dockerfile=with_cmd(code)), engine, 90)
    assert result(report, "container-ready").status is Status.FAILED
    assert os.fork  # the host still forks: this test process is alive and the next line runs
    assert report.score < report.max_score


def test_cpu_hog_is_graded_and_the_grader_keeps_its_share(patient_exercise, submission, engine):
    """Four busy processes beside the app: CPU is shared by weight, so the app still starts and
    the grading ends in bounded time while the hogs hold every core they can get."""
    code = (
        "import os\nfor _ in range(4):\n    if os.fork() == 0:\n        while True:\n            pass\n"
        "os.execvp('python', ['python', 'flask_api_v2.py'])"
    )
    report = graded(patient_exercise, submission(edit_dockerfile=with_cmd(code)), engine, 90)
    assert result(report, "container-ready").status is Status.PASSED
    assert result(report, "predictions").status is Status.PASSED


def test_log_flood_is_capped(quick_exercise, submission, engine):
    code = "import sys\nwhile True:\n    sys.stdout.write('flood ' * 200 + '\\n')"
    report = graded(quick_exercise, submission(edit_dockerfile=with_cmd(code)), engine, 90)
    ready = result(report, "container-ready")
    assert ready.status is Status.FAILED
    assert len(ready.message) < 20_000  # the tail of the logs, never the flood


def test_never_answers_says_nothing_listens(quick_exercise, submission, engine):
    report = graded(quick_exercise, submission(edit_dockerfile=with_cmd("import time; time.sleep(600)")), engine, 60)
    ready = result(report, "container-ready")
    assert ready.status is Status.FAILED
    assert "no process in the container listens" in ready.message
    assert statuses(report)["predictions"] is Status.BLOCKED


SERVER = """
import http.server, json, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')
    def do_POST(self):
        {behaviour}
http.server.ThreadingHTTPServer(('0.0.0.0', 5001), H).serve_forever()
"""


def test_slow_answers_time_out(quick_exercise, submission, engine):
    code = SERVER.format(behaviour="time.sleep(60)")
    report = graded(quick_exercise, submission(edit_dockerfile=with_cmd(code)), engine, 90)
    predictions = result(report, "predictions")
    assert predictions.status is Status.FAILED
    assert "got no answer" in predictions.message and "Timeout" in predictions.message


def test_huge_garbage_body_is_read_bounded(quick_exercise, submission, engine):
    behaviour = (
        "self.send_response(200); self.send_header('Content-Type', 'image/png'); self.end_headers()\n"
        "        [self.wfile.write(b'\\x89garbage' * 100000) for _ in range(200)]"
    )
    report = graded(quick_exercise, submission(edit_dockerfile=with_cmd(SERVER.format(behaviour=behaviour))), engine, 90)
    predictions = result(report, "predictions")
    assert predictions.status is Status.FAILED
    assert "not JSON" in predictions.message and "more than 1,000,000 bytes of binary data (image/png)" in predictions.message
    assert len(predictions.message) < 1000


def test_misbehaving_healthcheck_and_stopsignal_do_not_matter(quick_exercise, submission, engine):
    def edit(text):
        return text.replace("EXPOSE 5001", "EXPOSE 5001\nSTOPSIGNAL SIGUSR1\nHEALTHCHECK --interval=1s --timeout=1s CMD [\"sleep\", \"100\"]")

    report = graded(quick_exercise, submission(edit_dockerfile=edit), engine, 60)
    assert result(report, "predictions").status is Status.PASSED  # removal is forced: no stop signal is awaited


# -- build time -------------------------------------------------------------------------------

def test_build_step_writing_too_much_is_stopped(quick_exercise, submission, engine, monkeypatch):
    monkeypatch.setattr(grader.engine.limits, "MAX_STEP_WRITE_BYTES", 300_000_000)
    edit = lambda text: text.replace("RUN pip install", "RUN dd if=/dev/zero of=/filler bs=1M count=4000 && pip install")  # noqa: E731
    report = graded(quick_exercise, submission(edit_dockerfile=edit), engine, 120, build_timeout=120)
    build = result(report, "build")
    assert build.status is Status.FAILED
    assert "wrote more than 300 MB" in build.message and "RUN dd" in build.message


def test_build_step_using_too_much_memory_is_killed(quick_exercise, submission, engine):
    hog = 'RUN python3 -c "x = bytearray(3 * 1024 ** 3); print(len(x))"\nRUN pip install'
    report = graded(quick_exercise, submission(edit_dockerfile=lambda text: text.replace("RUN pip install", hog)), engine, 120)
    build = result(report, "build")
    assert build.status is Status.FAILED
    assert "137" in build.message and "memory" in build.message and "RUN python3" in build.message


def test_huge_build_context_is_refused_early(quick_exercise, submission, engine):
    folder = submission()
    with open(folder / "dataset.bin", "wb") as handle:  # sparse: 3 GB that costs no disk
        handle.truncate(3 * 1024 ** 3)
    report = graded(quick_exercise, folder, engine, 30)
    build = result(report, "build")
    assert build.status is Status.FAILED
    assert "dataset.bin" in build.message and "3,221 MB" in build.message and ".dockerignore" in build.message


def test_symlink_outside_the_context_is_sent_as_a_link(quick_exercise, submission, engine):
    folder = submission()
    os.symlink("/etc/hostname", folder / "host_file")
    report = graded(quick_exercise, folder, engine, 90)
    assert report.score == report.max_score  # harmless: Docker copies the link itself, not the host file


def test_unpullable_base_image_is_explained(quick_exercise, submission, engine):
    edit = lambda text: text.replace("FROM python:3.11-slim", "FROM labkit-no-such-image:1.0")  # noqa: E731
    report = graded(quick_exercise, submission(edit_dockerfile=edit), engine, 60)
    build = result(report, "build")
    assert build.status is Status.FAILED
    assert "labkit-no-such-image:1.0" in build.message and "could not be pulled" in build.message


@pytest.mark.parametrize(
    "name, content, phrase",
    [
        ("utf16", "FROM python:3.11-slim\n".encode("utf-16"), "UTF-16"),
        ("empty", b"", "is empty"),
        ("binary", bytes(range(256)) * 4, "binary file"),
        ("ten-thousand-lines", b"RUN true\n" * 10_000, "10,001 lines"),
    ],
)
def test_unreadable_dockerfiles_are_a_graded_zero(name, content, phrase, quick_exercise, submission, engine):
    folder = submission(name=name)
    (folder / "Dockerfile").write_bytes(content)
    report = graded(quick_exercise, folder, engine, 20)
    assert report.score == 0
    assert phrase in result(report, "no-todo").message
    assert result(report, "build").status is Status.BLOCKED
