"""Session.build reading a recorded build stream (no engine): results, explanations, infrastructure errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from grader.dockerfile import parse_text
from grader.errors import EngineDiskFull, EngineUnavailable
from grader.engine.session import Session

DOCKERFILE = "FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\nRUN pip install --no-cache-dir -r requirements.txt\n"


class FakeAPI:
    """The few low-level calls Session.build makes, answering with a recorded event stream."""

    def __init__(self, events=None, failure: Exception | None = None):
        self.events = events or []
        self.failure = failure

    def _url(self, path, *args):
        return path

    def _post(self, *args, **kwargs):
        if self.failure:
            raise self.failure
        return object()

    def _raise_for_status(self, response):
        return None

    def _stream_helper(self, response, decode=True):
        yield from self.events


class FakeClient:
    def __init__(self, api):
        self.api = api


def steps(*texts):
    return [{"stream": f"Step {n}/{len(texts) + 1} : {text}\n"} for n, text in enumerate(texts, start=1)]


def build(tmp_path: Path, api: FakeAPI):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    session = Session(FakeClient(api), "exercise-01")
    return session, session.build(tmp_path, parse_text(DOCKERFILE), timeout=30)


def test_a_successful_stream_gives_the_image_and_counts_learner_steps(tmp_path):
    events = steps("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", "RUN pip install") + [
        {"stream": " ---> Using cache\n"},
        {"stream": "Step 5/5 : LABEL org.labkit.session=x\n"},
        {"aux": {"ID": "sha256:abc"}},
    ]
    session, result = build(tmp_path, FakeAPI(events))
    assert result.ok and result.image_id == "sha256:abc"
    assert result.total_steps == 4 and result.cached_steps == 1  # the grader's LABEL step is not the learner's
    assert session.image_ids == ["sha256:abc"]  # removed at cleanup


def test_a_failing_run_names_its_line_and_exit_code(tmp_path):
    events = steps("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", "RUN pip install") + [
        {"error": "x", "errorDetail": {"message": "The command '/bin/sh -c pip install' returned a non-zero code: 1"}},
    ]
    _, result = build(tmp_path, FakeAPI(events))
    assert not result.ok
    assert result.instruction.location == "Dockerfile:4"
    assert "exit code 1" in result.error


def test_a_killed_run_says_memory(tmp_path):
    events = steps("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", "RUN pip install") + [
        {"error": "x", "errorDetail": {"message": "The command '/bin/sh -c pip install' returned a non-zero code: 137"}},
    ]
    _, result = build(tmp_path, FakeAPI(events))
    assert "137" in result.error and "memory" in result.error


def test_a_full_disk_is_the_machines_problem_not_the_learners(tmp_path):
    events = steps("FROM python:3.11-slim", "WORKDIR /app") + [
        {"error": "x", "errorDetail": {"message": "failed to copy files: write /var/lib/docker/x: no space left on device"}},
    ]
    with pytest.raises(EngineDiskFull) as raised:
        build(tmp_path, FakeAPI(events))
    assert "out of disk space" in str(raised.value) and "grader clean --cache" in str(raised.value)


def test_a_run_step_that_hits_a_full_disk_is_the_machines_problem_too(tmp_path):
    """Measured on an engine with a 400 MB disk: the step's own output is the only place that says why."""
    events = steps("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", "RUN pip install") + [
        {"stream": "\x1b[91mhead: error writing 'standard output'"},  # one line, in two events
        {"stream": ": No space left on device\n\x1b[0m"},
        {"error": "x", "errorDetail": {"message": "The command '/bin/sh -c pip install' returned a non-zero code: 1"}},
    ]
    with pytest.raises(EngineDiskFull) as raised:
        build(tmp_path, FakeAPI(events))
    assert "(head: error writing 'standard output': No space left on device)" in str(raised.value)


def test_the_phrase_long_before_the_failure_is_the_learners_output(tmp_path):
    """A step that echoed the words, then failed for another reason: a build failure, not a full disk."""
    events = steps("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", "RUN pip install") + [
        {"stream": "test fixture: No space left on device\n"},
        *({"stream": f"Collecting package-{n}\n"} for n in range(10)),
        {"error": "x", "errorDetail": {"message": "The command '/bin/sh -c pip install' returned a non-zero code: 1"}},
    ]
    _, result = build(tmp_path, FakeAPI(events))
    assert not result.ok and "exit code 1" in result.error


def test_a_learner_step_failing_for_its_own_reasons_stays_a_build_failure(tmp_path):
    events = steps("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", "RUN pip install") + [
        {"stream": "\x1b[91mERROR: No matching distribution found for scikit-lern\n\x1b[0m"},
        {"error": "x", "errorDetail": {"message": "The command '/bin/sh -c pip install' returned a non-zero code: 1"}},
    ]
    _, result = build(tmp_path, FakeAPI(events))
    assert not result.ok
    assert "ERROR: No matching distribution found for scikit-lern" in result.log_tail  # colours removed
    assert "\x1b" not in result.log_tail


