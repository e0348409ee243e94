"""`python -m grader doctor`: what this machine has for grading and what is missing, with the fix (0 ready, 1 missing, 2 no engine)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.text import Text

from grader.cli.common import language_argument
from grader.doctor import INFO, MISSING, OK, WARN, diagnose
from grader.i18n import t

LABELS = {OK: ("doctor.status_ok", "green"), WARN: ("doctor.status_warn", "yellow"),
          MISSING: ("doctor.status_missing", "bold red"), INFO: ("doctor.status_info", "dim")}


def parser() -> argparse.ArgumentParser:
    """The doctor command's arguments (help in the current language)."""
    parser = argparse.ArgumentParser(prog="python -m grader doctor", description=t("cli.doctor_description"))
    language_argument(parser)
    return parser


def run(argv: list[str], err: Console) -> int:
    """Print each finding with its fix, then a one-line summary; the exit code says ready, missing or no engine."""
    parser().parse_args(argv)
    out = Console(highlight=False, soft_wrap=True)
    diagnosis = diagnose()
    for finding in diagnosis.findings:
        key, style = LABELS[finding.status]
        line = Text(f"{t(key):<8} ", style=style)
        out.print(line + Text(finding.text))
        if finding.fix:
            out.print(Text("         " + t("doctor.fix", fix=finding.fix)))
    missing = [f for f in diagnosis.findings if f.status == MISSING]
    if diagnosis.engine is None:
        out.print(Text(t("doctor.summary_no_engine"), style="bold red"))
    elif missing:
        out.print(Text(t("doctor.summary_missing", count=len(missing), label=t("doctor.status_missing")), style="bold red"))
    else:
        out.print(Text(t("doctor.summary_ready"), style="bold green"))
    return diagnosis.exit_code
