"""The result model as JSON: how the gradebook stores a `Report` and a batch's grading process sends one back.

Core, so that the store and the worker read it from one place without importing each other. Each
check keeps the spec fields a renderer needs (its titles and hints in every language), so a stored
report renders later exactly as it was graded, whatever labs.yaml says by then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.model import CheckResult, CheckSpec, ExerciseSpec, Report, Status

MAX_STORED_TEXT = 20_000  # characters per message or detail: a hostile submission's logs stay bounded


def bounded(text: str | None) -> str:
    """TEXT cut to MAX_STORED_TEXT characters, with a note where it was cut."""
    text = text or ""
    return text if len(text) <= MAX_STORED_TEXT else text[: MAX_STORED_TEXT - 30] + "\n… (cut: too long)"


def result_to_dict(result: CheckResult) -> dict[str, Any]:
    """One check's outcome with the spec fields a renderer needs."""
    spec = result.spec
    return {
        "id": spec.id, "kind": spec.kind, "title": spec.title, "points": spec.points, "hint": spec.report_hint("en"),
        "feedback": spec.feedback,
        "status": result.status.value, "message": bounded(result.message), "location": result.location,
        "detail": bounded(result.detail), "duration": round(result.duration, 3),
        # Titles for outputs in the batch's language (hints follow the feedback policy: `hint` above).
        "translations": {
            lang: {**{k: v for k, v in texts.items() if k != "hint"}, "hint": spec.report_hint(lang)}
            for lang, texts in spec.translations.items()
        },
    }


def result_from_dict(doc: dict[str, Any]) -> CheckResult:
    """Inverse of result_to_dict."""
    spec = CheckSpec(
        id=doc["id"], kind=doc.get("kind", ""), points=float(doc.get("points", 0)), title=doc.get("title", doc["id"]),
        hint=doc.get("hint", ""), translations=doc.get("translations") or {}, feedback=doc.get("feedback", "teach"),
    )
    return CheckResult(spec, Status(doc["status"]), doc.get("message", ""), doc.get("location"), doc.get("detail", ""), float(doc.get("duration", 0.0)))


def report_to_dict(report: Report) -> dict[str, Any]:
    """A Report as JSON: what the checks were (as graded) and how each ended."""
    return {
        "exercise": {"id": report.exercise.id, "title": report.exercise.title, "folder": report.exercise.folder, "port": report.exercise.port,
                     "titles": dict(report.exercise.titles)},
        "submission": str(report.submission),
        "duration": round(report.duration, 3),
        "facts": report.facts,
        "provenance": report.provenance,
        "results": [result_to_dict(r) for r in report.results],
    }


def report_from_dict(doc: dict[str, Any]) -> Report:
    """Inverse of report_to_dict: the checks as they were when graded, so old rows render as graded."""
    results = [result_from_dict(r) for r in doc.get("results", [])]
    ex = doc.get("exercise") or {}
    exercise = ExerciseSpec(
        id=ex.get("id", ""), title=ex.get("title", ""), folder=ex.get("folder", ""), port=int(ex.get("port", 0) or 0),
        checks=tuple(r.spec for r in results), titles=dict(ex.get("titles") or {}),
    )
    return Report(
        exercise, Path(doc.get("submission", "")), results, float(doc.get("duration", 0.0)), dict(doc.get("facts") or {}),
        dict(doc.get("provenance") or {}),
    )
