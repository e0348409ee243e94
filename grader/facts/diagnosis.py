"""Why an app does not answer, and how its answers read in a message: the facts the container and HTTP families share."""

from __future__ import annotations

import math
from typing import Any

from grader.context import MAX_RESPONSE_BYTES, Container, Context
from grader.explain import listeners_read, why_not_answering
from grader.i18n import t
from grader.listeners import SOCKET_TABLES
from grader.text import shorten


def describe_listeners(container: Container) -> tuple[list[tuple[str, int]] | None, str]:
    """Read the container's listening sockets (the engine's own DNS left out); None and the reason when they cannot be read."""
    return listeners_read(*container.exec_output(SOCKET_TABLES))


def diagnose_not_answering(container: Container, port: int) -> str:
    """A sentence saying why nothing answers although the process runs."""
    listeners, unreadable = describe_listeners(container)
    return why_not_answering(listeners, unreadable, port)


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


def answer_excerpt(response: Any, limit: int = 160) -> str:
    """The start of an answer's body for a message (its first LIMIT characters, on one line, `…` when cut): text
    as its charset says (UTF-8 when it says none), or what binary data came. requests would guess an encoding
    (slowly, on up to 1 MB) and turn bytes into the wrong letters."""
    body = response.content or b""
    try:
        text = body.decode(response.encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        kind = response.headers.get("Content-Type") or t("answer.no_content_type")
        if len(body) >= MAX_RESPONSE_BYTES:  # the rest was never read
            return t("answer.binary_cut", size=len(body), content_type=kind)
        return t("answer.binary", size=len(body), content_type=kind)
    return shorten(text, limit + 1, single_line=True)


def same_prediction(got: Any, expected: Any) -> bool:
    """True when an app's `prediction` is the expected one: numbers compared as numbers (1 == 1.0), never a bool or None."""
    if isinstance(got, bool) or got is None:
        return False
    if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        return math.isclose(float(got), float(expected))
    return got == expected
