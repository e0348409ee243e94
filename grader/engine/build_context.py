"""The build context as the docker CLI picks it, refused before sending when it is far too large."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from grader.dockerfile import Dockerfile
from grader.engine import limits  # read at call time: tests lower the limits


class ContextTooLarge(Exception):
    """The build context is far larger than a lab needs: refused before sending it (`facts` says how large)."""

    def __init__(self, facts: dict[str, Any]):
        super().__init__(f"build context over {facts['limit']} MB")
        self.facts = facts


def context_files(folder: Path) -> list[str]:
    """The files of the build context, as the docker CLI picks them (.dockerignore applied)."""
    from docker.utils.build import exclude_paths

    exclude: list[str] = []
    ignore_file = folder / ".dockerignore"
    if ignore_file.is_file():
        lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
        exclude = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return sorted(exclude_paths(str(folder), exclude, dockerfile="Dockerfile"))


def context_tar(folder: Path) -> Any:
    """The build context tar, refused early (with its size) when it exceeds MAX_CONTEXT_BYTES."""
    from docker.utils.build import create_archive

    return create_archive(str(folder), checked_context_files(folder), gzip=False)


def checked_context_files(folder: Path) -> list[str]:
    """The build context's files; raises ContextTooLarge (with the largest file) past MAX_CONTEXT_BYTES."""
    files = context_files(folder)
    total = 0
    for relative in files:
        try:
            total += os.lstat(folder / relative).st_size  # a link counts as itself: it is sent as a link
        except OSError:
            continue
        if total > limits.MAX_CONTEXT_BYTES:
            break
    if total > limits.MAX_CONTEXT_BYTES:
        biggest = max(files, key=lambda f: _size_or_zero(folder / f), default="?")
        raise ContextTooLarge(
            {"folder": str(folder), "limit": f"{limits.MAX_CONTEXT_BYTES // 1_000_000:,}",
             "biggest": biggest, "biggest_mb": f"{_size_or_zero(folder / biggest) / 1e6:,.0f}"}
        )
    return files


def _size_or_zero(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def step_instruction(dockerfile: Dockerfile | None, step: int | None):
    if dockerfile is None or not step:
        return None
    commands = dockerfile.commands()
    return commands[step - 1] if 0 < step <= len(commands) else None


def instruction_named_by_error(error_text: str, dockerfile: Dockerfile | None):
    """The instruction on the Dockerfile line an error names (`... line N ...`), if any."""
    match = re.search(r"line (\d+)", error_text or "")
    if not match or dockerfile is None:
        return None
    line = int(match.group(1))
    return next((ins for ins in dockerfile.instructions if ins.line <= line <= ins.end_line), None)


def stop_facts(timeout: float) -> dict[str, Any]:
    """The limits a stopped build ran into, for the sentence that explains the stop (either builder)."""
    return {"seconds": timeout, "limit_bytes": limits.MAX_STEP_WRITE_BYTES}
