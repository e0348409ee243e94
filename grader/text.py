"""Text put into learner messages: on one line, and cut to a length a report can show."""

from __future__ import annotations

ELLIPSIS = "…"


def one_line(text: object) -> str:
    """TEXT with every run of white space (new lines included) made one space, ends stripped."""
    return " ".join(str(text).split())


def shorten(text: object, limit: int, *, single_line: bool = False) -> str:
    """TEXT in at most LIMIT characters, an ellipsis ending it when it was cut (on one line with single_line).

    The one truncation helper: an app's answer, an engine error or a Dockerfile line quoted in a
    message all go through it, so a message never shows a 20,000-character log.
    """
    text = one_line(text) if single_line else str(text)
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS
