"""Feedback that teaches: for every check of every exercise, in English and Korean, the first hint
level and the failure messages hold no answer line, and the ladder's last level does.
"Answer line" is defined in feedback_answers.py."""

from __future__ import annotations

import pytest

from feedback_answers import answers_in, exact_line, normalise, solution_answers, solution_lines, starter_lines
from unit_helpers import LABS, REPO_ROOT
from grader import spec
from grader.grading import static_report
from grader.i18n import catalog, set_language
from grader.outputs.common import result_text

EXERCISES = spec.load(LABS)
LANGUAGES = ("en", "ko")
CASES = [(e.id, c.id, lang) for e in EXERCISES for c in e.checks for lang in LANGUAGES]
# Checks whose fix is in the app's Python code or in deleting comments, not in a line of the
# solution's Dockerfile or compose.yaml: their last level gives that code line instead.
# compose_ports_loopback: the solution publishes nothing, which no line can quote.
FIX_OUTSIDE_THE_SOLUTION_FILE = {
    "no_todo", "compose_no_todo", "binds_all_interfaces", "rejects_malformed", "env_port", "model_path_mount",
    "compose_ports_loopback",
}


def ladder(exercise_id: str, check_id: str, language: str) -> tuple[str, ...]:
    exercise = spec.find_exercise(EXERCISES, exercise_id)
    return next(c for c in exercise.checks if c.id == check_id).ladder_in(language)


def answers_of(exercise) -> frozenset[str]:
    """An exercise's answer lines: the solution's lines the starter lacks, and each ladder's exact line
    unless the starter already holds it."""
    exact = {normalise(exact_line(check.ladder_in(lang)[-1])) for check in exercise.checks for lang in LANGUAGES}
    return frozenset(solution_answers(exercise.id) | (exact - starter_lines(exercise.id)))


def every_answer() -> frozenset[str]:
    """Every exercise's answer lines: any of them in a catalog message gives an exercise away."""
    return frozenset().union(*(answers_of(exercise) for exercise in EXERCISES))


@pytest.mark.parametrize("exercise_id, check_id, language", CASES)
def test_the_ladder_climbs_from_a_nudge_to_the_exact_line(exercise_id, check_id, language):
    levels = ladder(exercise_id, check_id, language)
    assert len(levels) >= 3
    assert "https://docs.docker.com/" in levels[1], "level 2 explains the idea and links its Docker reference page"
    line = exact_line(levels[-1])
    assert line, "the last level gives the exact line as `code`"
    forbidden = solution_answers(exercise_id) | {normalise(line)}
    assert answers_in(levels[0], forbidden) == [], "the first level is a nudge, not the answer"


@pytest.mark.parametrize("exercise_id, check_id, language", CASES)
def test_the_last_level_holds_a_line_of_the_solution(exercise_id, check_id, language):
    exercise = spec.find_exercise(EXERCISES, exercise_id)
    check = next(c for c in exercise.checks if c.id == check_id)
    if check.kind in FIX_OUTSIDE_THE_SOLUTION_FILE:
        pytest.skip("the fix is outside the solution's Dockerfile/compose.yaml; the exact line is checked above")
    assert answers_in(check.ladder_in(language)[-1], solution_lines(exercise_id)), "the last level quotes the solution's line"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_catalog_message_holds_an_answer_line(language):
    answers = every_answer()
    leaks = {key: answers_in(text, answers) for key, text in catalog(language).items()}
    assert {key: found for key, found in leaks.items() if found} == {}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_an_untouched_starter_s_static_feedback_gives_nothing_away(exercise, language):
    """What the static checks say about the starter, hint included, holds no answer line."""
    set_language(language)
    report, _ = static_report(exercise, REPO_ROOT / exercise.folder)
    text = "\n".join(result_text(result) for result in report.results)
    assert answers_in(text, answers_of(exercise)) == []


def test_the_definition_catches_a_quoted_line_however_it_is_spaced():
    answers = solution_answers("exercise-01")
    assert answers_in('write `CMD ["python","flask_api_v2.py"]`', answers)
    assert answers_in("add RUN   pip install --no-cache-dir -r requirements.txt", answers)
    assert answers_in("a CMD in exec form", answers) == []
    assert "WORKDIR /app" in answers and "FROM python:3.11-slim" in answers
    assert "FROM python:3.11-slim" not in solution_answers("exercise-02")  # the starter already has it
    assert "condition: service_healthy" in solution_answers("exercise-06")
