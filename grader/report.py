"""Renders the one Report: a terminal table and Gradescope's results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader import __version__
from grader.i18n import current_language, t
from grader.model import CheckResult, ExerciseSpec, Report, Status

MAX_TEST_OUTPUT = 8_000  # characters per check in JSON outputs
MAX_TOTAL_OUTPUT = 200_000  # Gradescope and PrairieLearn choke on huge results

SYMBOLS = {Status.PASSED: ("report.passed", "green"), Status.FAILED: ("report.failed", "red"), Status.BLOCKED: ("report.blocked", "yellow")}


def status_label(status: Status) -> str:
    """PASS / FAIL / SKIP in the current language."""
    return t(SYMBOLS[status][0])


def exercise_title(exercise: ExerciseSpec) -> str:
    """The exercise's title in the current language (labs.yaml `title_<lang>`), English otherwise."""
    return exercise.title_in(current_language())


def points(value: float) -> str:
    """10.0 -> '10', 2.5 -> '2.5'."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def score_line(report: Report) -> str:
    """The last line of every terminal report; the same in every language, because tools parse it."""
    return f"Score: {points(report.score)}/{points(report.max_score)}"


def result_text(result: CheckResult, with_hint: bool = True) -> str:
    """A check's feedback as plain text: where, what, and how to fix it."""
    text = f"{result.location}: {result.message}" if result.location else result.message
    hint = result.spec.report_hint(current_language())
    if with_hint and result.status is Status.FAILED and hint:
        text += "\n" + t("report.hint_line", hint=hint)
    return text


def render_terminal(report: Report, console: Console, verbose: bool = False) -> None:
    """Print the report as a table, failures with their hints, then the score line."""
    language = current_language()
    table = Table(title=f"{report.exercise.id} — {exercise_title(report.exercise)}", title_justify="left", expand=False)
    table.add_column("", no_wrap=True)
    table.add_column(t("report.column_check"), overflow="fold")
    table.add_column(t("report.column_points"), justify="right", no_wrap=True)
    table.add_column(t("report.column_feedback"), overflow="fold")
    for result in report.results:
        table.add_row(
            Text(status_label(result.status), style=SYMBOLS[result.status][1]),
            result.spec.title_in(language),
            f"{points(result.score)}/{points(result.max_score)}",
            Text(result_text(result, with_hint=False)),
        )
    console.print(table)
    failed = [r for r in report.results if r.status is Status.FAILED and r.spec.feedback != "exam"]
    if failed:
        console.print(Text(t("report.hints_heading"), style="bold"))
        for result in failed:
            hint = result.spec.report_hint(language) or t("report.see_feedback")
            console.print(Text(f"- {result.spec.title_in(language)}: ", style="bold red") + Text(hint))
            if verbose and result.detail:
                console.print(Text("  " + result.detail.replace("\n", "\n  "), style="dim"))
    facts = ", ".join(f"{key}={value}" for key, value in report.facts.items())
    if facts:
        console.print(Text(t("report.measured", facts=facts, seconds=report.duration), style="dim"))
    console.print(score_line(report), markup=False, highlight=False)


def render_static(report: Report, console: Console) -> None:
    """The static checks' results as short lines (instant feedback while watching); no score line."""
    console.print(Text(t("report.static_heading"), style="bold"))
    language = current_language()
    for result in report.results:
        label, style = status_label(result.status), SYMBOLS[result.status][1]
        line = Text(f"{label:<4} ", style=style) + Text(result.spec.title_in(language))
        if result.status is not Status.PASSED:
            line += Text(" — " + result_text(result, with_hint=False))
        console.print(line)


def _bounded(text: str, limit: int = MAX_TEST_OUTPUT) -> str:
    return text if len(text) <= limit else text[: limit - 40] + "\n… (cut: output too long)"


def gradescope(report: Report) -> dict[str, Any]:
    """The report as Gradescope's results.json."""
    tests = []
    for number, result in enumerate(report.results, start=1):
        output = result_text(result)
        if result.detail and result.status is not Status.PASSED:
            output += "\n\n" + result.detail
        tests.append(
            {
                "name": result.spec.title_in(current_language()),
                "number": str(number),
                "score": result.score,
                "max_score": result.max_score,
                "status": "passed" if result.status is Status.PASSED else "failed",
                "output": _bounded(output),
                "tags": [result.spec.id, result.spec.kind],
                "extra_data": {"check_id": result.spec.id, "outcome": result.status.value, "location": result.location},
            }
        )
    document = {
        "score": report.score,
        "execution_time": round(report.duration, 2),
        "output": f"{report.exercise.id}: {score_line(report)}",
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "tests": tests,
        "extra_data": {"grader_version": __version__, "exercise": report.exercise.id, "facts": report.facts, "provenance": report.provenance},
    }
    # Keep the whole file bounded even with many long outputs.
    while len(json.dumps(document)) > MAX_TOTAL_OUTPUT and any(len(t["output"]) > 500 for t in tests):
        longest = max(tests, key=lambda t: len(t["output"]))
        longest["output"] = _bounded(longest["output"], len(longest["output"]) // 2)
    return document


def write_json(document: dict[str, Any], path: Path) -> None:
    """Write a JSON document, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def hint_levels(exercise: ExerciseSpec, check_id: str) -> list[str]:
    """A check's hint ladder from labs.yaml (`hints:`), in the current language: a nudge first, the exact line last."""
    spec = next(check for check in exercise.checks if check.id == check_id)
    return list(spec.ladder_in(current_language())) or [t("report.see_feedback")]
