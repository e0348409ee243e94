"""The one Report rendered two ways: the terminal table and Gradescope's results.json."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from grader import __version__
from grader.model import CheckResult, CheckSpec, ExerciseSpec, Report, Status
from grader.outputs.common import points, result_text, score_line, write_json
from grader.outputs.gradescope import MAX_TOTAL_OUTPUT, gradescope
from grader.outputs.terminal import render_terminal

PASS_SPEC = CheckSpec("base-image", "base_image", 10, "FROM a slim image", hint="Use python:3.11-slim.")
FAIL_SPEC = CheckSpec("cmd-exec-form", "exec_form_cmd", 5, "CMD in exec form", hint="Write CMD as a JSON array.")
BLOCK_SPEC = CheckSpec("expose-port", "image_exposes", 2.5, "The image exposes 5001", hint="Add EXPOSE 5001.", params={"port": 5001})
EXERCISE = ExerciseSpec("exercise-01", "Your first ML API image", "exercises/exercise-01", 5001, (PASS_SPEC, FAIL_SPEC, BLOCK_SPEC))

FAIL_MESSAGE = "`CMD python flask_api_v2.py` is shell form: write it as JSON"


def make_report(detail: str = "", **extra) -> Report:
    results = [
        CheckResult(PASS_SPEC, Status.PASSED, "`FROM python:3.11-slim`", "Dockerfile:1"),
        CheckResult(FAIL_SPEC, Status.FAILED, FAIL_MESSAGE, "Dockerfile:6", detail=detail),
        CheckResult(BLOCK_SPEC, Status.BLOCKED, "not checked: the build failed (see the build check)"),
    ]
    return Report(EXERCISE, Path("/tmp/submission"), results, duration=3.14159, **extra)


def rendered(report: Report, verbose: bool = False) -> str:
    buffer = io.StringIO()
    render_terminal(report, Console(file=buffer, width=120, color_system=None), verbose=verbose)
    return buffer.getvalue()


# -- score ---------------------------------------------------------------------------------


def test_score_and_max_are_derived():
    report = make_report()
    assert report.score == 10
    assert report.max_score == 17.5
    assert not report.full_marks
    assert [r.score for r in report.results] == [10, 0, 0]
    assert [r.max_score for r in report.results] == [10, 5, 2.5]


def test_full_marks_when_everything_passed():
    results = [CheckResult(spec, Status.PASSED, "ok") for spec in EXERCISE.checks]
    report = Report(EXERCISE, Path("."), results)
    assert report.full_marks and report.score == report.max_score == 17.5


def test_score_line():
    assert score_line(make_report()) == "Score: 10/17.5"
    assert points(10.0) == "10" and points(2.5) == "2.5" and points(0) == "0"


# -- terminal ------------------------------------------------------------------------------


def test_terminal_ends_with_the_score_line():
    lines = [line for line in rendered(make_report()).splitlines() if line.strip()]
    assert lines[-1] == "Score: 10/17.5"


def test_terminal_shows_statuses_failing_location_and_hint():
    text = rendered(make_report())
    assert "exercise-01" in text and "Your first ML API image" in text
    for label in ("PASS", "FAIL", "SKIP"):
        assert label in text
    assert "Dockerfile:6" in text
    assert "shell form" in text
    assert "Write CMD as a JSON array." in text  # the failing check's hint
    assert "Use python:3.11-slim." not in text  # no hint for what passed
    assert "10/10" in text and "0/5" in text and "0/2.5" in text


def test_terminal_detail_only_when_verbose():
    report = make_report(detail="hadolint listing: DL3042 at line 4")
    assert "DL3042 at line 4" not in rendered(report)
    assert "DL3042 at line 4" in rendered(report, verbose=True)


def test_terminal_shows_measured_facts():
    text = rendered(make_report(facts={"image_mb": 452.1, "layers_added": 3}))
    assert "image_mb=452.1" in text and "layers_added=3" in text
    assert [line for line in text.splitlines() if line.strip()][-1] == "Score: 10/17.5"


def test_result_text_puts_location_first_and_hint_only_on_failure():
    report = make_report()
    passed, failed, blocked = report.results
    assert result_text(failed) == f"Dockerfile:6: {FAIL_MESSAGE}\nHint: Write CMD as a JSON array."
    assert result_text(failed, with_hint=False) == f"Dockerfile:6: {FAIL_MESSAGE}"
    assert "Hint" not in result_text(passed) and "Hint" not in result_text(blocked)


# -- Gradescope ----------------------------------------------------------------------------


def test_gradescope_document():
    document = gradescope(make_report())
    assert document["score"] == 10
    assert document["execution_time"] == 3.14
    assert document["output"] == "exercise-01: Score: 10/17.5"
    assert document["extra_data"]["grader_version"] == __version__
    tests = document["tests"]
    assert [t["name"] for t in tests] == ["FROM a slim image", "CMD in exec form", "The image exposes 5001"]
    for test in tests:
        assert {"name", "score", "max_score", "status", "output"} <= set(test)
        assert test["status"] in {"passed", "failed"}
    assert [(t["score"], t["max_score"], t["status"]) for t in tests] == [(10, 10, "passed"), (0, 5, "failed"), (0, 2.5, "failed")]
    assert tests[1]["output"].startswith("Dockerfile:6: ")
    assert "Hint: Write CMD as a JSON array." in tests[1]["output"]
    assert tests[2]["extra_data"]["outcome"] == "blocked"
    assert tests[1]["extra_data"]["location"] == "Dockerfile:6"
    assert sum(t["max_score"] for t in tests) == 17.5
    json.dumps(document)  # serialisable


def test_gradescope_includes_detail_of_failures_only():
    document = gradescope(make_report(detail="last log lines:\nTraceback"))
    assert "Traceback" in document["tests"][1]["output"]
    assert all("Traceback" not in t["output"] for t in (document["tests"][0], document["tests"][2]))


def test_gradescope_bounds_a_one_megabyte_detail():
    document = gradescope(make_report(detail="x" * 1_000_000))
    size = len(json.dumps(document))
    assert size < MAX_TOTAL_OUTPUT
    output = document["tests"][1]["output"]
    assert output.startswith("Dockerfile:6: ") and "cut: output too long" in output
    assert len(output) <= 8_000


def test_gradescope_bounds_many_long_outputs():
    specs = tuple(CheckSpec(f"c{i}", "no_todo", 1, f"Check {i}") for i in range(60))
    exercise = ExerciseSpec("big", "Big", "x", 5001, specs)
    results = [CheckResult(spec, Status.FAILED, "failed", detail="y" * 1_000_000) for spec in specs]
    document = gradescope(Report(exercise, Path("."), results))
    assert len(json.dumps(document)) <= MAX_TOTAL_OUTPUT
    assert len(document["tests"]) == 60
    assert all(t["output"].startswith("failed") for t in document["tests"])


def test_write_json_creates_the_folder(tmp_path):
    target = tmp_path / "out" / "results.json"
    write_json(gradescope(make_report()), target)
    assert json.loads(target.read_text(encoding="utf-8"))["score"] == 10


@pytest.mark.parametrize("status, symbol", [(Status.PASSED, "passed"), (Status.FAILED, "failed"), (Status.BLOCKED, "failed")])
def test_gradescope_status_values(status, symbol):
    report = Report(EXERCISE, Path("."), [CheckResult(PASS_SPEC, status, "m")])
    assert gradescope(report)["tests"][0]["status"] == symbol
