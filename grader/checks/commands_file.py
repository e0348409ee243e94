"""Checks on the lesson's own commands file (commands.sh) as written: read, never run (grader/commands.py, no engine).

The file is parsed once per grading (grader/facts/replay.py) into a plan of allowed commands.
"""

from __future__ import annotations

from typing import Any, Mapping

from grader.commands import normalize_image
from grader.context import Context
from grader.facts.replay import commands_file, plan_of, where
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome
from grader.text import todo_lines


@register("commands_no_todo", needs="nothing")
def commands_no_todo(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """No TODO placeholder is left in commands.sh."""
    path = ctx.submission / commands_file(ctx, params)
    if not path.is_file():
        return Outcome.fail(t("commands.missing", name=commands_file(ctx, params), folder=ctx.submission))
    plan, problem = plan_of(ctx, params)
    if plan is not None and plan.fatal is not None:  # empty, binary or huge: graded 0, with the one sentence
        return problem
    lines = todo_lines(path.read_bytes().decode("utf-8", "replace"))
    if not lines:
        return Outcome.ok(t("commands_no_todo.ok"))
    return Outcome.fail(t("commands_no_todo.left", count=len(lines), lines=", ".join(map(str, lines[:10]))), location=where(ctx, params, lines[0]))


@register("commands_allowed", needs="nothing")
def commands_allowed(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Every line is a docker command (or curl) the replay understands; nothing is refused."""
    plan, problem = plan_of(ctx, params)
    if problem is not None:
        return problem
    refused = plan.refused
    if not refused:
        return Outcome.ok(t("commands_allowed.ok", count=len(plan.commands)))
    listed = " ".join(t("commands.refused_line", line=p.line, text=p.params.get("text", ""), reason=p.message()) for p in refused)
    return Outcome.fail(t("commands_allowed.refused", count=len(refused), lines=listed), location=where(ctx, params, refused[0].line))


@register("commands_lesson_names", needs="nothing", required_params=("image", "container"))
def commands_lesson_names(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """`docker build` tags the lesson's image name and `docker run --name` uses the lesson's container name on it."""
    plan, problem = plan_of(ctx, params)
    if problem is not None:
        return problem
    image, container = normalize_image(params["image"]), params["container"]
    builds = plan.of("build")
    if not any(image in {normalize_image(tag) for tag in c.values("tag")} for c in builds):
        at = where(ctx, params, builds[0].line) if builds else commands_file(ctx, params)
        return Outcome.fail(t("commands_lesson_names.no_image", image=params["image"]), location=at)
    runs = plan.of("run")
    if not any(c.value("name") == container and normalize_image(c.args[0]) == image for c in runs):
        at = where(ctx, params, runs[0].line) if runs else commands_file(ctx, params)
        return Outcome.fail(t("commands_lesson_names.no_container", container=container, image=params["image"]), location=at)
    return Outcome.ok(t("commands_lesson_names.ok", image=params["image"], container=container))


@register("commands_run_detached", needs="nothing")
def commands_run_detached(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Every `docker run` starts the container detached (-d), so the commands after it can run."""
    plan, problem = plan_of(ctx, params)
    if problem is not None:
        return problem
    runs = plan.of("run")
    if not runs:
        return Outcome.fail(t("commands.no_verb", subcommand="docker run", name=commands_file(ctx, params)))
    attached = [c for c in runs if not c.flag("detach")]
    if attached:
        return Outcome.fail(t("commands_run_detached.attached", line=attached[0].line, text=attached[0].text), location=where(ctx, params, attached[0].line))
    return Outcome.ok(t("commands_run_detached.ok"))
