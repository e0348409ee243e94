"""Checks on what the lesson's commands did when replayed the safe way: the image built, the app answered, the logs,
the clean-up.

The allowed commands of commands.sh are replayed once per grading through the engine under the
grader's own names, labels and network (grader/facts/replay.py asks ctx.session; grader/engine/replay.py
does the engine work); every check here reads the steps of that one replay.
"""

from __future__ import annotations

from typing import Any, Mapping

from grader.context import Context
from grader.facts.replay import commands_file, explained, replay_of, replayed_steps, step_error, where
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome


@register("replay_image_built", needs="nothing", uses_engine=True)
def replay_image_built(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """After the replayed `docker build`, the image exists under the tag it was given."""
    facts, _, builds, problem = replayed_steps(ctx, params, "build", "docker build")
    if problem is not None:
        return problem
    if not builds[0].ok:
        return Outcome.fail(
            t("replay_image_built.failed", line=builds[0].line, error=facts.build_error or step_error(builds[0])),
            location=where(ctx, params, builds[0].line), detail=builds[0].error,
        )
    tags = builds[0].facts.get("tags") or {}
    if not tags or not all(tags.values()):
        return Outcome.fail(t("replay_image_built.untagged", line=builds[0].line), location=where(ctx, params, builds[0].line))
    return Outcome.ok(t("replay_image_built.ok", tags=", ".join(tags), seconds=builds[0].facts.get("seconds", 0)))


@register("replay_app_answers", needs="nothing", uses_engine=True)
def replay_app_answers(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The container `docker run` started answers a prediction on the container port that `-p` published."""
    facts, plan, runs, problem = replayed_steps(ctx, params, "run", "docker run")
    if problem is not None:
        return problem
    step = next((s for s in runs if any(s.facts.get("answers", {}).values())), None)
    if step is not None:
        port = next(p for p, ok in step.facts["answers"].items() if ok)
        return Outcome.ok(t("replay_app_answers.ok", line=step.line, port=port))
    first = runs[0]
    if not first.ok:
        return Outcome.fail(t("replay_app_answers.not_started", line=first.line, error=step_error(first)), location=where(ctx, params, first.line))
    if not first.facts.get("ready"):
        return Outcome.fail(
            t("replay_app_answers.not_ready", line=first.line, problem=first.facts.get("problem", "")),
            location=where(ctx, params, first.line),
        )
    why, at = explained(ctx, plan, params, "commands.publish_wrong_side", "commands.run_no_publish", "commands.publish_random")
    return Outcome.fail(
        t("replay_app_answers.no_answer", line=first.line, published=", ".join(map(str, first.facts.get("published", []))) or "-",
          port=ctx.exercise.port, why=why),
        location=at or where(ctx, params, first.line),
    )


@register("replay_curl", needs="nothing", uses_engine=True)
def replay_curl(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """A `curl` to the published port on localhost gets a prediction from the app."""
    facts, plan, problem = replay_of(ctx, params)
    if problem is not None:
        return problem
    curls = facts.of("curl")
    if not curls:
        refused = next((p for p in plan.refused if p.params.get("text", "").startswith("curl")), None)
        if refused is not None:
            return Outcome.fail(t("replay_curl.refused", line=refused.line, reason=refused.message()), location=where(ctx, params, refused.line))
        return Outcome.fail(t("commands.no_verb", subcommand="curl", name=commands_file(ctx, params)))
    answered = next((s for s in curls if s.ok and s.facts.get("prediction")), None)
    if answered is not None:
        return Outcome.ok(t("replay_curl.ok", line=answered.line, status=answered.facts["status"]))
    step = curls[0]
    why, at = explained(ctx, plan, params, "commands.curl_unpublished", "commands.curl_method", "commands.publish_wrong_side")
    if not step.ok:
        return Outcome.fail(t("replay_curl.failed", line=step.line, error=step_error(step), why=why), location=at or where(ctx, params, step.line))
    return Outcome.fail(
        t("replay_curl.no_prediction", line=step.line, status=step.facts.get("status"), path=step.facts.get("path"), why=why),
        location=where(ctx, params, step.line),
    )


@register("replay_logs", needs="nothing", uses_engine=True)
def replay_logs(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """`docker logs` of the running container shows the app's start line."""
    facts, plan, logs, problem = replayed_steps(ctx, params, "logs", "docker logs")
    if problem is not None:
        return problem
    good = next((s for s in logs if s.ok and s.facts.get("start_line")), None)
    if good is not None:
        return Outcome.ok(t("replay_logs.ok", line=good.line))
    step = logs[0]
    why, at = explained(ctx, plan, params, "commands.unknown_container", "commands.logs_follow")
    if not step.ok:
        return Outcome.fail(t("replay_logs.failed", line=step.line, error=step_error(step), why=why), location=at or where(ctx, params, step.line))
    return Outcome.fail(t("replay_logs.no_start_line", line=step.line), location=where(ctx, params, step.line))


@register("replay_container_removed", needs="nothing", uses_engine=True)
def replay_container_removed(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """`docker stop` then `docker rm` leave no container behind, and each of them succeeded."""
    facts, plan, _, problem = replayed_steps(ctx, params, "rm", "docker rm")
    if problem is not None:
        return problem
    failed = next((s for s in facts.steps if s.verb in ("stop", "rm") and not s.ok), None)
    if failed is not None:
        why, at = explained(ctx, plan, params, "commands.rm_before_stop", "commands.unknown_container", "commands.auto_removed")
        return Outcome.fail(
            t("replay_container_removed.failed", line=failed.line, subcommand=failed.verb, error=step_error(failed), why=why),
            location=at or where(ctx, params, failed.line),
        )
    if facts.containers_left:
        return Outcome.fail(t("replay_container_removed.left", names=", ".join(facts.containers_left)))
    return Outcome.ok(t("replay_container_removed.ok"))


@register("replay_image_removed", needs="nothing", uses_engine=True)
def replay_image_removed(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """`docker rmi` at the end leaves no image of the lesson's name behind."""
    facts, plan, _, problem = replayed_steps(ctx, params, "rmi", "docker rmi")
    if problem is not None:
        return problem
    failed = next((s for s in facts.of("rmi") if not s.ok), None)
    if failed is not None:
        why, at = explained(ctx, plan, params, "commands.rmi_before_rm", "commands.rmi_unknown_image")
        return Outcome.fail(
            t("replay_image_removed.failed", line=failed.line, error=step_error(failed), why=why), location=at or where(ctx, params, failed.line)
        )
    if facts.images_left:
        return Outcome.fail(t("replay_image_removed.left", images=", ".join(facts.images_left)))
    return Outcome.ok(t("replay_image_removed.ok"))
