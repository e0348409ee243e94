"""Checks on the running container, against a fake container (no engine)."""

from __future__ import annotations

import json

import pytest
import requests

from unit_helpers import FakeContainer, make_response, proc_net, running, spec_of, tcp_line
from grader.facts.diagnosis import answer_excerpt, diagnose_not_answering
from grader.listeners import is_loopback, parse_listeners
from grader.context import Container, RunState
from grader.grading import run_check
from grader.model import Status

ANY4 = "00000000:1389"  # 0.0.0.0:5001
LOOP4 = "0100007F:1389"  # 127.0.0.1:5001
ANY6 = "00000000000000000000000000000000:1389"  # [::]:5001
LOOP6 = "00000000000000000000000001000000:1389"  # [::1]:5001
MAPPED_LOOP6 = "0000000000000000FFFF00000100007F:1389"  # [::ffff:127.0.0.1]:5001

APP_SOURCE = '''\
"""Iris API."""
from flask import Flask

app = Flask(__name__)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5001)
'''
RUN_LINE = 8


def test_fake_container_implements_the_protocol():
    members = {"request", "exec_output", "state", "logs_tail"}
    assert members <= {name for name in vars(Container) if not name.startswith("_")}
    fake = FakeContainer()
    for name in members:
        assert callable(getattr(fake, name))
    assert fake.port == 5001 and isinstance(fake.address, str)


# -- parse_listeners -----------------------------------------------------------------------


def test_parse_listeners_decodes_ipv4_and_ipv6():
    text = proc_net(
        [tcp_line(0, LOOP4), tcp_line(1, ANY4), tcp_line(2, "0100007F:1F90")],
        [tcp_line(0, ANY6), tcp_line(1, LOOP6), tcp_line(2, MAPPED_LOOP6)],
    )
    assert parse_listeners(text) == [
        ("127.0.0.1", 5001),
        ("0.0.0.0", 5001),
        ("127.0.0.1", 8080),
        ("::", 5001),
        ("::1", 5001),
        ("::ffff:127.0.0.1", 5001),
    ]


def test_parse_listeners_counts_only_listen_sockets():
    text = proc_net(
        [
            tcp_line(0, ANY4),
            tcp_line(1, "0100007F:1389", state="01", remote="0100007F:D2F0"),  # ESTABLISHED
            tcp_line(2, "0100007F:C350", state="06", remote="0100007F:1389"),  # TIME_WAIT
        ],
        [tcp_line(0, LOOP6, state="08")],  # CLOSE_WAIT
    )
    assert parse_listeners(text) == [("0.0.0.0", 5001)]


def test_parse_listeners_skips_headers_garbage_and_errors():
    text = "cat: /proc/net/tcp6: No such file or directory\n" + proc_net([tcp_line(0, "ZZZZ:1389"), tcp_line(1, ANY4)])
    assert parse_listeners(text) == [("0.0.0.0", 5001)]
    assert parse_listeners("") == []


