"""The program the grader's probe container runs: HTTP requests to a learner's app, asked for on stdin.

It runs inside a helper container on the grading's own network (as `python3 -c` of this file's
text, standard library only), so the grader reaches the app through the engine wherever the
engine runs. One JSON object per line on stdin asks for a request; one JSON object per line on
stdout answers it, with the same id:

    ask:    {"id": 1, "method": "POST", "host": "172.18.0.2", "port": 5001, "path": "/predict",
             "headers": [["Content-Type", "application/json"]], "body": "<base64>",
             "connect": 0.5, "read": 2.0, "deadline": 2.5, "limit": 1000000}
    answer: {"id": 1, "status": 200, "reason": "OK", "headers": [[name, value], ...], "body": "<base64>"}
         or {"id": 1, "error": "connect_timeout" | "timeout" | "connection", "detail": "..."}

`connect` bounds the connection, `read` each wait for data, `deadline` the whole answer (a
trickling body), `limit` the bytes of body kept (an app may send gigabytes).
"""

import base64
import http.client
import json
import socket
import sys
import threading
import time


def answer(ask):
    """Do one request; the answer as a dict, within the ask's deadline whatever the app does."""
    started = time.monotonic()
    deadline = started + max(ask["deadline"], ask["connect"])
    connection = http.client.HTTPConnection(ask["host"], ask["port"], timeout=ask["connect"])
    # The socket's own timeout bounds each wait, not the whole answer: an app that sends its
    # headers a byte at a time would hold the agent for ever. At the deadline the watchdog shuts
    # the socket, which wakes the blocked read.
    cut = threading.Event()
    watchdog = threading.Timer(max(deadline - started, 0.0), _shut, (connection, cut))
    watchdog.daemon = True
    watchdog.start()
    try:
        reply = _exchange(ask, connection, deadline)
    finally:
        watchdog.cancel()
        connection.close()
    if cut.is_set() and reply.get("error") not in ("timeout", "connect_timeout"):  # what the cut broke
        return {"error": "timeout", "detail": "no whole answer within %.1f s" % (deadline - started)}
    return reply


def _shut(connection, cut):
    """The watchdog's cut: end the exchange under way."""
    cut.set()
    try:
        connection.sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError):  # not connected yet, or closed already
        pass


def _exchange(ask, connection, deadline):
    """Connect, send the request, read the answer (its body up to the limit)."""
    try:
        try:
            connection.connect()
        except socket.timeout:
            return {"error": "connect_timeout", "detail": "no connection within %.1f s" % ask["connect"]}
        connection.sock.settimeout(ask["read"])
        connection.putrequest(ask["method"], ask["path"], skip_accept_encoding=True)
        for name, value in ask.get("headers") or []:
            connection.putheader(name, value)
        body = base64.b64decode(ask["body"]) if ask.get("body") else None
        connection.endheaders(body)
        response = connection.getresponse()
        data = bytearray()
        while len(data) < ask["limit"]:
            chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
            if not chunk:
                break
            data += chunk
            # Checked here too: the watchdog's shutdown does not stop a body that keeps coming
            # (Linux still delivers data that arrives after SHUT_RD), so a trickle is cut here.
            if time.monotonic() > deadline:
                return {"error": "timeout", "detail": "the body did not arrive within %.0f s" % ask["deadline"]}
        return {
            "status": response.status,
            "reason": response.reason,
            "headers": list(response.getheaders()),
            "body": base64.b64encode(bytes(data[: ask["limit"]])).decode("ascii"),
        }
    except socket.timeout:
        return {"error": "timeout", "detail": "no answer within %.1f s" % ask["read"]}
    except (OSError, http.client.HTTPException) as error:
        return {"error": "connection", "detail": "%s: %s" % (type(error).__name__, error)}


def main():
    """Answer asks until stdin closes."""
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            ask = json.loads(line)
        except ValueError:
            continue
        try:
            reply = answer(ask)
        except Exception as error:  # a malformed ask must not end the agent
            reply = {"error": "connection", "detail": "%s: %s" % (type(error).__name__, error)}
        reply["id"] = ask.get("id")
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
