"""Grading each untouched starter on the real engine prints no answer line (feedback_answers.py says
what one is), in English and in Korean: neither in the report's feedback and hints nor in its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import spec

pytestmark = pytest.mark.usefixtures("no_leftovers")

UNIT = Path(__file__).resolve().parent.parent / "unit"
sys.path.insert(0, str(UNIT))
from feedback_answers import answers_in, exact_line, normalise, solution_answers, starter_lines  # noqa: E402

EXERCISES = [f"exercise-0{n}" for n in range(1, 7)]


def answers_of(exercise) -> frozenset[str]:
    """The solution's lines the starter lacks, and every ladder's exact line the starter lacks."""
    exact = {normalise(exact_line(c.ladder_in(lang)[-1])) for c in exercise.checks for lang in ("en", "ko")}
    return frozenset(solution_answers(exercise.id) | (exact - starter_lines(exercise.id)))


def printed_text(stdout: str, results: dict) -> str:
    """What the learner reads: every check's feedback and hint (the JSON holds them unwrapped) and
    the lines below the table (the hints), joined as running text."""
    below_table = stdout.split("┘", 1)[-1] if "┘" in stdout else stdout
    return "\n".join([below_table.replace("\n", " ")] + [test["output"] for test in results["tests"]])


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_grading_an_untouched_starter_prints_no_answer_line(exercise_id, language, repo, tmp_path, engine):
    exercise = spec.find_exercise(spec.load(repo / "labs.yaml"), exercise_id)
    out = tmp_path / "results.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CI": "true"}
    completed = subprocess.run(
        [sys.executable, "-m", "grader", exercise_id, "--no-record", "--lang", language, "--json", str(out)],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr  # a starter never has full marks
    assert "Traceback" not in completed.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert answers_in(printed_text(completed.stdout, results), answers_of(exercise)) == []
