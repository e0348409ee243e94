"""The grader's probe without an engine: the attach stream's frames, JSON lines, and answers as requests objects.

The agent itself is tested here against a real HTTP server on 127.0.0.1 (run in-process),
as it runs in its container.
"""

from __future__ import annotations

import base64
import http.server
import json
import socket
import struct
import threading
import time

import pytest
import requests

from grader.engine import probe_agent
from grader.engine.probe import FrameReader, LineReader, LocalProbe, Probe, ProbeLost, ask_for, bridge_is_here, response_from


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def test_frames_come_out_whole_whatever_pieces_the_stream_arrives_in():
    data = frame(1, b'{"id": 1}\n') + frame(2, b"Traceback") + frame(1, b"")
    reader = FrameReader()
    got = []
    for index in range(len(data)):  # one byte at a time: headers and payloads split anywhere
        got += reader.feed(data[index:index + 1])
    assert got == [(1, b'{"id": 1}\n'), (2, b"Traceback"), (1, b"")]


def test_several_frames_in_one_piece():
    assert FrameReader().feed(frame(1, b"a") + frame(1, b"bc")) == [(1, b"a"), (1, b"bc")]


def test_lines_split_and_joined_across_frames():
    lines = LineReader()
    assert lines.feed(b'{"id": 1') == []
    assert lines.feed(b'}\n{"id": 2}\n{"id"') == [b'{"id": 1}', b'{"id": 2}']
    assert lines.feed(b": 3}\n") == [b'{"id": 3}']


def test_a_line_without_end_is_bounded():
    lines = LineReader(limit=10)
    lines.feed(b"x" * 1000)
    assert lines.feed(b"\n") == [b"x" * 10]


def prepared(method="POST", **kwargs):
    return requests.Request(method, "http://172.18.0.2:5001/predict_iris", **kwargs).prepare()


def test_an_ask_carries_the_request_requests_would_send():
    ask = ask_for(prepared(json={"features": [1, 2]}), "172.18.0.2", 5001, (0.5, 2.0), 1000, 7)
    assert ask["id"] == 7 and ask["method"] == "POST" and ask["path"] == "/predict_iris"
    assert json.loads(base64.b64decode(ask["body"])) == {"features": [1, 2]}
    assert dict(ask["headers"])["Content-Type"] == "application/json"
    assert (ask["connect"], ask["read"], ask["deadline"]) == (0.5, 2.0, 2.5)
    assert ask_for(prepared("GET"), "h", 1, 10.0, 1, 1)["deadline"] == 10.0  # one number bounds the whole answer


def test_an_answer_becomes_a_real_response():
    answer = {
        "status": 400, "reason": "BAD REQUEST",
        "headers": [["Content-Type", "application/json; charset=utf-8"], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]],
        "body": base64.b64encode(b'{"error": "bad"}').decode(),
    }
    response = response_from(answer, prepared())
    assert isinstance(response, requests.Response)
    assert response.status_code == 400 and response.json() == {"error": "bad"} and response.text == '{"error": "bad"}'
    assert response.headers["content-type"].startswith("application/json") and response.encoding == "utf-8"
    assert response.headers["Set-Cookie"] == "a=1, b=2"


@pytest.mark.parametrize(
    "error, raised",
    [("connect_timeout", requests.ConnectTimeout), ("timeout", requests.ReadTimeout), ("connection", requests.ConnectionError)],
)
def test_failures_raise_what_requests_raises(error, raised):
    with pytest.raises(raised):
        response_from({"error": error, "detail": "x"}, prepared())


