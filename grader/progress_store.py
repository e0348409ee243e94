"""The learner's own progress: best and last score per exercise, and how far the hints went.

One JSON file, `$LABKIT_HOME/progress.json` or `$XDG_DATA_HOME/labkit/progress.json`
(`~/.local/share/labkit/progress.json`). Written atomically (a temporary file, then
os.replace), so a Ctrl-C never leaves half a file. A file that cannot be read is set
aside and a fresh one started, with a warning: progress is a comfort, never a reason to fail.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from grader.i18n import t
from grader.model import Report, Status

VERSION = 1
FILENAME = "progress.json"
MAX_MESSAGE = 600  # characters of a failed check's feedback kept for `hint`

Warn = Callable[[str], None]


def store_path() -> Path:
    """Where the progress file lives, following LABKIT_HOME, then XDG_DATA_HOME."""
    home = os.environ.get("LABKIT_HOME")
    if home:
        return Path(home).expanduser() / FILENAME
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "labkit" / FILENAME


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def now_text() -> str:
    """The local time as the file records it: 2025-01-31 14:05."""
    return time.strftime("%Y-%m-%d %H:%M")


class ProgressStore:
    """Read-modify-write access to the progress file; every change is saved at once."""

    def __init__(self, path: Path | None = None, warn: Warn = lambda text: None):
        self.path = Path(path) if path else store_path()
        self.warn = warn
        self._data: dict[str, Any] | None = None

    # -- reading -------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        if self._data is not None:
            return self._data
        fresh: dict[str, Any] = {"version": VERSION, "exercises": {}}
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):  # never graded, or a path that cannot hold it (warned on save)
            self._data = fresh
            return fresh
        except (OSError, UnicodeDecodeError) as error:
            self._set_aside(getattr(error, "strerror", None) or type(error).__name__)
            self._data = fresh
            return fresh
        try:
            document = json.loads(text)
            if not isinstance(document, dict) or not isinstance(document.get("exercises"), dict):
                raise ValueError("not a progress file")
        except ValueError as error:
            self._set_aside(str(error).split(":")[0])
            self._data = fresh
            return fresh
        # Keep only well-formed entries: a hand-edited file must not crash the grader later.
        document["exercises"] = {k: v for k, v in document["exercises"].items() if isinstance(k, str) and isinstance(v, dict)}
        document["version"] = VERSION
        self._data = document
        return document

    def _set_aside(self, reason: str) -> None:
        backup = self.path.with_name(self.path.name + ".corrupt")
        try:
            os.replace(self.path, backup)
        except OSError:
            backup = self.path
        self.warn(t("progress.corrupt", path=self.path, error=reason, backup=backup))

    def entry(self, exercise_id: str) -> dict[str, Any] | None:
        """What is recorded for one exercise, or None when it was never graded."""
        return self._load()["exercises"].get(exercise_id)

    def best(self, exercise_id: str) -> tuple[float, float] | None:
        """(best score, the maximum it was out of), or None."""
        entry = self.entry(exercise_id) or {}
        best, best_max = _number(entry.get("best")), _number(entry.get("best_max", entry.get("max")))
        return (best, best_max) if best is not None and best_max is not None else None

    def failed_checks(self, exercise_id: str) -> list[dict[str, str]]:
        """The checks the last grading failed, in order: {id, message}."""
        failed = (self.entry(exercise_id) or {}).get("failed") or []
        return [f for f in failed if isinstance(f, dict) and isinstance(f.get("id"), str)]

    # -- writing -------------------------------------------------------------------------

    def _save(self) -> None:
        data = self._load()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=self.path.parent, prefix=".progress-", suffix=".tmp", delete=False
            )
            try:
                with handle:
                    json.dump(data, handle, indent=2, ensure_ascii=False, sort_keys=True)
                    handle.write("\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(handle.name, self.path)
            except BaseException:
                Path(handle.name).unlink(missing_ok=True)
                raise
        except OSError as error:
            self.warn(t("progress.unwritable", path=self.path, error=error.strerror or error))

    def record(self, report: Report) -> dict[str, Any]:
        """Remember one grading: last score, best score, what failed."""
        exercises = self._load()["exercises"]
        entry = exercises.setdefault(report.exercise.id, {})
        score, maximum, when = float(report.score), float(report.max_score), now_text()
        previous = self.best(report.exercise.id)
        # A best out of another maximum (labs.yaml changed) is not comparable: the new one replaces it.
        if previous is None or previous[1] != maximum or score > previous[0]:
            entry.update(best=score, best_max=maximum, best_when=when)
        entry.update(last=score, max=maximum, when=when, submission=str(report.submission))
        entry["gradings"] = int(_number(entry.get("gradings")) or 0) + 1
        entry["failed"] = [
            {"id": r.spec.id, "message": (f"{r.location}: {r.message}" if r.location else r.message)[:MAX_MESSAGE]}
            for r in report.results
            if r.status is Status.FAILED
        ]
        self._save()
        return entry

    def next_hint_level(self, exercise_id: str, check_id: str) -> int:
        """One more hint for this check (1 the first time); another check starts again at 1."""
        entry = self._load()["exercises"].setdefault(exercise_id, {})
        hint = entry.get("hint") if isinstance(entry.get("hint"), dict) else {}
        level = int(_number(hint.get("level")) or 0) + 1 if hint.get("check") == check_id else 1
        entry["hint"] = {"check": check_id, "level": level}
        self._save()
        return level

    def reset_hints(self, exercise_id: str) -> None:
        """Start this exercise's hints over."""
        entry = self._load()["exercises"].get(exercise_id)
        if entry and "hint" in entry:
            del entry["hint"]
            self._save()
