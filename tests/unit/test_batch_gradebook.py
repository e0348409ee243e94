"""The SQLite gradebook: rows render back into the same Report, latest/current standing, WAL, bounded text."""

from __future__ import annotations

import sqlite3

from batch_helpers import grading_of, report_of
from grader.codec import MAX_STORED_TEXT, report_from_dict, report_to_dict
from grader.gradebook import Gradebook
from grader.rows import GRADED, NOT_GRADABLE, TIMED_OUT
from grader.model import Status
from grader.outputs.gradescope import gradescope


def test_a_report_survives_the_round_trip_through_json(exercise):
    report = report_of(exercise, {"expose-port": Status.FAILED, "predictions": Status.BLOCKED})
    back = report_from_dict(report_to_dict(report))
    assert back.score == report.score == 80 and back.max_score == 100
    assert [(r.spec.id, r.status, r.message, r.location) for r in back.results] == [(r.spec.id, r.status, r.message, r.location) for r in report.results]
    assert gradescope(back)["tests"] == gradescope(report)["tests"]  # the same output from the stored row


def test_each_record_is_committed_and_visible_to_another_connection(tmp_path, exercise):
    book = Gradebook.in_folder(tmp_path)
    book.record(grading_of(exercise, "alice"))
    with sqlite3.connect(tmp_path / "gradebook.sqlite") as other:
        assert other.execute("SELECT learner, state, score, max_score FROM gradings").fetchall() == [("alice", GRADED, 100.0, 100.0)]
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    book.close()


def test_not_gradable_has_no_score_and_does_not_replace_a_result(tmp_path, exercise):
    book = Gradebook.in_folder(tmp_path)
    book.record(grading_of(exercise, "alice", {"build": Status.FAILED}))
    book.record(grading_of(exercise, "alice", state=NOT_GRADABLE, message="engine gone"))
    book.record(grading_of(exercise, "bob", state=NOT_GRADABLE, message="engine gone"))
    current = book.current(exercise.id)
    assert current["alice"].state == GRADED and current["alice"].score == 90
    assert current["bob"].state == NOT_GRADABLE and current["bob"].score is None and current["bob"].report is None
    with sqlite3.connect(tmp_path / "gradebook.sqlite") as other:
        assert other.execute("SELECT score FROM gradings WHERE learner = 'bob'").fetchone() == (None,)
    assert list(book.latest(exercise.id)) == ["alice", "bob"]
    assert book.latest(exercise.id)["alice"].state == NOT_GRADABLE
    assert list(book.latest(exercise.id, final_only=True)) == ["alice"]


def test_the_latest_final_grading_wins_and_history_is_kept(tmp_path, exercise):
    book = Gradebook.in_folder(tmp_path)
    book.record(grading_of(exercise, "alice", {"build": Status.FAILED}))
    book.record(grading_of(exercise, "alice", state=TIMED_OUT, message="grading exceeded 10 s"))
    assert book.current(exercise.id)["alice"].state == TIMED_OUT
    assert [g.state for g in book.all(exercise.id)] == [GRADED, TIMED_OUT]
    reopened = Gradebook.in_folder(tmp_path)
    assert reopened.current(exercise.id)["alice"].message == "grading exceeded 10 s"


def test_provenance_is_stored(tmp_path, exercise):
    book = Gradebook.in_folder(tmp_path)
    book.record(grading_of(exercise, "alice", base_image_id="sha256:base", engine_version="20.10.24"))
    row = book.all()[0]
    assert (row.grader_version, row.engine, row.engine_version, row.base_image_id, row.content_hash) == (
        "v1", "unix:///e1.sock", "20.10.24", "sha256:base", "h-alice",
    )
    assert row.finished_at.endswith("Z") and row.duration == 3.5


def test_huge_learner_text_is_bounded(tmp_path, exercise):
    book = Gradebook.in_folder(tmp_path)
    report = report_of(exercise, {"container-ready": Status.FAILED})
    report.results[-4] = report.results[-4].__class__(report.results[-4].spec, Status.FAILED, "x" * 10_000_000)
    grading = grading_of(exercise, "alice")
    grading.report = report
    book.record(grading)
    stored = book.current(exercise.id)["alice"].report
    assert max(len(r.message) for r in stored.results) <= MAX_STORED_TEXT
