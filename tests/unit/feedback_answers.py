"""What an "answer line" is, for the tests that keep feedback from solving the exercise.

An answer line of an exercise is any of:
- a logical line (continuations joined, spaces normalised) of the reference solution's Dockerfile,
  compose.yaml or command script (commands.sh, publish.sh) that the untouched starter does not
  already hold; compose lines count only
  when they carry a value (`key: value` or a list item), comments after `#` cut off;
- the argument part of such a line (after the instruction or the `key:`), when 16 characters or more;
- the longest code span (`...`) of a check's last hint level: the line that level exists to give
  (the longest, not the first: Korean word order puts a short `key:` before the line itself).
Text "holds" an answer line when the line, spaces normalised, is a substring of the text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from unit_helpers import REPO_ROOT

SOLUTION_FILES = ("Dockerfile", "compose.yaml", "commands.sh", "publish.sh")
MIN_ARGUMENT = 16
CODE_SPAN = re.compile(r"`([^`]+)`")


def normalise(text: str) -> str:
    """Spaces collapsed, and none just inside JSON brackets or after commas, so `["a","b"]` matches `["a", "b"]`."""
    text = " ".join(text.split())
    return re.sub(r"\s*([\[\],])\s*", r"\1", text)


def logical_lines(path: Path) -> list[str]:
    """The file's lines with `\\` continuations joined, without comments and blanks."""
    lines, pending = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if path.name == "compose.yaml":
            line = re.sub(r"\s+#.*$", "", line)
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        lines.append(" ".join((pending + line).split()))
        pending = ""
    return lines


def _argument(line: str, compose: bool) -> str:
    if compose:
        return line.split(":", 1)[1].strip() if ":" in line and not line.startswith("- ") else line[2:].strip()
    return line.split(" ", 1)[1].strip() if " " in line else ""


@lru_cache(maxsize=None)
def solution_answers(exercise_id: str) -> frozenset[str]:
    """The solution's lines (and long arguments) that the starter lacks, normalised."""
    answers: set[str] = set()
    for name in SOLUTION_FILES:
        solution = REPO_ROOT / "solutions" / exercise_id / name
        if not solution.is_file():
            continue
        starter_path = REPO_ROOT / "exercises" / exercise_id / name
        starter = set(logical_lines(starter_path)) if starter_path.is_file() else set()
        compose = name == "compose.yaml"
        for line in logical_lines(solution):
            if line in starter:
                continue
            if compose and not (line.startswith("- ") or re.match(r"^[\w.-]+:\s+\S", line)):
                continue  # a bare key (`healthcheck:`) teaches nothing on its own
            answers.add(normalise(line))
            argument = _argument(line, compose)
            if len(argument) >= MIN_ARGUMENT:
                answers.add(normalise(argument))
    return frozenset(answers)


@lru_cache(maxsize=None)
def starter_lines(exercise_id: str) -> frozenset[str]:
    """Every line the untouched starter already holds, normalised: quoting one gives nothing away."""
    lines: set[str] = set()
    for name in SOLUTION_FILES:
        path = REPO_ROOT / "exercises" / exercise_id / name
        if path.is_file():
            lines |= {normalise(line) for line in logical_lines(path)}
    return frozenset(lines)


@lru_cache(maxsize=None)
def solution_lines(exercise_id: str) -> frozenset[str]:
    """Every line of the solution's Dockerfile, compose.yaml, command scripts and .dockerignore, normalised, starter's or not."""
    lines: set[str] = set()
    for name in (*SOLUTION_FILES, ".dockerignore"):
        path = REPO_ROOT / "solutions" / exercise_id / name
        if path.is_file():
            lines |= {normalise(line) for line in logical_lines(path)}
    return frozenset(lines)


def exact_line(last_level: str) -> str:
    """The longest code span of a ladder's last level: the line it gives away."""
    return max(CODE_SPAN.findall(last_level), key=len, default="")


def answers_in(text: str, answers) -> list[str]:
    """The answer lines the text holds."""
    flat = normalise(text)
    return sorted(answer for answer in answers if answer and answer in flat)