# -- the agent, against a server on 127.0.0.1 --------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(5_000_000))
            self.end_headers()
            self.wfile.write(b"x" * 5_000_000)
            return
        answer = json.dumps({"got": json.loads(body), "type": self.headers["Content-Type"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):  # noqa: N802
        if self.path == "/slow-headers":  # a header line every 0.3 s, for ever: each wait is short, the whole is not
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for number in range(100):
                self.wfile.write(f"X-Slow-{number}: 1\r\n".encode())
                self.wfile.flush()
                time.sleep(0.3)
            return
        if self.path == "/trickle":  # a byte every 0.3 s of a long body
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.3)
            return
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except OSError:  # the agent cut the exchange
            pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_the_agent_does_the_request_and_bounds_the_body(server):
    ask = ask_for(prepared(json={"features": [1]}), "127.0.0.1", server, 5.0, 1000, 1)
    ask["path"] = "/predict_iris"
    response = response_from(probe_agent.answer(ask), prepared())
    assert response.json() == {"got": {"features": [1]}, "type": "application/json"}
    ask["path"], ask["limit"] = "/big", 1000
    assert len(response_from(probe_agent.answer(ask), prepared()).content) == 1000


def test_the_agent_says_when_nothing_listens():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: the connection is refused
        answer = probe_agent.answer(ask_for(prepared("GET"), "127.0.0.1", port, 1.0, 10, 1))
    assert answer["error"] == "connection"


@pytest.mark.parametrize("path", ["/slow-headers", "/trickle"])
def test_the_agent_answers_within_its_deadline_whatever_the_app_sends(server, path):
    ask = ask_for(prepared("GET"), "127.0.0.1", server, (0.5, 1.0), 1000, 1)
    ask["path"] = path
    started = time.monotonic()
    answer = probe_agent.answer(ask)
    assert answer["error"] == "timeout"
    assert time.monotonic() - started < 3.0  # the deadline is 1.5 s; without the watchdog it took 30 s


def test_a_local_probe_runs_the_agent_in_this_process(server):
    probe = LocalProbe()
    response = probe.request("POST", "127.0.0.1", server, "/x", 1000, timeout=5.0, json={"n": 1})
    assert response.json()["got"] == {"n": 1}
    assert len(probe.request("POST", "127.0.0.1", server, "/big", 10, timeout=5.0, json={}).content) == 10
    with pytest.raises(requests.ReadTimeout):
        probe.request("GET", "127.0.0.1", server, "/trickle", 1000, timeout=(0.5, 0.5))
    assert not probe.lost


def _network(bridge: str, gateway: str | None, network_id: str = "0" * 64) -> dict:
    config = [{"Subnet": "127.0.0.0/8", "Gateway": gateway}] if gateway else []
    return {"Id": network_id, "IPAM": {"Config": config}, "Options": {"com.docker.network.bridge.name": bridge} if bridge else {}}


def test_a_network_is_here_when_its_bridge_and_gateway_are_in_this_namespace():
    assert bridge_is_here(_network("lo", "127.0.0.1"))


@pytest.mark.parametrize("network", [
    _network("", "127.0.0.1"),  # Docker's br-<id>: no such bridge here (an engine elsewhere with a fresh id)
    _network("labkit-no-such-bridge", "127.0.0.1"),
    _network("lo", "192.0.2.1"),  # the bridge's name exists here, the address does not (TEST-NET-1)
    _network("lo", None),  # no address known
])
def test_a_network_is_elsewhere_unless_both_are_here(network):
    assert not bridge_is_here(network)


class _Stream:
    """Both ends of an attached stream in one object: what is sent goes to the agent, its answers come back as frames."""

    def __init__(self):
        self.inside, self.outside = socket.socketpair()

    def recv(self, size):
        return self.outside.recv(size)

    def sendall(self, data):
        self.outside.sendall(data)

    def close(self):
        self.outside.close()


def test_a_probe_talks_json_lines_over_framed_stdout(server):
    stream = _Stream()

    def agent():  # the container's side: reads asks, writes answers inside stdout frames
        for line in stream.inside.makefile("rb"):
            ask = json.loads(line)
            reply = probe_agent.answer(ask)
            reply["id"] = ask["id"]
            stream.inside.sendall(frame(2, b"noise on stderr") + frame(1, json.dumps(reply).encode() + b"\n"))

    threading.Thread(target=agent, daemon=True).start()
    probe = Probe(stream)
    for number in range(3):
        response = probe.request("POST", "127.0.0.1", server, "/x", 1000, timeout=5.0, json={"n": number})
        assert response.json()["got"] == {"n": number}
    assert probe.stderr.endswith(b"noise on stderr")
    stream.inside.shutdown(socket.SHUT_RDWR)  # the container ended
    with pytest.raises(ProbeLost):
        probe.request("GET", "127.0.0.1", server, "/", 1000, timeout=1.0)
    assert probe.lost
