"""Checks on the running container: it answers, on the right interface, with the right predictions."""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from grader.kinds import register
from grader.context import MAX_RESPONSE_BYTES, Container, Context
from grader.i18n import t
from grader.model import Outcome
from grader.explain import listeners_read, why_not_answering
from grader.listeners import SOCKET_TABLES, is_loopback
from grader.text import shorten

REQUEST_TIMEOUT = 10.0


def describe_listeners(container: Container) -> tuple[list[tuple[str, int]] | None, str]:
    """Read the container's listening sockets (the engine's own DNS left out); None and the reason when they cannot be read."""
    return listeners_read(*container.exec_output(SOCKET_TABLES))


def diagnose_not_answering(container: Container, port: int) -> str:
    """A sentence saying why nothing answers although the process runs."""
    listeners, unreadable = describe_listeners(container)
    return why_not_answering(listeners, unreadable, port)


@register("container_ready", needs="container")
def container_ready(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The container starts and its app answers HTTP on the exercise's port."""
    run = ctx.run
    if run.ready:
        return Outcome.ok(t("container_ready.ok", seconds=run.startup_seconds))
    return Outcome.fail(run.problem or t("container_ready.never"))


@register("binds_all_interfaces", needs="container")
def binds_all_interfaces(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The app listens on 0.0.0.0 (all interfaces) so that other containers and published ports reach it."""
    port = ctx.exercise.port
    if ctx.run.ready:
        # An HTTP answer to the grader's probe proves the bind: the probe is another container on
        # the network, which reaches the app's own address, never its loopback. No need to look inside.
        return Outcome.ok(t("binds_all_interfaces.reachable", port=port))
    state = ctx.run.container.state()
    if not state.get("Running"):
        return Outcome.fail(t("binds_all_interfaces.not_running", code=state.get("ExitCode")))
    listeners, problem = describe_listeners(ctx.run.container)
    if listeners is None:
        return Outcome.fail(problem)
    on_port = [address for address, p in listeners if p == port]
    if any(not is_loopback(a) for a in on_port):
        return Outcome.ok(t("binds_all_interfaces.ok", address=on_port[0], port=port))
    return Outcome.fail(diagnose_not_answering(ctx.run.container, port), location=source_location(ctx, params.get("source"), "run("))


def source_location(ctx: Context, filename: str | None, needle: str) -> str | None:
    """FILE:LINE of the first line of a submission file containing `needle`, for messages."""
    if not filename:
        return None
    try:
        lines = (ctx.submission / filename).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return filename
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return f"{filename}:{number}"
    return filename


def _post(ctx: Context, path: str, **kwargs: Any):
    return ctx.run.container.request("POST", path, timeout=REQUEST_TIMEOUT, **kwargs)


def answer_excerpt(response: Any, limit: int = 160) -> str:
    """The start of an answer's body for a message (its first LIMIT characters, on one line, `…` when cut): text
    as its charset says (UTF-8 when it says none), or what binary data came. requests would guess an encoding (slowly, on up to 1 MB)
    and turn bytes into the wrong letters."""
    body = response.content or b""
    try:
        text = body.decode(response.encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        kind = response.headers.get("Content-Type") or t("answer.no_content_type")
        key = "answer.binary_cut" if len(body) >= MAX_RESPONSE_BYTES else "answer.binary"  # the rest was never read
        return t(key, size=len(body), content_type=kind)
    return shorten(text, limit + 1, single_line=True)


@register("predictions", needs="ready", required_params=("path", "cases"))
def predictions(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """POST each fixed input and compare the `prediction` field with the expected one."""
    path = params["path"]
    cases = params["cases"]
    for number, case in enumerate(cases, start=1):
        body = {"features": case["features"]}
        sent = {"path": path, "body": json.dumps(body)}
        try:
            response = _post(ctx, path, json=body)
        except Exception as error:  # any transport failure is the learner's app's problem here
            return Outcome.fail(t("predictions.no_answer", error=f"{type(error).__name__}: {shorten(error, 161, single_line=True)}", **sent))
        if response.status_code != 200:
            return Outcome.fail(t("predictions.bad_status", status=response.status_code, text=answer_excerpt(response), **sent))
        try:
            answer = response.json()
        except ValueError:
            return Outcome.fail(t("predictions.not_json", path=path, text=answer_excerpt(response)))
        got = answer.get("prediction") if isinstance(answer, dict) else None
        expected = case["prediction"]
        if not _same_prediction(got, expected):
            return Outcome.fail(t("predictions.wrong", number=number, got=repr(got), expected=repr(expected), **sent))
    return Outcome.ok(t("predictions.ok", count=len(cases)))


def _same_prediction(got: Any, expected: Any) -> bool:
    if isinstance(got, bool) or got is None:
        return False
    if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        return math.isclose(float(got), float(expected))
    return got == expected


@register("rejects_malformed", needs="ready", required_params=("path", "bodies"))
def rejects_malformed(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Malformed request bodies get HTTP 400 with a JSON `error`, never a crash."""
    path = params["path"]
    for raw_body in params["bodies"]:
        sent = {"path": path, "body": repr(raw_body)}
        try:
            response = _post(ctx, path, data=raw_body, headers={"Content-Type": "application/json"})
        except Exception as error:
            return Outcome.fail(t("rejects_malformed.no_answer", error=type(error).__name__, **sent))
        if response.status_code != 400:
            return Outcome.fail(t("rejects_malformed.bad_status", status=response.status_code, **sent))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "error" not in answer:
            return Outcome.fail(t("rejects_malformed.no_error_field", **sent))
    return Outcome.ok(t("rejects_malformed.ok", count=len(params["bodies"])))