@pytest.mark.parametrize(
    "address, loopback",
    [("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False), ("172.17.0.2", False)],
)
def test_is_loopback(address, loopback):
    assert is_loopback(address) is loopback


# -- binds_all_interfaces ------------------------------------------------------------------


@pytest.fixture
def submission(tmp_path):
    (tmp_path / "flask_api_v2.py").write_text(APP_SOURCE, encoding="utf-8")
    return tmp_path


def bind_ctx(make_ctx, submission, container, ready=True):
    return make_ctx(submission=submission, run=running(container, ready=ready))


@pytest.mark.parametrize("rows, rows6, where", [([tcp_line(0, ANY4)], [], "0.0.0.0:5001"), ([], [tcp_line(0, ANY6)], ":::5001")])
def test_binds_all_interfaces_passes(rows, rows6, where, make_ctx, run_kind, submission):
    # Not answering HTTP (yet), but listening on every interface: read from /proc inside.
    container = FakeContainer(proc_net=proc_net(rows, rows6))
    outcome = run_kind("binds_all_interfaces", bind_ctx(make_ctx, submission, container, ready=False))
    assert outcome.passed, outcome.message
    assert where in outcome.message
    assert container.commands == [["cat", "/proc/net/tcp", "/proc/net/tcp6"]]


def test_an_http_answer_through_the_published_port_proves_the_bind_without_an_exec(make_ctx, run_kind, submission):
    container = FakeContainer(proc_net=proc_net([tcp_line(0, LOOP4)], []))  # never read: the answer came from outside
    outcome = run_kind("binds_all_interfaces", bind_ctx(make_ctx, submission, container, ready=True))
    assert outcome.passed and "reachable from outside" in outcome.message
    assert container.commands == []


@pytest.mark.parametrize("rows, rows6", [([tcp_line(0, LOOP4)], []), ([], [tcp_line(0, LOOP6)]), ([tcp_line(0, LOOP4)], [tcp_line(1, LOOP6)])])
def test_binds_loopback_fails_telling_to_bind_all(rows, rows6, make_ctx, run_kind, submission):
    container = FakeContainer(proc_net=proc_net(rows, rows6))
    outcome = run_kind("binds_all_interfaces", bind_ctx(make_ctx, submission, container, ready=False))
    assert not outcome.passed
    assert "all interfaces (0.0.0.0)" in outcome.message and 'host="0.0.0.0"' not in outcome.message
    assert ":5001 inside the container" in outcome.message
    assert outcome.location == f"flask_api_v2.py:{RUN_LINE}"


def test_binds_other_port_fails_naming_it(make_ctx, run_kind, submission):
    container = FakeContainer(proc_net=proc_net([tcp_line(0, "00000000:1F90")]))
    outcome = run_kind("binds_all_interfaces", bind_ctx(make_ctx, submission, container, ready=False))
    assert not outcome.passed
    assert "0.0.0.0:8080" in outcome.message and "not on port 5001" in outcome.message


def test_binds_nothing_listening_fails(make_ctx, run_kind, submission):
    outcome = run_kind("binds_all_interfaces", bind_ctx(make_ctx, submission, FakeContainer(proc_net=proc_net()), ready=False))
    assert not outcome.passed and "no process in the container listens" in outcome.message


def test_the_engines_dns_resolver_is_not_taken_for_the_app(make_ctx, run_kind, submission):
    """On a user-defined network the engine's resolver listens inside every container, on 127.0.0.11."""
    dns = tcp_line(0, "0B00007F:AFE1")  # 127.0.0.11:45025
    outcome = run_kind("binds_all_interfaces", bind_ctx(make_ctx, submission, FakeContainer(proc_net=proc_net([dns])), ready=False))
    assert not outcome.passed and "no process in the container listens" in outcome.message
    assert "127.0.0.11" not in outcome.message


def test_binds_container_stopped_fails_with_exit_code(make_ctx, run_kind, submission):
    container = FakeContainer(state={"Status": "exited", "Running": False, "ExitCode": 1})
    outcome = run_kind("binds_all_interfaces", bind_ctx(make_ctx, submission, container, ready=False))
    assert not outcome.passed
    assert "not running (exit code 1)" in outcome.message
    assert container.commands == []


def test_binds_without_proc_trusts_a_real_http_answer(make_ctx, run_kind, submission):
    container = FakeContainer(proc_net="OCI runtime exec failed: exec: \"cat\": executable file not found", exec_code=126)
    assert run_kind("binds_all_interfaces", bind_ctx(make_ctx, submission, container, ready=True)).passed
    outcome = run_kind("binds_all_interfaces", bind_ctx(make_ctx, submission, container, ready=False))
    assert not outcome.passed
    assert "could not read /proc/net/tcp" in outcome.message and "OCI runtime exec failed" in outcome.message


def test_binds_location_without_source_file(make_ctx, run_kind, tmp_path):
    container = FakeContainer(proc_net=proc_net([tcp_line(0, LOOP4)]))
    ctx = make_ctx(submission=tmp_path, run=running(container, ready=False))
    assert run_kind("binds_all_interfaces", ctx).location == "flask_api_v2.py"
    assert run_kind("binds_all_interfaces", ctx, params={}).location is None


def test_diagnose_not_answering_for_a_listening_app(make_ctx):
    ctx = make_ctx(run=running(FakeContainer(proc_net=proc_net([tcp_line(0, ANY4)])), ready=False))
    assert "listens on port 5001 but did not answer HTTP" in diagnose_not_answering(ctx.run.container, 5001)


# -- container_ready -----------------------------------------------------------------------


def test_container_ready_passes(make_ctx, run_kind):
    outcome = run_kind("container_ready", make_ctx(run=running(FakeContainer(), ready=True, startup=2.5)))
    assert outcome.passed and "2.5 s" in outcome.message


def test_container_ready_fails_with_the_problem(make_ctx, run_kind):
    problem = "the container stopped right after starting: it exited with code 1\nlast log lines:\nFileNotFoundError"
    outcome = run_kind("container_ready", make_ctx(run=running(FakeContainer(), ready=False, problem=problem)))
    assert not outcome.passed and outcome.message == problem
    outcome = run_kind("container_ready", make_ctx(run=running(FakeContainer(), ready=False)))
    assert not outcome.passed and "never answered HTTP" in outcome.message


def test_runtime_checks_are_blocked_without_container_or_readiness(exercise, make_ctx):
    from unit_helpers import built, load_inspect

    image_ready = dict(build=built(), image=load_inspect("solution-image.json"))
    no_container = make_ctx(run=RunState(None, problem="port is already allocated"), **image_ready)
    result = run_check(spec_of(exercise, "container_ready"), no_container)
    assert result.status is Status.BLOCKED and "port is already allocated" in result.message
    not_ready = make_ctx(run=running(FakeContainer(), ready=False), **image_ready)
    result = run_check(spec_of(exercise, "predictions"), not_ready)
    assert result.status is Status.BLOCKED and "never answered HTTP" in result.message
    assert run_check(spec_of(exercise, "container_ready"), not_ready).status is Status.FAILED


# -- predictions ---------------------------------------------------------------------------


def iris_responder(answers: dict | None = None, status: int = 200):
    """Answer each case of labs.yaml with its expected prediction, unless `answers` overrides it."""

    def respond(method, path, kwargs):
        features = tuple(kwargs["json"]["features"])
        expected = {(5.1, 3.5, 1.4, 0.2): 0, (5.9, 3.0, 4.2, 1.5): 0, (6.7, 3.0, 5.2, 2.3): 1, (6.3, 2.8, 5.1, 1.5): 0}[features]
        prediction = (answers or {}).get(features, expected)
        return make_response(status, {"prediction": prediction, "label": "x", "probability": 0.5})

    return respond


def predictions_ctx(make_ctx, responder):
    container = FakeContainer(responder=responder)
    return make_ctx(run=running(container)), container


def test_predictions_pass(exercise, make_ctx, run_kind):
    ctx, container = predictions_ctx(make_ctx, iris_responder())
    outcome = run_kind("predictions", ctx)
    assert outcome.passed, outcome.message
    cases = spec_of(exercise, "predictions").params["cases"]
    assert outcome.message == f"{len(cases)} predictions match"
    assert [(m, p) for m, p, _ in container.requests] == [("POST", "/predict_iris")] * len(cases)
    assert [kw["json"] for _, _, kw in container.requests] == [{"features": c["features"]} for c in cases]
    assert all(kw["timeout"] > 0 for _, _, kw in container.requests)


def test_predictions_accept_float_equal_to_expected(make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, iris_responder({(6.7, 3.0, 5.2, 2.3): 1.0}))
    assert run_kind("predictions", ctx).passed


def test_predictions_fail_on_wrong_prediction(make_ctx, run_kind):
    ctx, container = predictions_ctx(make_ctx, iris_responder({(6.7, 3.0, 5.2, 2.3): 0}))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed
    assert "case 3" in outcome.message and "predicted 0, expected 1" in outcome.message
    assert "[6.7, 3.0, 5.2, 2.3]" in outcome.message
    assert "model file" in outcome.message
    assert len(container.requests) == 3  # stops at the first wrong case


@pytest.mark.parametrize("value", [True, "1", None, [1]])
def test_predictions_fail_on_non_number_prediction(value, make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, iris_responder({(6.7, 3.0, 5.2, 2.3): value, (5.1, 3.5, 1.4, 0.2): value}))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed
    assert f"predicted {value!r}" in outcome.message


def test_predictions_fail_on_bool_false_for_zero(make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, iris_responder({(5.1, 3.5, 1.4, 0.2): False}))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed and "case 1" in outcome.message and "predicted False, expected 0" in outcome.message


@pytest.mark.parametrize(
    "status, page",
    [
        (500, "<!doctype html><title>500 Internal Server Error</title><h1>Internal Server Error</h1>"),
        (404, "<!doctype html><title>404 Not Found</title><h1>Not Found</h1>"),
    ],
)
def test_predictions_fail_on_non_200(status, page, make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, lambda m, p, kw: make_response(status, text=page))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed
    assert f"answered HTTP {status} instead of 200" in outcome.message
    assert page.split("<h1>")[1].split("<")[0] in outcome.message


def test_predictions_fail_on_201_even_with_right_answer(make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, lambda m, p, kw: make_response(201, {"prediction": 0}))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed and "answered HTTP 201 instead of 200" in outcome.message


def test_predictions_fail_on_non_json(make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, lambda m, p, kw: make_response(200, text="prediction: 0"))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed
    assert "not JSON" in outcome.message and "prediction: 0" in outcome.message


def binary_response(content_type: str | None) -> requests.Response:
    """What an app that sends an image (or any bytes) answers, as requests hands it over."""
    response = make_response(200, text="")
    response._content = b"\x89PNG\r\n\x1a\n" + b"\x89garbage" * 1000
    del response.headers["Content-Type"]
    if content_type:
        response.headers["Content-Type"] = content_type
    response.encoding = requests.utils.get_encoding_from_headers(response.headers)
    return response


@pytest.mark.parametrize("content_type, named", [("image/png", "image/png"), (None, "no Content-Type")])
def test_predictions_name_binary_answers_instead_of_guessing_letters(content_type, named, make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, lambda m, p, kw: binary_response(content_type))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed
    assert outcome.message.endswith(f"not JSON: 8,008 bytes of binary data ({named}), not text")


def test_answer_excerpt_reads_text_as_its_charset_says():
    latin = make_response(200, text="")
    latin._content = "café".encode("latin-1")
    latin.headers["Content-Type"] = "text/plain; charset=latin-1"
    latin.encoding = requests.utils.get_encoding_from_headers(latin.headers)
    assert answer_excerpt(latin) == "café"
    assert answer_excerpt(make_response(200, text="  a\n  b " + "x" * 300), limit=10) == "a b xxxxxx…"


def test_predictions_fail_on_json_without_prediction(make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, lambda m, p, kw: make_response(200, [0]))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed and "predicted None" in outcome.message


def test_predictions_fail_on_connection_error(make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, lambda m, p, kw: requests.ConnectionError("Connection refused"))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed
    assert "got no answer: ConnectionError" in outcome.message and "Connection refused" in outcome.message


def test_predictions_long_bodies_are_shortened(make_ctx, run_kind):
    ctx, _ = predictions_ctx(make_ctx, lambda m, p, kw: make_response(502, text="x" * 10_000))
    outcome = run_kind("predictions", ctx)
    assert not outcome.passed and len(outcome.message) < 600 and outcome.message.endswith("…")


# -- rejects_malformed ---------------------------------------------------------------------


def malformed_ctx(make_ctx, responder):
    container = FakeContainer(responder=responder)
    return make_ctx(run=running(container)), container


def test_rejects_malformed_passes(exercise, make_ctx, run_kind):
    ctx, container = malformed_ctx(make_ctx, lambda m, p, kw: make_response(400, {"error": "missing key 'features'"}))
    outcome = run_kind("rejects_malformed", ctx)
    assert outcome.passed, outcome.message
    bodies = spec_of(exercise, "rejects_malformed").params["bodies"]
    assert outcome.message.startswith(f"{len(bodies)} malformed bodies")
    assert [kw["data"] for _, _, kw in container.requests] == bodies
    assert all(kw["headers"]["Content-Type"] == "application/json" for _, _, kw in container.requests)
    assert all(p == "/predict_iris" and m == "POST" for m, p, _ in container.requests)


def test_rejects_malformed_fails_on_200(make_ctx, run_kind):
    def respond(method, path, kwargs):
        if kwargs["data"] == "{}":
            return make_response(200, {"prediction": 0})
        return make_response(400, {"error": "bad"})

    ctx, _ = malformed_ctx(make_ctx, respond)
    outcome = run_kind("rejects_malformed", ctx)
    assert not outcome.passed
    assert "'{}'" in outcome.message and "answered HTTP 200, expected 400" in outcome.message


def test_rejects_malformed_fails_on_crash(make_ctx, run_kind):
    ctx, _ = malformed_ctx(make_ctx, lambda m, p, kw: make_response(500, text="<h1>Internal Server Error</h1>"))
    outcome = run_kind("rejects_malformed", ctx)
    assert not outcome.passed and "answered HTTP 500" in outcome.message and "'not json'" in outcome.message


@pytest.mark.parametrize(
    "response",
    [
        make_response(400, text="<!doctype html><h1>Bad Request</h1>"),
        make_response(400, {"message": "bad input"}),
        make_response(400, ["error"]),
    ],
)
def test_rejects_malformed_fails_on_400_without_json_error(response, make_ctx, run_kind):
    ctx, _ = malformed_ctx(make_ctx, lambda m, p, kw: response)
    outcome = run_kind("rejects_malformed", ctx)
    assert not outcome.passed
    assert "answered 400 but without a JSON `error` field" in outcome.message


def test_rejects_malformed_fails_on_no_answer(make_ctx, run_kind):
    ctx, _ = malformed_ctx(make_ctx, lambda m, p, kw: requests.ReadTimeout("read timed out"))
    outcome = run_kind("rejects_malformed", ctx)
    assert not outcome.passed and "got no answer: ReadTimeout" in outcome.message


def test_make_response_helper_is_realistic():
    assert make_response(400, {"error": "x"}).json() == {"error": "x"}
    with pytest.raises(ValueError):
        make_response(200, text="nope").json()
    assert json.loads(make_response(200, [1]).text) == [1]
