"""Text put into learner messages: on one line, and cut to a length a report can show."""

from __future__ import annotations

import re

ELLIPSIS = "…"
TODO = re.compile(r"\bTODO\b")  # the placeholder a starter file leaves for the learner


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


def todo_lines(text: str) -> list[int]:
    """The 1-based numbers of the lines of TEXT that still hold a TODO placeholder."""
    return [number for number, line in enumerate(text.splitlines(), start=1) if TODO.search(line)]


def sentences(first: str, second: str) -> str:
    """Two messages as one text: a full stop after the first, if it has none."""
    return f"{first.rstrip()}{'' if first.rstrip().endswith('.') else '.'} {second}"
