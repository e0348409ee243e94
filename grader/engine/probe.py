"""The grader's side of its probe container: HTTP to a learner's app, sent through the engine.

The probe is one long-lived process (grader/engine/probe_agent.py) in a helper container on the
grading's network. The grader talks to it over the container's attached stdin/stdout (the
engine's hijacked attach stream, 8-byte frame headers since there is no tty), one JSON line
per request and per answer. Measured (bench/bench_probe.py, a busy 2-core machine): 2.7 ms a
request, where an `exec` of a Python fetch per request costs 331 ms; readiness is polled every 30 ms.

When the grader's own network namespace holds the grading network's bridge (a local engine on
Linux), the same agent code runs in the grader's process instead (LocalProbe): the app's address
is on-link here, and a helper container would only cost a start and a removal (measured: about
0.2 s of a 2.5 s warm grading, see bench/bench_grade.py). Anywhere else (an engine in a VM, on
another machine, or in another namespace) the helper container carries the requests.

Answers become real `requests.Response` objects, and failures `requests.Timeout` or
`requests.ConnectionError`, so the checks read them as they read a direct request.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import queue
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import requests
import requests.structures
import requests.utils

from grader.engine import probe_agent

AGENT_SOURCE = (Path(__file__).resolve().parent / "probe_agent.py").read_text(encoding="utf-8")
FRAME_HEADER = struct.Struct(">BxxxL")  # stream (0 stdin, 1 stdout, 2 stderr), 3 zero bytes, payload size
STDOUT, STDERR = 1, 2
ANSWER_GRACE = 3.0  # beyond the request's own limits, for the engine relaying the answer
MAX_LINE_BYTES = 4 * 1024 * 1024  # an answer carries at most MAX_RESPONSE_BYTES, base64: well under this


class ProbeLost(requests.ConnectionError):
    """The probe's stream ended or broke: the grader's own helper is gone, not the learner's app."""


class FrameReader:
    """The frames of the engine's multiplexed attach stream (no tty), from bytes fed in any pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The (stream, payload) frames this data completes."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= FRAME_HEADER.size:
            stream, size = FRAME_HEADER.unpack_from(self._buffer)
            end = FRAME_HEADER.size + size
            if len(self._buffer) < end:
                break
            frames.append((stream, bytes(self._buffer[FRAME_HEADER.size:end])))
            del self._buffer[:end]
        return frames


class LineReader:
    """Whole lines out of a byte stream that arrives in arbitrary pieces (frames may split or join lines)."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self._pending = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        """The complete lines (without their newline) this data ends."""
        self._pending += data
        *lines, rest = bytes(self._pending).split(b"\n")
        self._pending = bytearray(rest[-self._limit:])
        return lines


def ask_for(prepared: requests.PreparedRequest, host: str, port: int, timeout: Any, limit: int, number: int) -> dict:
    """The JSON ask for the agent that does this prepared request to HOST:PORT within the timeout."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    body = prepared.body.encode() if isinstance(prepared.body, str) else (prepared.body or b"")
    return {
        "id": number,
        "method": prepared.method,
        "host": host,
        "port": port,
        "path": prepared.path_url,
        "headers": [[name, value] for name, value in prepared.headers.items()],
        "body": base64.b64encode(body).decode("ascii"),
        "connect": float(connect),
        "read": float(read),
        "deadline": float(connect) + float(read) if isinstance(timeout, tuple) else float(timeout),
        "limit": limit,
    }


def response_from(answer: dict, prepared: requests.PreparedRequest) -> requests.Response:
    """The agent's answer as requests would have returned it, or the exception requests would have raised."""
    error = answer.get("error")
    if error == "connect_timeout":
        raise requests.ConnectTimeout(answer.get("detail", ""), request=prepared)
    if error == "timeout":
        raise requests.ReadTimeout(answer.get("detail", ""), request=prepared)
    if error:
        raise requests.ConnectionError(answer.get("detail", ""), request=prepared)
    response = requests.Response()
    response.status_code = int(answer["status"])
    response.reason = answer.get("reason", "")
    headers: dict[str, str] = {}
    for name, value in answer.get("headers") or []:
        # Repeated fields are joined, as urllib3 does for requests.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    response.headers = requests.structures.CaseInsensitiveDict(headers)
    response.encoding = requests.utils.get_encoding_from_headers(response.headers)
    response._content = base64.b64decode(answer.get("body") or "")
    response._content_consumed = True
    response.url = prepared.url or ""
    response.request = prepared
    return response


