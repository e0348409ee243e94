"""The terminal report of one grading: a table of the checks, the hints for what failed, then the score line."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.i18n import current_language, t
from grader.model import Report, Status
from grader.outputs.common import SYMBOLS, exercise_title, points, result_text, score_line, status_label


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
