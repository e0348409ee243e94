"""The real build: did the engine turn the Dockerfile into an image?"""

from __future__ import annotations

from typing import Any, Mapping

from grader.kinds import register
from grader.context import Context
from grader.dockerfile import PIP_INSTALL, base_python_too_old
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
    message = result.error
    failed_step = result.instruction.value if result.instruction else ""
    too_old = base_python_too_old(ctx.dockerfile, params.get("min_python")) if PIP_INSTALL.search(failed_step or "") else None
    if too_old:
        # pip's own words ("No matching distribution found") never name the cause: the base image's Python.
        message += t("build.python_too_old", version=too_old[0], minimum=too_old[1])
    return Outcome.fail(message, location=location, detail=result.log_tail)
