"""The real build: did the engine turn the Dockerfile into an image?"""

from __future__ import annotations

from typing import Any, Mapping

from grader.checks import register
from grader.context import Context
from grader.model import Outcome


@register("build", needs="build")
def build(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image builds with the classic builder within the time limit."""
    result = ctx.build
    if result is None:
        return Outcome.fail("the image was not built")
    if result.ok:
        cached = f", {result.cached_steps}/{result.total_steps} steps from cache" if result.total_steps else ""
        return Outcome.ok(f"built in {result.duration:.1f} s{cached}")
    location = result.instruction.location if result.instruction else None
    return Outcome.fail(result.error, location=location, detail=result.log_tail)
