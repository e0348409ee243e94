"""The real build: did the engine turn the Dockerfile into an image?"""

from __future__ import annotations

from typing import Any, Mapping

from grader.checks import register
from grader.context import Context
from grader.i18n import t
from grader.model import Outcome


@register("build", needs="build")
def build(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image builds with the classic builder within the time limit."""
    result = ctx.build
    if result is None:
        return Outcome.fail(t("build.not_built"))
    if result.ok:
        cached = t("build.cached", cached=result.cached_steps, total=result.total_steps) if result.total_steps else ""
        return Outcome.ok(t("build.ok", seconds=result.duration, cached=cached))
    location = result.instruction.location if result.instruction else None
    return Outcome.fail(result.error, location=location, detail=result.log_tail)
