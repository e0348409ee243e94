"""The gradebook: one SQLite row per grading, written in its own transaction so a killed batch loses nothing finished.

Rows hold the whole result model (every check's outcome) as JSON (grader/codec.py), so every output
renders back from the gradebook into the same `Report` the single-submission grader prints. The row
type, `Grading`, and the states a grading ends in live in core (grader/rows.py): the renderers read
them without importing the store.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from grader.codec import bounded, report_from_dict, report_to_dict
from grader.rows import FINAL_STATES, NOT_GRADABLE, Grading

SCHEMA_VERSION = 1
FILENAME = "gradebook.sqlite"

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
            bounded(grading.message), round(grading.duration, 3), grading.content_hash, grading.grader_version,
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
