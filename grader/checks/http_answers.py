"""Checks on the app's HTTP answers: the right predictions for fixed inputs, and a clean 400 for malformed bodies."""

from __future__ import annotations

import json
from typing import Any, Mapping

from grader.context import Context
from grader.facts.diagnosis import answer_excerpt, same_prediction
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome
from grader.text import shorten

REQUEST_TIMEOUT = 10.0


def _post(ctx: Context, path: str, **kwargs: Any):
    return ctx.run.container.request("POST", path, timeout=REQUEST_TIMEOUT, **kwargs)


@register("predictions", needs="ready", required_params=("path", "cases"))
def predictions(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """POST each fixed input and compare the `prediction` field with the expected one."""
    path = params["path"]
    cases = params["cases"]
    for number, case in enumerate(cases, start=1):
        body = {"features": case["features"]}
        sent = {"path": path, "body": json.dumps(body)}
        try:
            response = _post(ctx, path, json=body)
        except Exception as error:  # any transport failure is the learner's app's problem here
            return Outcome.fail(t("predictions.no_answer", error=f"{type(error).__name__}: {shorten(error, 161, single_line=True)}", **sent))
        if response.status_code != 200:
            return Outcome.fail(t("predictions.bad_status", status=response.status_code, text=answer_excerpt(response), **sent))
        try:
            answer = response.json()
        except ValueError:
            return Outcome.fail(t("predictions.not_json", path=path, text=answer_excerpt(response)))
        got = answer.get("prediction") if isinstance(answer, dict) else None
        expected = case["prediction"]
        if not same_prediction(got, expected):
            return Outcome.fail(t("predictions.wrong", number=number, got=repr(got), expected=repr(expected), **sent))
    return Outcome.ok(t("predictions.ok", count=len(cases)))


@register("rejects_malformed", needs="ready", required_params=("path", "bodies"))
def rejects_malformed(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Malformed request bodies get HTTP 400 with a JSON `error`, never a crash."""
    path = params["path"]
    for raw_body in params["bodies"]:
        sent = {"path": path, "body": repr(raw_body)}
        try:
            response = _post(ctx, path, data=raw_body, headers={"Content-Type": "application/json"})
        except Exception as error:
            return Outcome.fail(t("rejects_malformed.no_answer", error=type(error).__name__, **sent))
        if response.status_code != 400:
            return Outcome.fail(t("rejects_malformed.bad_status", status=response.status_code, **sent))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "error" not in answer:
            return Outcome.fail(t("rejects_malformed.no_error_field", **sent))
    return Outcome.ok(t("rejects_malformed.ok", count=len(params["bodies"])))
