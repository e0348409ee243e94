"""The gradebook: one SQLite row per grading, written in its own transaction so a killed batch loses nothing finished.

Rows hold the whole result model (every check's outcome) as JSON, so every output renders back from
the gradebook into the same `Report` the single-submission grader prints.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from grader.model import CheckResult, CheckSpec, ExerciseSpec, Report, Status

SCHEMA_VERSION = 1
FILENAME = "gradebook.sqlite"
MAX_STORED_TEXT = 20_000  # characters per message or detail: a hostile submission's logs stay bounded

# How a grading ended. The first three are final: the learner has a result.
GRADED = "graded"
TIMED_OUT = "timed_out"  # the per-submission limit cut it: checks not reached are blocked with the reason
GRADER_ERROR = "grader_error"  # the grading process itself crashed on this submission
NOT_GRADABLE = "not_gradable"  # infrastructure (engine gone, out of disk): no score, retried later
FINAL_STATES = (GRADED, TIMED_OUT, GRADER_ERROR)
STATE_LABELS = {GRADED: "graded", TIMED_OUT: "timed out", GRADER_ERROR: "grader error", NOT_GRADABLE: "not gradable"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gradings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    learner TEXT NOT NULL,
    exercise TEXT NOT NULL,
    state TEXT NOT NULL,
    score REAL,            -- NULL when not gradable: never a 0 the learner did not earn
    max_score REAL,
    results TEXT,          -- the Report as JSON (checks, facts); NULL when not gradable
    message TEXT NOT NULL DEFAULT '',
    duration REAL NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL,
    grader_version TEXT NOT NULL,
    engine TEXT NOT NULL DEFAULT '',
    engine_version TEXT NOT NULL DEFAULT '',
    base_image_id TEXT NOT NULL DEFAULT '',
    submission TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 1,
    batch TEXT NOT NULL DEFAULT '',
    finished_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gradings_learner ON gradings (exercise, learner, id);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    session_prefix TEXT NOT NULL,  -- every Session of the batch has an id starting with it
    engines TEXT NOT NULL,         -- JSON list of engine URLs
    started_at TEXT NOT NULL,
    finished_at TEXT               -- NULL: killed, its leftovers not yet swept
);
"""


@dataclass
class Grading:
    """One grading of one learner's submission, with where and how it was graded."""

    learner: str
    exercise: str
    state: str
    report: Report | None = None  # None only when not gradable
    message: str = ""  # what the batch adds: time limit hit, crash, infrastructure problem
    duration: float = 0.0
    content_hash: str = ""
    grader_version: str = ""
    engine: str = ""
    engine_version: str = ""
    base_image_id: str = ""
    submission: str = ""
    attempt: int = 1
    batch: str = ""
    finished_at: str = ""
    id: int | None = None

    @property
    def final(self) -> bool:
        """True when the learner has a result (not an infrastructure failure)."""
        return self.state in FINAL_STATES

    @property
    def score(self) -> float | None:
        """Points earned, or None when not gradable."""
        return self.report.score if self.report is not None and self.final else None

    @property
    def max_score(self) -> float | None:
        """Points available, when known."""
        return self.report.max_score if self.report is not None else None

    def check_statuses(self) -> dict[str, Status]:
        """Check id -> status."""
        return {r.spec.id: r.status for r in self.report.results} if self.report else {}


# -- the result model as JSON ------------------------------------------------------------------


