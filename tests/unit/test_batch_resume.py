"""The batch's scheduling without an engine: resume, regrade diff, retries, engines that die, bounds, interrupts."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from batch_helpers import report_of
from grader import batch as batch_module
from grader.batch import BatchOptions, Task, run
from grader.engine.pool import Engine
from grader.gradebook import Gradebook
from grader.rows import GRADED, GRADER_ERROR, NOT_GRADABLE, TIMED_OUT
from grader.model import Status
from grader.worker import Attempt


def make_folders(root: Path, learners: list[str]) -> Path:
    for learner in learners:
        (root / learner).mkdir(parents=True, exist_ok=True)
        (root / learner / "Dockerfile").write_text(f"FROM python:3.11-slim\n# {learner}\n")
    return root


def engine(name: str, jobs: int = 1, alive=lambda: True) -> Engine:
    def ping():
        if not alive():
            raise ConnectionError(f"{name} is gone")

    return Engine(f"unix:///{name}.sock", jobs, name=name, version="20.10", ping=ping)


class FakeGrader:
    """Grades by a rule: learner -> Attempt (default: full marks); counts calls and concurrency."""

    def __init__(self, exercise, rule=None, delay: float = 0.0):
        self.exercise, self.rule, self.delay = exercise, rule or (lambda task, engine: None), delay
        self.calls: list[tuple[str, str]] = []
        self.running = self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, task: Task, engine: Engine) -> Attempt:
        with self.lock:
            self.calls.append((task.submission.learner, engine.name))
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(self.delay)
            attempt = self.rule(task, engine)
            return attempt or Attempt(GRADED, report_of(self.exercise, folder=task.submission.folder), duration=0.1)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def setup(tmp_path, exercise):
    submissions = make_folders(tmp_path / "subs", ["alice", "bob", "carol", "dave"])
    options = BatchOptions(exercise, Path("labs.yaml"), submissions, tmp_path / "out")
    return options, Gradebook.in_folder(options.out)


def test_a_rerun_grades_nothing_that_did_not_change(setup, exercise):
    options, book = setup
    first = FakeGrader(exercise)
    result = run(options, [engine("e1", 2)], book, grade_one=first)
    assert sorted(learner for learner, _ in first.calls) == ["alice", "bob", "carol", "dave"]
    assert result.counts()[GRADED] == 4 and result.unchanged == []
    again = FakeGrader(exercise)
    result = run(options, [engine("e1", 2)], book, grade_one=again)
    assert again.calls == [] and sorted(result.unchanged) == ["alice", "bob", "carol", "dave"]
    assert len(book.all()) == 4


def test_a_changed_submission_is_regraded_and_its_diff_names_the_checks(setup, exercise):
    options, book = setup
    run(options, [engine("e1")], book, grade_one=FakeGrader(exercise))
    (options.submissions / "bob" / "Dockerfile").write_text("FROM python:latest\n")
    worse = FakeGrader(exercise, lambda task, e: Attempt(GRADED, report_of(exercise, {"base-image": Status.FAILED, "build": Status.BLOCKED})))
    result = run(options, [engine("e1")], book, grade_one=worse)
    assert worse.calls == [("bob", "e1")]
    assert [c.line() for c in result.changes] == ["bob: 100 -> 80 (-20): base-image passed -> failed (-10), build passed -> blocked (-10)"]


def test_regrade_grades_everything_and_reports_only_changes(setup, exercise):
    options, book = setup
    run(options, [engine("e1")], book, grade_one=FakeGrader(exercise))
    options.regrade = True
    rule = lambda task, e: Attempt(GRADED, report_of(exercise, {"hadolint": Status.FAILED})) if task.submission.learner == "carol" else None  # noqa: E731
    again = FakeGrader(exercise, rule)
    result = run(options, [engine("e1")], book, grade_one=again)
    assert len(again.calls) == 4
    assert [c.line() for c in result.changes] == ["carol: 100 -> 95 (-5): hadolint passed -> failed (-5)"]


def test_a_regrade_starts_with_what_took_longest_last_time(setup, exercise):
    options, book = setup
    took = {"alice": 0.1, "bob": 5.0, "carol": 0.2, "dave": 45.0}  # dave ran into the time limit
    first = FakeGrader(exercise, lambda task, e: Attempt(GRADED, report_of(exercise), duration=took[task.submission.learner]))
    run(options, [engine("e1")], book, grade_one=first)
    assert [learner for learner, _ in first.calls] == ["alice", "bob", "carol", "dave"]  # nothing known, every Dockerfile its own: by name
    options.regrade = True
    again = FakeGrader(exercise)
    run(options, [engine("e1")], book, grade_one=again)
    assert [learner for learner, _ in again.calls] == ["dave", "bob", "carol", "alice"]


def test_a_first_run_starts_with_dockerfiles_nobody_else_has(tmp_path, exercise):
    submissions = make_folders(tmp_path / "subs", ["alice", "bob", "carol", "dave", "erin"])
    common = "FROM python:3.11-slim\nRUN pip install flask\n"
    for learner in ("alice", "bob", "dave"):
        (submissions / learner / "Dockerfile").write_text(common)
    (submissions / "erin" / "Dockerfile").unlink()  # no Dockerfile: its own "kind" too
    options = BatchOptions(exercise, Path("labs.yaml"), submissions, tmp_path / "out")
    grader = FakeGrader(exercise)
    run(options, [engine("e1")], Gradebook.in_folder(options.out), grade_one=grader)
    assert [learner for learner, _ in grader.calls] == ["carol", "erin", "alice", "bob", "dave"]


def test_a_new_grader_version_regrades(setup, exercise, monkeypatch):
    options, book = setup
    run(options, [engine("e1")], book, grade_one=FakeGrader(exercise))
    monkeypatch.setattr(batch_module, "grader_version", lambda exercise: "9.9.9+new")
    again = FakeGrader(exercise)
    run(options, [engine("e1")], book, grade_one=again)
    assert len(again.calls) == 4


def test_not_gradable_is_retried_by_the_next_run_and_never_scored(setup, exercise):
    options, book = setup
    broken = FakeGrader(exercise, lambda task, e: Attempt(NOT_GRADABLE, message="out of disk") if task.submission.learner == "bob" else None)
    result = run(options, [engine("e1")], book, grade_one=broken)
    assert [learner for learner, _ in broken.calls].count("bob") == options.max_attempts
    assert result.not_gradable() == ["bob"]
    assert book.current(exercise.id)["bob"].score is None
    fixed = FakeGrader(exercise)
    result = run(options, [engine("e1")], book, grade_one=fixed)
    assert fixed.calls == [("bob", "e1")] and result.not_gradable() == []


def test_work_of_an_engine_that_dies_moves_to_the_other(setup, exercise):
    options, book = setup
    state = {"e2": True}

    def rule(task, e):
        if e.name == "e2":
            state["e2"] = False  # the engine dies during its first grading
            return Attempt(NOT_GRADABLE, message="the engine stopped answering")
        return None

    grader = FakeGrader(exercise, rule, delay=0.05)
    result = run(options, [engine("e1"), engine("e2", alive=lambda: state["e2"])], book, grade_one=grader)
    assert [name for _, name in grader.calls].count("e2") == 1
    current = book.current(exercise.id)
    assert all(g.state == GRADED and g.engine == "unix:///e1.sock" for g in current.values())
    assert [g.state for g in book.all() if g.engine == "unix:///e2.sock"] == [NOT_GRADABLE]
    assert result.not_gradable() == []


def test_with_every_engine_gone_the_rest_is_not_gradable_not_zero(setup, exercise):
    options, book = setup
    state = {"up": True}

    def rule(task, e):
        state["up"] = False
        return Attempt(NOT_GRADABLE, message="engine gone")

    result = run(options, [engine("e1", alive=lambda: state["up"])], book, grade_one=FakeGrader(exercise, rule))
    assert result.not_gradable() == ["alice", "bob", "carol", "dave"]
    assert all(g.score is None for g in book.current(exercise.id).values())
    assert "no engine left" in book.current(exercise.id)["dave"].message


def test_a_timeout_is_a_result_unless_the_engine_went_away(setup, exercise):
    options, book = setup
    up = {"value": True}

    def rule(task, e):
        if task.submission.learner == "alice":
            return Attempt(TIMED_OUT, report_of(exercise, {"build": Status.BLOCKED}), "grading exceeded 5 s")
        if task.submission.learner == "bob":
            up["value"] = False
            return Attempt(TIMED_OUT, report_of(exercise, {"build": Status.BLOCKED}), "grading exceeded 5 s")
        return None

    run(options, [engine("e1", alive=lambda: up["value"] or True), engine("e2", alive=lambda: up["value"])], book, grade_one=FakeGrader(exercise, rule))
    current = book.current(exercise.id)
    assert current["alice"].state == TIMED_OUT and current["alice"].score == 90
    assert current["bob"].state in (GRADED, TIMED_OUT)  # retried elsewhere when its engine died, a result otherwise


def test_a_crash_on_the_batch_side_becomes_a_result(setup, exercise):
    options, book = setup

    def rule(task, e):
        if task.submission.learner == "carol":
            raise RuntimeError("boom")
        return None

    result = run(options, [engine("e1")], book, grade_one=FakeGrader(exercise, rule))
    carol = book.current(exercise.id)["carol"]
    assert carol.state == GRADER_ERROR and "boom" in carol.message and carol.score == 0
    assert result.counts()[GRADED] == 3


def test_each_engine_keeps_its_own_worker_bound(tmp_path, exercise):
    submissions = make_folders(tmp_path / "subs", [f"l{n:02d}" for n in range(12)])
    options = BatchOptions(exercise, Path("labs.yaml"), submissions, tmp_path / "out")
    per_engine: dict[str, int] = {}
    peaks: dict[str, int] = {}
    lock = threading.Lock()

    def rule(task, e):
        with lock:
            per_engine[e.name] = per_engine.get(e.name, 0) + 1
            peaks[e.name] = max(peaks.get(e.name, 0), per_engine[e.name])
        time.sleep(0.05)
        with lock:
            per_engine[e.name] -= 1
        return None

    grader = FakeGrader(exercise, rule)
    run(options, [engine("e1", 3), engine("e2", 1)], Gradebook.in_folder(options.out), grade_one=grader)
    assert peaks == {"e1": 3, "e2": 1} and grader.peak == 4
    assert len(grader.calls) == 12


def test_an_interrupted_batch_keeps_what_finished_and_the_rerun_grades_the_rest_once(setup, exercise):
    options, book = setup

    def rule(task, e):
        if task.submission.learner == "bob":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while bob is being graded
            time.sleep(0.2)
        return None

    result = run(options, [engine("e1")], book, grade_one=FakeGrader(exercise, rule))
    assert result.interrupted
    done = {g.learner for g in book.all()}
    assert "alice" in done and "dave" not in done
    rest = FakeGrader(exercise)
    run(options, [engine("e1")], book, grade_one=rest)
    assert sorted(learner for learner, _ in rest.calls) == sorted({"alice", "bob", "carol", "dave"} - done)
    learners = [g.learner for g in book.all() if g.final]
    assert sorted(learners) == ["alice", "bob", "carol", "dave"]  # each exactly once


def test_what_a_killed_batch_left_is_swept_by_the_next_run(setup, exercise, monkeypatch):
    options, book = setup
    book.begin_batch("old", "bdead00-", ["unix:///e1.sock"])  # a batch killed mid-run
    book.begin_batch("older", "bdead01-", ["unix:///e1.sock", "unix:///gone.sock"])  # one of its engines is not back
    swept: list[tuple[str, str]] = []
    e1 = engine("e1")
    monkeypatch.setattr(e1, "sweep_prefix", lambda prefix: swept.append((e1.name, prefix)))
    run(options, [e1], book, grade_one=FakeGrader(exercise))
    assert swept[:2] == [("e1", "bdead00-"), ("e1", "bdead01-")]  # before grading
    assert ("e1", "bdead00-") in swept[2:] and any(p.startswith("b") and not p.startswith("bdead") for _, p in swept)  # and after
    assert [b for b, _, _ in book.unfinished_batches()] == ["older"]  # swept again once gone.sock answers


def test_a_ctrl_c_while_the_workers_start_is_an_interrupted_batch(setup, exercise, monkeypatch):
    options, book = setup
    started = []

    class CtrlCOnSecondStart(threading.Thread):
        def start(self):
            if started:
                raise KeyboardInterrupt  # Ctrl-C lands while the second worker is being started
            started.append(self)
            super().start()

    monkeypatch.setattr(batch_module.threading, "Thread", CtrlCOnSecondStart)
    result = run(options, [engine("e1", 2)], book, grade_one=FakeGrader(exercise))
    assert result.interrupted and len(started) == 1
