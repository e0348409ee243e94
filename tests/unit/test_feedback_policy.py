"""The feedback policy: labs.yaml's `feedback:` (teach | answers | exam), validated, decides which
hint level the report shows and whether `hint` gives anything; ladders have at least three levels."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from grader import cli, spec
from grader.i18n import set_language
from grader.model import CheckResult, Report, Status
from grader.outputs.gradescope import gradescope
from grader.outputs.terminal import render_terminal
from grader.spec import SpecError

LADDER = ["a nudge", "the idea: https://docs.docker.com/reference/dockerfile/#expose", "`EXPOSE 5001`"]


def document(course=None, exercise=None, hints=LADDER):
    check = {"id": "expose-port", "kind": "image_exposes", "points": 10, "title": "EXPOSE", "hints": hints,
             "hints_ko": ["넛지", "개념 https://docs.docker.com/", "`EXPOSE 5001`을 쓰세요"], "params": {"port": 5001}}
    entry = {"id": "ex-1", "title": "One", "folder": "exercises/exercise-01", "checks": [check]}
    if exercise is not None:
        entry["feedback"] = exercise
    doc = {"exercises": [entry]}
    if course is not None:
        doc["feedback"] = course
    return doc


def errors_of(doc) -> list[str]:
    with pytest.raises(SpecError) as caught:
        spec.parse(doc)
    return caught.value.errors


@pytest.mark.parametrize(
    "course, exercise, expected",
    [(None, None, "teach"), ("answers", None, "answers"), ("answers", "exam", "exam"), (None, "exam", "exam")],
)
def test_feedback_is_the_exercise_s_else_the_course_s_else_teach(course, exercise, expected):
    (parsed,) = spec.parse(document(course, exercise))
    assert parsed.feedback == expected and parsed.checks[0].feedback == expected


def test_an_unknown_feedback_policy_is_an_error_that_names_the_choices():
    (course_error,) = errors_of(document(course="hints"))
    assert course_error.startswith("feedback: `hints` is not a feedback policy") and "teach, answers, exam" in course_error
    (exercise_error,) = errors_of(document(exercise="quiz"))
    assert exercise_error.startswith("exercises[0].feedback: `quiz`")


def test_a_ladder_needs_three_levels_of_text():
    (error,) = errors_of(document(hints=LADDER[:2]))
    assert "exercises[0].checks[0].hints: has 2 level(s)" in error and "at least 3" in error
    (error,) = errors_of(document(hints="one long hint"))
    assert "must be a list of texts" in error


def test_hint_and_hints_together_are_an_error():
    doc = document()
    doc["exercises"][0]["checks"][0]["hint"] = "old style"
    assert any("either `hint`" in e for e in errors_of(doc))


def test_the_real_labs_yaml_is_teach_with_three_levels_everywhere(exercises):
    for exercise in exercises:
        assert exercise.feedback == "teach"
        for check in exercise.checks:
            assert len(check.ladder_in("en")) >= 3 and len(check.ladder_in("ko")) == len(check.ladder_in("en")), check.id


def failed_report(policy: str) -> Report:
    (exercise,) = spec.parse(document(course=policy))
    result = CheckResult(exercise.checks[0], Status.FAILED, "the image exposes no port", "Dockerfile:7")
    return Report(exercise=exercise, submission=exercise.folder, results=[result])


@pytest.mark.parametrize("policy, shown, hidden", [
    ("teach", "a nudge", "`EXPOSE 5001`"),
    ("answers", "`EXPOSE 5001`", "a nudge"),
    ("exam", None, "a nudge"),
])
def test_the_report_shows_the_level_the_policy_says(policy, shown, hidden):
    set_language("en")
    out = io.StringIO()
    report = failed_report(policy)
    render_terminal(report, Console(file=out, width=200, highlight=False))
    text = out.getvalue() + gradescope(report)["tests"][0]["output"]
    assert "the image exposes no port" in text  # the feedback itself is always there
    assert hidden not in text
    if shown:
        assert shown in text
    else:
        assert "Hints for what failed" not in text and "Hint:" not in text


def test_hint_command_in_an_exam_gives_nothing(tmp_path, capsys):
    labs = tmp_path / "labs.yaml"
    (tmp_path / "exercises" / "exercise-01").mkdir(parents=True)
    (tmp_path / "exercises" / "exercise-01" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    import yaml

    labs.write_text(yaml.safe_dump(document(course="exam")), encoding="utf-8")
    code = cli.main(["hint", "ex-1", "--labs", str(labs), "--lang", "en"])
    out = capsys.readouterr().out
    assert code == 0 and "No hints for ex-1" in out and "exam" in out and "a nudge" not in out


def test_hint_for_a_named_check_climbs_its_own_ladder(capsys, exercise):
    starter = str(Path(__file__).resolve().parents[2] / "exercises" / "exercise-01")
    ladder = next(c for c in exercise.checks if c.id == "expose-port").ladder_in("en")
    outputs = []
    for _ in range(len(ladder)):
        assert cli.main(["hint", "exercise-01", "expose-port", "--path", starter, "--lang", "en"]) == 0
        outputs.append(capsys.readouterr().out)
    for number, out in enumerate(outputs, start=1):
        assert f"Hint level {number} of {len(ladder)}" in out and "(expose-port)" in out and ladder[number - 1] in out
    assert "EXPOSE 5001" not in outputs[0] and "EXPOSE 5001" in outputs[-1]  # the exact line only at the bottom


def test_hint_for_an_unknown_check_lists_the_checks(capsys):
    assert cli.main(["hint", "exercise-01", "expose", "--lang", "en"]) == 2
    err = capsys.readouterr().err
    assert "`expose` is not a check of exercise-01" in err and "expose-port" in err