def _bounded(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= MAX_STORED_TEXT else text[: MAX_STORED_TEXT - 30] + "\n… (cut: too long)"


def result_to_dict(result: CheckResult) -> dict[str, Any]:
    """One check's outcome with the spec fields a renderer needs."""
    spec = result.spec
    return {
        "id": spec.id, "kind": spec.kind, "title": spec.title, "points": spec.points, "hint": spec.report_hint("en"),
        "feedback": spec.feedback,
        "status": result.status.value, "message": _bounded(result.message), "location": result.location,
        "detail": _bounded(result.detail), "duration": round(result.duration, 3),
        # Titles for outputs in the batch's language (hints follow the feedback policy: `hint` above).
        "translations": {
            lang: {**{k: v for k, v in texts.items() if k != "hint"}, "hint": spec.report_hint(lang)}
            for lang, texts in spec.translations.items()
        },
    }


def result_from_dict(doc: dict[str, Any]) -> CheckResult:
    """Inverse of result_to_dict."""
    spec = CheckSpec(
        id=doc["id"], kind=doc.get("kind", ""), points=float(doc.get("points", 0)), title=doc.get("title", doc["id"]),
        hint=doc.get("hint", ""), translations=doc.get("translations") or {}, feedback=doc.get("feedback", "teach"),
    )
    return CheckResult(spec, Status(doc["status"]), doc.get("message", ""), doc.get("location"), doc.get("detail", ""), float(doc.get("duration", 0.0)))


def report_to_dict(report: Report) -> dict[str, Any]:
    """A Report as JSON: what the checks were (as graded) and how each ended."""
    return {
        "exercise": {"id": report.exercise.id, "title": report.exercise.title, "folder": report.exercise.folder, "port": report.exercise.port,
                     "titles": dict(report.exercise.titles)},
        "submission": str(report.submission),
        "duration": round(report.duration, 3),
        "facts": report.facts,
        "provenance": report.provenance,
        "results": [result_to_dict(r) for r in report.results],
    }


def report_from_dict(doc: dict[str, Any]) -> Report:
    """Inverse of report_to_dict: the checks as they were when graded, so old rows render as graded."""
    results = [result_from_dict(r) for r in doc.get("results", [])]
    ex = doc.get("exercise") or {}
    exercise = ExerciseSpec(
        id=ex.get("id", ""), title=ex.get("title", ""), folder=ex.get("folder", ""), port=int(ex.get("port", 0) or 0),
        checks=tuple(r.spec for r in results), titles=dict(ex.get("titles") or {}),
    )
    return Report(
        exercise, Path(doc.get("submission", "")), results, float(doc.get("duration", 0.0)), dict(doc.get("facts") or {}),
        dict(doc.get("provenance") or {}),
    )


# -- the database ------------------------------------------------------------------------------


class Gradebook:
    """The SQLite gradebook in an output folder; safe to share between threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        # WAL: a reader (an instructor's sqlite3 shell) never blocks the batch; each commit is durable
        # against a killed process, which is the failure a batch must survive.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    @classmethod
    def in_folder(cls, folder: Path) -> "Gradebook":
        """The gradebook of an output folder (created when missing)."""
        return cls(Path(folder) / FILENAME)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def record(self, grading: Grading) -> int:
        """Store one finished grading in its own transaction; returns its row id."""
        grading.finished_at = grading.finished_at or _now()
        results = json.dumps(report_to_dict(grading.report), ensure_ascii=False, default=str) if grading.report is not None else None
        values = (
            grading.learner, grading.exercise, grading.state, grading.score, grading.max_score, results,
            _bounded(grading.message), round(grading.duration, 3), grading.content_hash, grading.grader_version,
            grading.engine, grading.engine_version, grading.base_image_id, grading.submission, grading.attempt,
            grading.batch, grading.finished_at,
        )
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT INTO gradings (learner, exercise, state, score, max_score, results, message, duration, content_hash,"
                    " grader_version, engine, engine_version, base_image_id, submission, attempt, batch, finished_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        grading.id = cursor.lastrowid
        return grading.id

    def set_meta(self, values: dict[str, str]) -> None:
        """Remember what this gradebook grades (exercise, grader version, shard): what `merge` compares."""
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(values.items()))

    def meta(self) -> dict[str, str]:
        """Every meta key and value."""
        with self._lock:
            return {row["key"]: row["value"] for row in self._db.execute("SELECT key, value FROM meta").fetchall()}

    def begin_batch(self, batch_id: str, session_prefix: str, engines: list[str]) -> None:
        """Note a batch as running, so that a later run can sweep what it left if it is killed."""
        with self._lock:
            self._db.execute(
                "INSERT INTO batches (id, session_prefix, engines, started_at) VALUES (?, ?, ?, ?)",
                (batch_id, session_prefix, json.dumps(engines), _now()),
            )

    def unfinished_batches(self) -> list[tuple[str, str, list[str]]]:
        """(id, session prefix, engine URLs) of batches that never finished (killed)."""
        with self._lock:
            rows = self._db.execute("SELECT id, session_prefix, engines FROM batches WHERE finished_at IS NULL").fetchall()
        return [(row["id"], row["session_prefix"], json.loads(row["engines"])) for row in rows]

    def finish_batches(self, batch_ids: list[str]) -> None:
        """Mark batches as finished (their leftovers swept)."""
        with self._lock:
            self._db.executemany("UPDATE batches SET finished_at = ? WHERE id = ?", [(_now(), b) for b in batch_ids])

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Grading]:
        with self._lock:
            rows = self._db.execute(sql, tuple(params)).fetchall()
        return [_grading_of(row) for row in rows]

    def all(self, exercise: str | None = None) -> list[Grading]:
        """Every grading, oldest first."""
        if exercise is None:
            return self._rows("SELECT * FROM gradings ORDER BY id")
        return self._rows("SELECT * FROM gradings WHERE exercise = ? ORDER BY id", (exercise,))

    def latest(self, exercise: str, final_only: bool = False) -> dict[str, Grading]:
        """Each learner's most recent grading of the exercise (final ones only when asked)."""
        states = FINAL_STATES if final_only else FINAL_STATES + (NOT_GRADABLE,)
        marks = ",".join("?" for _ in states)
        rows = self._rows(
            f"SELECT * FROM gradings WHERE id IN (SELECT MAX(id) FROM gradings WHERE exercise = ? AND state IN ({marks}) GROUP BY learner)"
            " ORDER BY learner",
            (exercise, *states),
        )
        return {g.learner: g for g in rows}

    def current(self, exercise: str) -> dict[str, Grading]:
        """What each learner stands at: the latest final grading, else the latest not-gradable one."""
        standing = self.latest(exercise)
        standing.update(self.latest(exercise, final_only=True))
        return dict(sorted(standing.items()))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _grading_of(row: sqlite3.Row) -> Grading:
    report = report_from_dict(json.loads(row["results"])) if row["results"] else None
    return Grading(
        learner=row["learner"], exercise=row["exercise"], state=row["state"], report=report, message=row["message"],
        duration=row["duration"], content_hash=row["content_hash"], grader_version=row["grader_version"],
        engine=row["engine"], engine_version=row["engine_version"], base_image_id=row["base_image_id"],
        submission=row["submission"], attempt=row["attempt"], batch=row["batch"], finished_at=row["finished_at"], id=row["id"],
    )
