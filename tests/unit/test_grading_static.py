"""grading without an engine: static_report, unreadable Dockerfiles, final_base_reference, and grade()
driven through a fake Session."""

from __future__ import annotations

import threading

import pytest

from unit_helpers import SOLUTION, STARTER, FakeContainer, chunks, docker_save_tar, load_inspect, make_response, proc_net, tcp_line
from grader import grading
from grader.context import BuildResult, RunState
from grader.dockerfile import MAX_DOCKERFILE_BYTES, DockerfileError, load
from grader.model import Status
from grader.errors import ContainerRefused, EngineUnavailable

STATIC_KINDS = {"no_todo", "base_image", "workdir_before_copy", "pip_no_cache", "exec_form_cmd", "hadolint"}


def by_kind(report) -> dict:
    return {result.spec.kind: result for result in report.results}


# -- static_report -------------------------------------------------------------------------


def test_static_report_on_the_solution_passes_every_static_check(exercise):
    report, ctx = grading.static_report(exercise, SOLUTION)
    results = by_kind(report)
    assert STATIC_KINDS <= set(results)
    for kind in STATIC_KINDS:
        assert results[kind].status is Status.PASSED, (kind, results[kind].message)
    assert ctx.dockerfile is not None and ctx.dockerfile_problem == ""
    # nothing that needs an image or a container ran
    assert not {"image_exposes", "image_size", "container_ready", "predictions"} & set(results)


def test_static_report_does_not_run_the_build_check(exercise):
    # Regression: `build` was registered with needs="dockerfile" and failed "the image was not built" here.
    report, _ = grading.static_report(exercise, SOLUTION)
    assert "build" not in by_kind(report)
    assert all(result.status is not Status.FAILED for result in report.results), [
        (r.spec.kind, r.message) for r in report.results if r.status is Status.FAILED
    ]


def test_static_report_on_the_untouched_starter_fails_no_todo(exercise):
    report, _ = grading.static_report(exercise, STARTER)
    results = by_kind(report)
    assert results["no_todo"].status is Status.FAILED
    assert results["no_todo"].location.startswith("Dockerfile:")
    assert results["no_todo"].score == 0
    assert results["base_image"].status is Status.FAILED
    assert report.score == 0


