"""A class's submissions: each subfolder of the submissions folder is a learner, with a hash of what they handed in.

The hash decides whether a learner is graded again (grader/batch.py resumes what did not change), so it
depends only on the files: their relative paths and bytes, links by their target, caches left out.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SKIPPED_NAMES = {".git", "__pycache__"}


@dataclass(frozen=True)
class Submission:
    """One learner's folder, named by the learner."""

    learner: str
    folder: Path
    content_hash: str


def discover(root: Path, exercise_id: str) -> list[Submission]:
    """Each subfolder of ROOT is a learner; its EXERCISE_ID/ (or exercises/EXERCISE_ID/) folder is graded when it has one."""
    submissions = []
    for child in sorted(Path(root).iterdir(), key=lambda p: p.name):
        if child.name.startswith(".") or not child.is_dir():
            continue
        folder = exercise_folder(child, exercise_id)
        submissions.append(Submission(child.name, folder.resolve(), content_hash(folder)))
    return submissions


def exercise_folder(learner_folder: Path, exercise_id: str) -> Path:
    """The folder to grade in a learner's folder: a whole course repository (the starter kit's
    `exercises/EXERCISE/`, or `EXERCISE/`) holds it deeper; otherwise the learner's folder itself."""
    for nested in (learner_folder / exercise_id, learner_folder / "exercises" / exercise_id):
        if nested.is_dir():
            return nested
    return learner_folder


def _walk(folder: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_NAMES)
        base = Path(dirpath)
        for name in sorted(filenames):
            if name in SKIPPED_NAMES:
                continue
            path = base / name
            yield path.relative_to(folder).as_posix(), path
        for name in dirnames:  # symlinked folders are not walked into: hash the link itself
            if (base / name).is_symlink():
                yield (base / name).relative_to(folder).as_posix(), base / name


def content_hash(folder: Path) -> str:
    """sha256 over the sorted relative paths and bytes of a folder (.git and __pycache__ skipped; links by target)."""
    digest = hashlib.sha256()
    for relative, path in sorted(_walk(Path(folder))):
        digest.update(relative.encode("utf-8", "surrogateescape") + b"\0")
        try:
            if path.is_symlink():
                digest.update(b"L" + os.readlink(path).encode("utf-8", "surrogateescape"))
            elif path.is_file():
                digest.update(b"F")
                with path.open("rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
            else:
                digest.update(b"S")  # a socket or fifo: its name counts, it has no bytes
        except OSError as error:
            digest.update(f"E{error.errno}".encode())
        digest.update(b"\0")
    return digest.hexdigest()
