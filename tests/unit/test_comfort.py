"""Learner comfort without an engine: the progress file, `list` with best scores, `hint`, and the watch loop."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from unit_helpers import SOLUTION, STARTER
from grader import cli, watch
from grader.cli import grade as grade_command
from grader.i18n import set_language
from grader.model import CheckResult, Report, Status
from grader.progress_store import ProgressStore, store_path
from grader.outputs.common import hint_levels


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """English messages and a progress file of the test's own."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE", "XDG_DATA_HOME", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "labkit-home"))
    set_language("en")
    yield
    set_language(None)


def report_of(exercise, passed_ids=(), failed=None) -> Report:
    """A report where the listed checks passed, `failed` ones failed with a message, the rest were blocked."""
    failed = failed or {}
    results = []
    for check in exercise.checks:
        if check.id in passed_ids:
            results.append(CheckResult(check, Status.PASSED, "ok"))
        elif check.id in failed:
            results.append(CheckResult(check, Status.FAILED, failed[check.id], "Dockerfile:3"))
        else:
            results.append(CheckResult(check, Status.BLOCKED, "not checked"))
    return Report(exercise, Path("/tmp/submission"), results, 1.0)


def all_but(exercise, *failing: str) -> Report:
    return report_of(exercise, {c.id for c in exercise.checks} - set(failing), {f: f"{f} failed" for f in failing})


# -- where the file lives --------------------------------------------------------------------


def test_store_path_follows_labkit_home_then_xdg(monkeypatch, tmp_path):
    assert store_path() == tmp_path / "labkit-home" / "progress.json"
    monkeypatch.delenv("LABKIT_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert store_path() == tmp_path / "data" / "labkit" / "progress.json"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store_path() == tmp_path / "home" / ".local" / "share" / "labkit" / "progress.json"


# -- recording -------------------------------------------------------------------------------


def test_record_keeps_the_best_and_the_last(exercise, tmp_path):
    store = ProgressStore()
    store.record(all_but(exercise, "expose-port", "predictions"))  # 80
    store.record(all_but(exercise))  # 100
    store.record(all_but(exercise, "no-todo"))  # 95
    fresh = ProgressStore()  # read back from the file
    assert fresh.best("exercise-01") == (100.0, 100.0)
    entry = fresh.entry("exercise-01")
    assert entry["last"] == 95 and entry["max"] == 100 and entry["gradings"] == 3
    assert entry["when"] and entry["best_when"]
    assert fresh.failed_checks("exercise-01") == [{"id": "no-todo", "message": "Dockerfile:3: no-todo failed"}]
    assert fresh.entry("exercise-02") is None and fresh.best("exercise-02") is None
    leftovers = [p.name for p in store.path.parent.iterdir() if p.name != "progress.json"]
    assert leftovers == []  # the temporary file was renamed over, not left behind


def test_a_corrupt_file_is_set_aside_with_a_warning(exercise):
    path = store_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    warnings = []
    store = ProgressStore(warn=warnings.append)
    assert store.best("exercise-01") is None
    assert len(warnings) == 1 and "could not be read" in warnings[0] and "progress.json.corrupt" in warnings[0]
    assert path.with_name("progress.json.corrupt").read_text(encoding="utf-8") == "{not json"
    store.record(all_but(exercise))
    assert json.loads(path.read_text(encoding="utf-8"))["exercises"]["exercise-01"]["best"] == 100


@pytest.mark.parametrize("text", ["[1, 2]", '{"exercises": 3}', "\udcff".encode("utf-8", "surrogateescape").decode("latin-1")])
def test_any_unreadable_shape_starts_fresh(text, exercise):
    path = store_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("latin-1") if text.startswith("\u00ff") else text.encode("utf-8"))
    warnings = []
    assert ProgressStore(warn=warnings.append).best("exercise-01") is None
    assert warnings


def test_hand_edited_entries_do_not_crash(exercise):
    path = store_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"exercises": {"exercise-01": {"best": "lots", "failed": [3, {"id": 4}], "hint": "x"}, "exercise-02": 7}}))
    store = ProgressStore()
    assert store.best("exercise-01") is None and store.failed_checks("exercise-01") == []
    assert store.next_hint_level("exercise-01", "no-todo") == 1
    store.record(all_but(exercise))
    assert store.best("exercise-01") == (100.0, 100.0)