def test_static_report_without_dockerfile_blocks_instead_of_crashing(exercise, tmp_path):
    report, ctx = grading.static_report(exercise, tmp_path)
    assert ctx.dockerfile is None
    assert "no Dockerfile in" in ctx.dockerfile_problem
    assert report.results, "static checks should still be listed"
    for result in report.results:
        assert result.status is Status.BLOCKED, result.spec.kind
        assert "no Dockerfile to read" in result.message and str(tmp_path / "Dockerfile") in result.message
    assert report.score == 0


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "is empty"),
        (b"  \n\t\n", "is empty"),
        (b"FROM python:3.11-slim\n\x00\x01\x02", "binary file"),
        ("FROM python:3.11-slim\n# café\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unreadable_dockerfiles_give_clear_errors(content, says, tmp_path, exercise):
    (tmp_path / "Dockerfile").write_bytes(content)
    with pytest.raises(DockerfileError) as caught:
        load(tmp_path)
    message = str(caught.value)
    assert says in message
    assert str(tmp_path / "Dockerfile") in message
    report, _ = grading.static_report(exercise, tmp_path)
    assert all(r.status is Status.BLOCKED and says in r.message for r in report.results)


def test_latin1_error_names_the_byte_and_the_fix(tmp_path):
    (tmp_path / "Dockerfile").write_bytes("FROM python:3.11-slim\n# café\n".encode("latin-1"))
    with pytest.raises(DockerfileError) as caught:
        load(tmp_path)
    offset = len("FROM python:3.11-slim\n# caf")
    assert f"byte {offset}" in str(caught.value) and "save it as UTF-8" in str(caught.value)


def test_oversized_dockerfile_is_refused(tmp_path):
    (tmp_path / "Dockerfile").write_text("# x\n" * (MAX_DOCKERFILE_BYTES // 4 + 1), encoding="utf-8")
    with pytest.raises(DockerfileError) as caught:
        load(tmp_path)
    assert "bytes" in str(caught.value) and "shorten it" in str(caught.value)


def test_missing_dockerfile_error_says_where_to_create_it(tmp_path):
    with pytest.raises(DockerfileError) as caught:
        load(tmp_path)
    assert f"create {tmp_path / 'Dockerfile'}" in str(caught.value)


def test_utf8_bom_and_crlf_are_accepted(tmp_path):
    (tmp_path / "Dockerfile").write_bytes(b"\xef\xbb\xbfFROM python:3.11-slim\r\nWORKDIR /app\r\n")
    parsed = load(tmp_path)
    assert [(i.keyword, i.value, i.line) for i in parsed.commands()] == [("FROM", "python:3.11-slim", 1), ("WORKDIR", "/app", 2)]


# -- final_base_reference ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("FROM python:3.11-slim\n", "python:3.11-slim"),
        ("FROM python:3.11-slim AS build\nRUN x\nFROM build\n", "python:3.11-slim"),
        ("FROM python:3.11-slim as Build\nFROM BUILD\n", "python:3.11-slim"),
        ("FROM python:3.11-slim AS a\nFROM a AS b\nFROM b\n", "python:3.11-slim"),
        ("FROM --platform=linux/amd64 python:3.11-slim AS base\nFROM base\n", "python:3.11-slim"),
        ("FROM python:3.11 AS builder\nFROM python:3.11-slim\nCOPY --from=builder /a /a\n", "python:3.11-slim"),
        ("FROM python:3.11-slim AS build\nFROM build AS final\n", "python:3.11-slim"),
        ("# no FROM yet\n", None),
    ],
)
def test_final_base_reference_follows_stage_names(text, expected, make_ctx):
    assert grading.final_base_reference(make_ctx(text)) == expected


# -- grade() with a fake Session: the whole flow without an engine -------------------------


class FakeSession:
    """Stands in for grader.engine.session.Session; records what grade() asked of it."""

    instances: list["FakeSession"] = []

    def __init__(self, client, exercise_id, build_ok=True, builder="classic"):
        self.exercise_id = exercise_id
        self.build_ok = build_ok
        self.calls: list[str] = []
        self.closed = False
        FakeSession.instances.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.closed = True

    def open_network(self, open_to_outside=False):
        self.calls.append(f"network {'open' if open_to_outside else 'internal'}")

    def build(self, folder, dockerfile, timeout, on_progress=lambda text: None):
        self.calls.append("build")
        if not self.build_ok:
            return BuildResult(ok=False, duration=1.0, error="a RUN step failed with exit code 1", instruction=dockerfile.find("RUN")[0])
        return BuildResult(ok=True, image_id="sha256:" + "c" * 64, duration=4.2, total_steps=6)

    def inspect_image(self, reference):
        self.calls.append(f"inspect {reference}")
        return load_inspect("solution-image.json") if reference.startswith("sha256:") else load_inspect("base-image.json")

    def start(self, image_id, port, limits):
        self.calls.append("start")
        return FakeContainer(responder=iris_app, proc_net=proc_net([tcp_line(0, "00000000:1389")]))

    def wait_ready(self, running, path, timeout):
        self.calls.append(f"wait {path}")
        return RunState(running, ready=True, startup_seconds=0.8)

    def save_image(self, image_id):
        self.calls.append("save")
        layers = [[("usr/bin/python3", b"x" * 100)], [("app/flask_api_v2.py", b"y" * 10)]]
        return chunks(docker_save_tar(layers, {"history": []}))


def iris_app(method, path, kwargs):
    """Answers like the reference solution."""
    if method == "GET":
        return make_response(200, {"status": "ok"})
    if "json" in kwargs:
        petal_length = kwargs["json"]["features"][2]
        return make_response(200, {"prediction": int(petal_length > 5.15), "label": "x", "probability": 0.5})
    return make_response(400, {"error": "expected a JSON object like {\"features\": [...]}"})


@pytest.fixture
def fake_session(monkeypatch):
    FakeSession.instances.clear()
    monkeypatch.setattr(grading, "Session", FakeSession)
    monkeypatch.setattr(grading, "connect", lambda: pytest.fail("grade() must use the client it is given"))
    return FakeSession


def test_grade_runs_every_stage_in_order_and_cleans_up(exercise, fake_session):
    progress: list[str] = []
    report = grading.grade(exercise, SOLUTION, client=object(), progress=progress.append)
    (session,) = fake_session.instances
    assert session.closed
    # The network is asked for first: it is made while the image builds.
    assert session.calls[:5] == ["network internal", "build", "inspect sha256:" + "c" * 64, "inspect python:3.11-slim", "start"]
    assert sorted(session.calls[5:]) == ["save", "wait /health"]  # the image is read while the app starts
    assert [r.spec.id for r in report.results] == [c.id for c in exercise.checks]
    failed = {r.spec.kind: r.message for r in report.results if r.status is not Status.PASSED}
    assert failed == {}
    assert report.facts["image_mb"] == 452.1 and report.facts["layers_added"] == 3
    assert report.facts["added_mb"] == 321.3 and report.facts["startup_seconds"] == 0.8
    assert progress[0] == "static checks" and "cleaning up" in progress


class SlowAppSession(FakeSession):
    """An app that answers only once the image has been read, or after 5 s: proves the two overlap."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.saved = threading.Event()
        self.overlapped = False

    def save_image(self, image_id):
        self.saved.set()
        return super().save_image(image_id)

    def wait_ready(self, running, path, timeout):
        self.overlapped = self.saved.wait(5)
        return super().wait_ready(running, path, timeout)


def test_the_image_is_read_while_the_app_starts(exercise, monkeypatch):
    SlowAppSession.instances.clear()
    monkeypatch.setattr(grading, "Session", SlowAppSession)
    waited: list[str] = []
    report = grading.grade(exercise, SOLUTION, client=object(), while_waiting=lambda: waited.append("called"))
    (session,) = SlowAppSession.instances
    assert session.calls.index("start") < session.calls.index("save")  # not before the start, as it was
    assert session.overlapped and waited == ["called"]
    assert by_kind(report)["layer_efficiency"].status is Status.PASSED and report.full_marks


class RefusedStartSession(FakeSession):
    def start(self, image_id, port, limits):
        self.calls.append("start")
        raise ContainerRefused("driver failed programming external connectivity")

    def engine_alive(self):
        return True


def test_a_refused_start_still_reads_the_image(exercise, monkeypatch):
    RefusedStartSession.instances.clear()
    monkeypatch.setattr(grading, "Session", RefusedStartSession)
    report = grading.grade(exercise, SOLUTION, client=object())
    (session,) = RefusedStartSession.instances
    assert session.calls[-2:] == ["start", "save"] and session.closed
    assert by_kind(report)["layer_efficiency"].status is Status.PASSED
    assert by_kind(report)["container_ready"].status is Status.BLOCKED


class EngineLostWhileSavingSession(FakeSession):
    def save_image(self, image_id):
        self.calls.append("save")
        raise EngineUnavailable("the Docker engine stopped answering during docker save")

    def engine_alive(self):
        return False


def test_an_engine_lost_while_the_image_is_read_ends_the_grading(exercise, monkeypatch):
    EngineLostWhileSavingSession.instances.clear()
    monkeypatch.setattr(grading, "Session", EngineLostWhileSavingSession)
    with pytest.raises(EngineUnavailable, match="during docker save"):
        grading.grade(exercise, SOLUTION, client=object())
    (session,) = EngineLostWhileSavingSession.instances
    assert session.closed


def test_grade_gives_the_reference_solution_full_marks(exercise, fake_session):
    # Regression: the build check used to run before the build and score 0 even when it succeeded.
    report = grading.grade(exercise, SOLUTION, client=object())
    assert by_kind(report)["build"].status is Status.PASSED
    assert by_kind(report)["build"].message.startswith("built in 4.2 s")
    assert report.full_marks and report.score == exercise.max_score


def test_grade_failed_build_blocks_later_checks(exercise, monkeypatch):
    FakeSession.instances.clear()
    monkeypatch.setattr(grading, "Session", lambda client, exercise_id, **options: FakeSession(client, exercise_id, build_ok=False, **options))
    report = grading.grade(exercise, SOLUTION, client=object())
    (session,) = FakeSession.instances
    assert session.closed and session.calls == ["network internal", "build"]
    results = by_kind(report)
    for kind in ("image_exposes", "image_size", "container_ready", "predictions"):
        assert results[kind].status is Status.BLOCKED, kind
    assert results["image_exposes"].message == "not checked: the build failed (see the build check)"
    assert results["no_todo"].status is Status.PASSED
    run_line = next(n for n, line in enumerate((SOLUTION / "Dockerfile").read_text().splitlines(), 1) if line.startswith("RUN"))
    assert results["build"].status is Status.FAILED and results["build"].location == f"Dockerfile:{run_line}"
    assert "exit code 1" in results["build"].message


def test_grade_without_dockerfile_blocks_everything_and_builds_nothing(exercise, fake_session, tmp_path):
    report = grading.grade(exercise, tmp_path, client=object())
    (session,) = fake_session.instances
    assert session.calls == [] and session.closed
    assert all(r.status is Status.BLOCKED for r in report.results)
    assert report.score == 0


def test_only_image_checks_may_run_while_the_app_starts():
    from grader.kinds import register

    with pytest.raises(ValueError, match="only an image check"):
        register("never_registered_kind", needs="ready", while_app_starts=True)(lambda ctx, params: None)