class Probe:
    """The attached stream of a running probe container; one request at a time."""

    def __init__(self, sock: Any):
        self._sock = getattr(sock, "_sock", sock)  # the SDK hands a SocketIO over the real socket
        # Over ssh:// the stream is the ssh process's pipe, whose plain read() waits for a full
        # buffer: read what has arrived instead. A thread reads, whatever the transport, so that
        # waiting for an answer has a time limit everywhere.
        process = getattr(self._sock, "proc", None)
        self._read = process.stdout.read1 if process is not None else self._sock.recv
        self._arrived: "queue.Queue[bytes | BaseException]" = queue.Queue()
        self._frames = FrameReader()
        self._lines = LineReader()
        self._ready: list[bytes] = []
        self._lock = threading.Lock()
        self._number = 0
        self.lost = False
        self.stderr = b""  # the agent's last words, should it die
        threading.Thread(target=self._pump, name="probe-reader", daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                data = self._read(65536)
            except BaseException as error:  # a closed or broken stream: the waiting side decides
                self._arrived.put(error)
                return
            self._arrived.put(data)
            if not data:
                return

    def request(self, method: str, host: str, port: int, path: str, limit: int, timeout: Any = 5.0, **kwargs: Any) -> requests.Response:
        """Send one HTTP request to HOST:PORT from inside the network; requests' Response or exception."""
        if self.lost:
            raise ProbeLost("the grader's probe container is gone")
        prepared = requests.Request(method, f"http://{host}:{port}{path}", **kwargs).prepare()
        with self._lock:
            self._number += 1
            ask = ask_for(prepared, host, port, timeout, limit, self._number)
            wait = max(ask["deadline"], ask["connect"] + ask["read"]) + ANSWER_GRACE
            self._send(json.dumps(ask).encode() + b"\n")
            answer = self._answer(self._number, time.monotonic() + wait)
        return response_from(answer, prepared)

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except Exception as error:  # OSError on a socket, ValueError on a closed pipe
            self.lost = True
            raise ProbeLost(f"the grader's probe container stopped listening: {error}") from None

    def _answer(self, number: int, deadline: float) -> dict:
        """Read lines until the answer numbered NUMBER; older answers (given up on) are dropped."""
        while True:
            while self._ready:
                try:
                    answer = json.loads(self._ready.pop(0))
                except ValueError:
                    continue
                if isinstance(answer, dict) and answer.get("id") == number:
                    return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise requests.ReadTimeout("the grader's probe did not answer in time")
            try:
                data = self._arrived.get(timeout=remaining)
            except queue.Empty:
                continue
            if isinstance(data, BaseException) or not data:
                self.lost = True
                last_words = self.stderr.decode("utf-8", "replace")[-300:]
                raise ProbeLost(f"the grader's probe container's stream ended ({data!r}): {last_words}")
            for stream, payload in self._frames.feed(data):
                if stream == STDOUT:
                    self._ready.extend(self._lines.feed(payload))
                elif stream == STDERR:
                    self.stderr = (self.stderr + payload)[-4096:]

    def close(self) -> None:
        """Close the stream (the container is removed by the session)."""
        try:
            self._sock.close()
        except Exception:
            pass


class LocalProbe:
    """The probe's agent run in the grader's own process, for a network whose bridge is in the grader's namespace."""

    lost = False  # nothing to lose: no stream, no helper container
    stderr = b""

    def request(self, method: str, host: str, port: int, path: str, limit: int, timeout: Any = 5.0, **kwargs: Any) -> requests.Response:
        """Send one HTTP request to HOST:PORT from this process; requests' Response or exception, as Probe.request."""
        prepared = requests.Request(method, f"http://{host}:{port}{path}", **kwargs).prepare()
        return response_from(probe_agent.answer(ask_for(prepared, host, port, timeout, limit, 0)), prepared)

    def close(self) -> None:
        """Nothing to close."""


def bridge_is_here(network: dict) -> bool:
    """True when a network's bridge and gateway are in this process's network namespace.

    Only then is the network's address range on-link here. The bridge's name holds the network's
    fresh id (Docker's `br-` + 12 hex digits, or the name the engine reports), so an engine on
    another machine or in a VM, whose gateway address may well exist here too, is never taken for
    a local one. Both lookups ask the kernel of this process's namespace (not /sys, which an
    `ip netns exec` may not remount).
    """
    options = network.get("Options") or {}
    bridge = options.get("com.docker.network.bridge.name") or f"br-{(network.get('Id') or '')[:12]}"
    gateways = [entry["Gateway"].split("/")[0] for entry in ((network.get("IPAM") or {}).get("Config") or []) if entry.get("Gateway")]
    if not gateways:
        return False
    try:
        socket.if_nametoindex(bridge)
    except OSError:
        return False
    for gateway in gateways:
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(gateway).version == 6 else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as bound:
                bound.bind((gateway, 0))  # succeeds only for an address of this namespace
        except (OSError, ValueError):
            return False
    return True