def test_an_unwritable_place_warns_and_goes_on(exercise, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("LABKIT_HOME", str(blocker / "below-a-file"))
    warnings = []
    ProgressStore(warn=warnings.append).record(all_but(exercise))
    assert len(warnings) == 1 and "could not save your progress" in warnings[0]


def test_hint_levels_advance_per_check_and_reset():
    store = ProgressStore()
    assert [store.next_hint_level("exercise-01", "no-todo") for _ in range(3)] == [1, 2, 3]
    assert store.next_hint_level("exercise-01", "base-image") == 1  # another check starts again
    assert store.next_hint_level("exercise-01", "base-image") == 2
    store.reset_hints("exercise-01")
    assert ProgressStore().next_hint_level("exercise-01", "base-image") == 1


# -- list ------------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def exercise01_line(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("exercise-01")]
    return line


def test_list_shows_not_graded_then_the_best_score(capsys, exercise):
    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    assert exercise01_line(out).endswith("not graded yet")
    store = ProgressStore()
    store.record(all_but(exercise, "expose-port"))
    store.record(all_but(exercise, "expose-port", "no-todo", "build"))
    line = exercise01_line(run(capsys, "list")[1])
    assert "Your first ML API image" in line and "100 points" in line
    assert "best 90/100 (2 grading(s); last 75/100)" in line


def test_list_survives_a_corrupt_progress_file(capsys):
    store_path().parent.mkdir(parents=True)
    store_path().write_text("garbage")
    code, out, err = run(capsys, "list")
    assert code == 0 and "not graded yet" in exercise01_line(out)
    assert err.startswith("warning: your progress file") and "Traceback" not in err


# -- hint ------------------------------------------------------------------------------------


def test_hint_gives_one_more_level_each_time_for_the_first_failing_static_check(capsys, exercise):
    levels = hint_levels(exercise, "no-todo")
    assert len(levels) >= 3 and levels[0] == next(c.hint for c in exercise.checks if c.id == "no-todo")
    outputs = [run(capsys, "hint", "exercise-01")[1] for _ in range(len(levels) + 1)]
    for number, out in enumerate(outputs[: len(levels)], start=1):
        assert f"Hint level {number} of {len(levels)}" in out and "(no-todo)" in out
        assert levels[number - 1] in out
        assert "TODO line(s) left" in out  # the grader's feedback comes with it
    assert "Run the same command again" in outputs[0]
    assert "That was the last hint" in outputs[len(levels) - 1]
    assert f"Hint level {len(levels)} of {len(levels)}" in outputs[-1] and "That was the last hint" in outputs[-1]
    code, out, _ = run(capsys, "hint", "exercise-01", "--reset")
    assert code == 0 and "start over" in out
    assert f"Hint level 1 of {len(levels)}" in run(capsys, "hint", "exercise-01")[1]


def test_hint_after_static_checks_pass_uses_the_last_grading(capsys, exercise, tmp_path):
    folder = tmp_path / "work"
    shutil.copytree(SOLUTION, folder)
    code, out, _ = run(capsys, "hint", "exercise-01", "--path", str(folder))
    assert code == 0 and "static checks all pass" in out and "python -m grader exercise-01" in out
    ProgressStore().record(all_but(exercise, "expose-port", "predictions"))
    out = run(capsys, "hint", "exercise-01", "--path", str(folder))[1]
    assert "(expose-port)" in out and "from your last grading" in out and "expose-port failed" in out
    assert "Hint level 1 of" in out and hint_levels(exercise, "expose-port")[0] in out
    ProgressStore().record(all_but(exercise))
    out = run(capsys, "hint", "exercise-01", "--path", str(folder))[1]
    assert "Nothing to hint" in out


def test_hint_without_a_dockerfile_says_what_is_missing(capsys, tmp_path):
    code, out, _ = run(capsys, "hint", "exercise-01", "--path", str(tmp_path))
    assert code == 0 and "cannot read your work yet" in out and "no Dockerfile" in out


def test_hint_in_korean(capsys):
    out = run(capsys, "hint", "exercise-01", "--lang", "ko", "--path", str(STARTER))[1]
    assert "1단계" in out and "Dockerfile에 TODO가 남아 있지 않음" in out


def test_hint_unknown_exercise_is_exit_2(capsys):
    code, _, err = run(capsys, "hint", "exercise-99")
    assert code == 2 and err.startswith("error: unknown exercise")


def test_no_hint_gives_the_solution_away(exercise):
    """Only a ladder's last level may quote the reference Dockerfile, and even it holds at most three of its lines."""
    solution = [
        line.strip() for line in (SOLUTION / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for language in ("en", "ko"):
        set_language(language)
        for check in exercise.checks:
            *before, last = hint_levels(exercise, check.id)
            for text in before:
                assert not [line for line in solution if line in text], (language, check.id, text)
            assert sum(instruction in last for instruction in solution) <= 3, (language, check.id, last)


# -- watch: scanning -------------------------------------------------------------------------


def test_scan_sees_files_and_ignores_caches_and_editor_files(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print(1)\n")
    for ignored in ("__pycache__/x.pyc", ".git/HEAD", ".venv/lib/site.py", ".Dockerfile.swp", "Dockerfile~", "4913", ".#Dockerfile"):
        path = tmp_path / ignored
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    snapshot = watch.scan(tmp_path)
    assert sorted(snapshot) == ["Dockerfile", os.path.join("app", "main.py")]
    size = snapshot["Dockerfile"][1]
    assert size == len("FROM python:3.11-slim\n")


def test_changed_files_lists_added_removed_and_modified():
    before = {"a": (1, 1), "b": (1, 1), "c": (1, 1)}
    after = {"a": (1, 1), "b": (2, 1), "d": (1, 1)}
    assert watch.changed_files(before, after) == ["b", "c", "d"]
    assert watch.changed_files(before, dict(before)) == []


def test_scan_sees_a_save_that_keeps_the_size(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("EXPOSE 5000\n")
    before = watch.scan(tmp_path)
    path.write_text("EXPOSE 5001\n")
    os.utime(path, ns=(before["Dockerfile"][0] + 1_000_000, before["Dockerfile"][0] + 1_000_000))
    assert watch.changed_files(before, watch.scan(tmp_path)) == ["Dockerfile"]


# -- watch: the loop, with a fake clock and fake files ---------------------------------------


class Stop(Exception):
    """Ends the endless loop in tests, as Ctrl-C does for learners."""


class FakeFolder:
    """Scans that follow a script: snapshot number N is returned from the Nth time step on."""

    def __init__(self, timeline: list[tuple[float, dict]], events: list, stop_at: float):
        self.timeline, self.events, self.stop_at, self.now = timeline, events, stop_at, 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.now > self.stop_at:
            raise Stop

    def scan(self, folder) -> dict:
        return [snapshot for at, snapshot in self.timeline if at <= self.now][-1]


def run_watch(timeline, stop_at, grading_seconds=0.0):
    events: list = []
    fake = FakeFolder(timeline, events, stop_at)

    def grade():
        events.append(("grade", round(fake.now, 2)))
        fake.now += grading_seconds

    with pytest.raises(Stop):
        watch.watch(
            Path("."), grade=grade, static=lambda: events.append(("static", round(fake.now, 2))),
            on_change=lambda files: events.append(("changed", files)),
            scan=fake.scan, sleep=fake.sleep, clock=fake.clock,
        )
    return events


def test_watch_grades_once_then_static_at_once_and_a_full_grading_after_quiet():
    events = run_watch([(0, {"Dockerfile": (1, 10)}), (1.0, {"Dockerfile": (2, 11)})], stop_at=5)
    assert events[0] == ("grade", 0)
    assert events[1] == ("changed", ["Dockerfile"])
    kind, at = events[2]
    assert kind == "static" and 1.0 <= at <= 1.0 + watch.POLL_SECONDS + 0.2  # instant feedback, well under 0.5 s
    assert [e[0] for e in events] == ["grade", "changed", "static", "grade"]
    assert events[3][1] >= at + watch.QUIET_SECONDS - 0.01


def test_watch_debounces_a_burst_of_saves_into_one_build():
    saves = [(0, {"f": (0, 1)})] + [(1.0 + i * 0.2, {"f": (i + 1, 1)}) for i in range(5)]
    events = run_watch(saves, stop_at=6)
    kinds = [e[0] for e in events]
    assert kinds.count("grade") == 2  # the first grading and one after the burst
    assert kinds.count("static") >= 2  # but each save got its static checks
    assert kinds[-1] == "grade" and events[-1][1] >= 1.8 + watch.QUIET_SECONDS - 0.01


def test_watch_regrades_after_a_save_made_during_a_grading():
    # The first grading runs from 0 to 3 s; the learner saves at 1 s.
    events = run_watch([(0, {"f": (0, 1)}), (1.0, {"f": (1, 1)})], stop_at=8, grading_seconds=3.0)
    assert [e[0] for e in events] == ["grade", "changed", "static", "grade"]
    assert events[2][1] <= 3.0 + watch.POLL_SECONDS + 0.2


def test_watch_ignores_a_quiet_folder():
    events = run_watch([(0, {"f": (0, 1)})], stop_at=3)
    assert events == [("grade", 0)]


# -- grade records the learner's own runs ----------------------------------------------------


@pytest.fixture
def fake_grading(monkeypatch, exercise):
    """`python -m grader exercise-01` with the engine replaced by a report losing expose-port's 10 points."""
    monkeypatch.setattr(grade_command, "connect", lambda: object())
    monkeypatch.setattr(grade_command, "grade", lambda exercise_, submission, **kwargs: all_but(exercise, "expose-port"))


@pytest.mark.parametrize("extra, environment, recorded", [((), {}, True), (("--no-record",), {}, False), ((), {"CI": "true"}, False)])
def test_grade_records_unless_told_not_to(extra, environment, recorded, fake_grading, capsys, monkeypatch):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    code, out, _ = run(capsys, "exercise-01", *extra)
    assert code == 1 and out.rstrip().splitlines()[-1] == "Score: 90/100"
    assert (ProgressStore().best("exercise-01") == (90.0, 100.0)) is recorded
    assert store_path().exists() is recorded