def test_a_step_printing_without_newlines_is_kept_bounded(tmp_path):
    events = steps("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", "RUN pip install") + [
        {"stream": "x" * 100_000} for _ in range(50)
    ] + [{"error": "x", "errorDetail": {"message": "The command '/bin/sh -c pip install' returned a non-zero code: 1"}}]
    _, result = build(tmp_path, FakeAPI(events))
    assert len(result.log_tail) < 100_000


def test_a_dropped_connection_is_an_engine_failure(tmp_path):
    import requests

    with pytest.raises(EngineUnavailable) as raised:
        build(tmp_path, FakeAPI(failure=requests.ConnectionError("socket closed")))
    assert "stopped answering" in str(raised.value)


def test_an_oversized_context_is_refused_before_sending(tmp_path, monkeypatch):
    import grader.engine.session

    monkeypatch.setattr(grader.engine.limits, "MAX_CONTEXT_BYTES", 1000)
    (tmp_path / "data.bin").write_bytes(b"x" * 5000)
    api = FakeAPI(failure=AssertionError("nothing may be sent"))
    _, result = build(tmp_path, api)
    assert not result.ok and "data.bin" in result.error and ".dockerignore" in result.error


class SlowAPI(FakeAPI):
    """A stream that goes on after the grader gives up, as the engine's does; RUN steps wait to be stopped."""

    def __init__(self, events):
        super().__init__(events)
        self.removed: list[str] = []
        self.step_stopped = threading.Event()

    def _stream_helper(self, response, decode=True):
        for event in self.events:
            time.sleep(0.05)
            if event == "wait for the step to be stopped":
                self.step_stopped.wait(timeout=10)
                continue
            yield event

    def remove_container(self, container_id, force=False):
        self.removed.append(container_id)
        self.step_stopped.set()


def _interrupt_at(marker):
    def on_progress(text):
        if marker in text:
            raise KeyboardInterrupt

    return on_progress


def test_a_stop_at_the_label_step_still_learns_the_image_the_engine_commits(tmp_path):
    events = steps("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", "RUN pip install") + [
        {"stream": "Step 5/5 : LABEL org.labkit.session=x\n"},
        {"aux": {"ID": "sha256:committed-after-the-stop"}},
        {"stream": "Successfully built 123\n"},
    ]
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    session = Session(FakeClient(SlowAPI(events)), "exercise-01")
    with pytest.raises(KeyboardInterrupt):
        session.build(tmp_path, parse_text(DOCKERFILE), timeout=30, on_progress=_interrupt_at("labelling"))
    assert session.image_ids == ["sha256:committed-after-the-stop"]  # so cleanup removes it


def test_a_stop_during_a_run_step_removes_its_container_and_reads_the_end(tmp_path):
    events = steps("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", "RUN pip install") + [
        {"stream": " ---> Running in 0ddba11\n"},
        "wait for the step to be stopped",
        {"error": "x", "errorDetail": {"message": "The command '/bin/sh -c pip install' returned a non-zero code: 137"}},
    ]
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    api = SlowAPI(events)
    session = Session(FakeClient(api), "exercise-01")
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        session.build(tmp_path, parse_text(DOCKERFILE), timeout=30, on_progress=_interrupt_at("step 4/"))
    assert api.removed == ["0ddba11"]
    assert time.monotonic() - started < 5  # ended by the step's failure, not by the wind-down limit
    assert not session.unsure  # the build was seen to its end: nothing unknown to sweep for


class UploadingAPI(FakeAPI):
    """An engine that reads the build context slowly, as it does for a big one."""

    def __init__(self):
        super().__init__([])
        self.chunks_read = 0
        self.upload_error: Exception | None = None

    def _post(self, url, data=None, **kwargs):
        try:
            for _chunk in data:
                self.chunks_read += 1
                time.sleep(0.05)
        except Exception as error:  # what requests would see: the body generator raising
            self.upload_error = error
            raise
        return object()


def test_a_stop_while_the_context_is_sent_ends_the_upload(tmp_path):
    """Before the response there is nothing to cut: the upload itself must stop, or the engine builds it all."""
    import os
    import signal

    from grader.engine.classic import BuildAbandoned

    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "big.bin").write_bytes(os.urandom(30 * 1024 * 1024))  # 30 chunks of 1 MiB
    api = UploadingAPI()
    session = Session(FakeClient(api), "exercise-01")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            session.build(tmp_path, parse_text(DOCKERFILE), timeout=30)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert isinstance(api.upload_error, BuildAbandoned)
    assert api.chunks_read < 30
    assert time.monotonic() - started < 3  # not the wind-down's 5 s limit
