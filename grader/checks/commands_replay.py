"""Checks on the lesson's own commands (commands.sh): read without running, then replayed the safe way.

The static checks read the parsed plan (grader/commands.py: pure, no engine). The replay checks
share ONE replay of the plan (grader/engine/replay.py does the engine work through ctx.session, and returns facts): the first
of them to run starts it, the others read its steps. The prediction the grader sends comes from
the exercise's `replay_app_answers` check, the start line it looks for from its `replay_logs` check.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from grader.kinds import register
from grader.commands import REGISTRY_VARIABLES, Plan, normalize_image, read_plan
from grader.context import Context
from grader.i18n import t
from grader.model import Outcome

DEFAULT_FILE = "commands.sh"
TODO_PATTERN = re.compile(r"\bTODO\b")
PLAN_KEY = "commands_plan"
REPLAY_KEY = "commands_replay"
DEFAULT_PREDICTION = {"features": [6.7, 3.0, 5.2, 2.3]}
DEFAULT_START_LINE = r"Serving iris model on 0\.0\.0\.0:5001|Running on"
COMMANDS_KINDS = ("commands_", "replay_", "registry_")  # the kinds that read the commands file (a kind's prefix)


def needs_registry(ctx: Context) -> bool:
    """True when the exercise checks a registry (exercise-08): `$REGISTRY`, `$DIGEST`, push and pull are allowed."""
    return any(spec.kind.startswith("registry_") for spec in ctx.exercise.checks)


def _file(ctx: Context, params: Mapping[str, Any]) -> str:
    """The commands file: the check's `file` param, else the first one the exercise's checks name, else commands.sh."""
    named = (spec.params.get("file") for spec in ctx.exercise.checks if spec.kind.startswith(COMMANDS_KINDS))
    return params.get("file") or next((name for name in named if name), DEFAULT_FILE)


def plan_of(ctx: Context, params: Mapping[str, Any]) -> tuple[Plan | None, Outcome | None]:
    """The parsed commands file (once per grading), or a failing outcome when it cannot be read."""
    name = _file(ctx, params)
    if PLAN_KEY not in ctx.memo:
        path = ctx.submission / name
        if not path.is_file():
            ctx.memo[PLAN_KEY] = (None, Outcome.fail(t("commands.missing", name=name, folder=ctx.submission)))
        else:
            plan = read_plan(path.read_bytes(), port=ctx.exercise.port, variables=REGISTRY_VARIABLES if needs_registry(ctx) else None)
            if plan.fatal is not None:
                ctx.memo[PLAN_KEY] = (plan, Outcome.fail(plan.fatal.message(), location=name))
            else:
                ctx.memo[PLAN_KEY] = (plan, None)
    return ctx.memo[PLAN_KEY]


def _where(ctx: Context, params: Mapping[str, Any], line: int) -> str:
    return f"{_file(ctx, params)}:{line}" if line else _file(ctx, params)


def _explained(ctx: Context, plan: Plan, params: Mapping[str, Any], *keys: str) -> tuple[str, str | None]:
    """The plan's explanations with these keys, as ` line N: sentence` text, and the first one's location."""
    found = [p for p in plan.problems if not p.refused and p.key in keys]
    if not found:
        return "", None
    text = " ".join(t("commands.at_line", line=p.line, message=p.message()) for p in found)
    return text, _where(ctx, params, found[0].line)


# -- static checks: the file as written ------------------------------------------------------


@register("commands_no_todo", needs="nothing")
def commands_no_todo(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """No TODO placeholder is left in commands.sh."""
    path = ctx.submission / _file(ctx, params)
    if not path.is_file():
        return Outcome.fail(t("commands.missing", name=_file(ctx, params), folder=ctx.submission))
    plan, problem = plan_of(ctx, params)
    if plan is not None and plan.fatal is not None:  # empty, binary or huge: graded 0, with the one sentence
        return problem
    lines = [n for n, line in enumerate(path.read_bytes().decode("utf-8", "replace").splitlines(), 1) if TODO_PATTERN.search(line)]
    if not lines:
        return Outcome.ok(t("commands_no_todo.ok"))
    return Outcome.fail(t("commands_no_todo.left", count=len(lines), lines=", ".join(map(str, lines[:10]))), location=_where(ctx, params, lines[0]))


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
    return Outcome.fail(t("commands_allowed.refused", count=len(refused), lines=listed), location=_where(ctx, params, refused[0].line))


@register("commands_lesson_names", needs="nothing", required_params=("image", "container"))
def commands_lesson_names(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """`docker build` tags the lesson's image name and `docker run --name` uses the lesson's container name on it."""
    plan, problem = plan_of(ctx, params)
    if problem is not None:
        return problem
    image, container = normalize_image(params["image"]), params["container"]
    builds = plan.of("build")
    if not any(image in {normalize_image(tag) for tag in c.values("tag")} for c in builds):
        where = _where(ctx, params, builds[0].line) if builds else _file(ctx, params)
        return Outcome.fail(t("commands_lesson_names.no_image", image=params["image"]), location=where)
    runs = plan.of("run")
    if not any(c.value("name") == container and normalize_image(c.args[0]) == image for c in runs):
        where = _where(ctx, params, runs[0].line) if runs else _file(ctx, params)
        return Outcome.fail(t("commands_lesson_names.no_container", container=container, image=params["image"]), location=where)
    return Outcome.ok(t("commands_lesson_names.ok", image=params["image"], container=container))


@register("commands_run_detached", needs="nothing")
def commands_run_detached(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Every `docker run` starts the container detached (-d), so the commands after it can run."""
    plan, problem = plan_of(ctx, params)
    if problem is not None:
        return problem
    runs = plan.of("run")
    if not runs:
        return Outcome.fail(t("commands.no_verb", subcommand="docker run", name=_file(ctx, params)))
    attached = [c for c in runs if not c.flag("detach")]
    if attached:
        return Outcome.fail(t("commands_run_detached.attached", line=attached[0].line, text=attached[0].text), location=_where(ctx, params, attached[0].line))
    return Outcome.ok(t("commands_run_detached.ok"))


# -- replay checks: what the commands did on the engine ----------------------------------------


def _params_of(ctx: Context, kind: str) -> Mapping[str, Any]:
    return next((spec.params for spec in ctx.exercise.checks if spec.kind == kind), {})


def replay_of(ctx: Context, params: Mapping[str, Any]):
    """The grading's one replay of commands.sh (made by the first check that asks), or why there is none."""
    if REPLAY_KEY in ctx.memo:
        return ctx.memo[REPLAY_KEY]
    plan, problem = plan_of(ctx, params)
    if problem is not None:
        ctx.memo[REPLAY_KEY] = (None, plan, Outcome.fail(t("commands.not_replayed", reason=problem.message), location=problem.location))
        return ctx.memo[REPLAY_KEY]
    settings = dict(
        port=ctx.exercise.port, start_line=_params_of(ctx, "replay_logs").get("pattern", DEFAULT_START_LINE),
        prediction=_params_of(ctx, "replay_app_answers").get("body", DEFAULT_PREDICTION),
        build_timeout=ctx.build_timeout, dockerfile=ctx.dockerfile,
        progress=lambda text: ctx.progress(t("progress.replaying_line", text=text)),
    )
    ctx.progress(t("progress.replaying", count=len(plan.commands)))
    facts = ctx.session.replay(ctx.submission, plan, with_registry=needs_registry(ctx), **settings)
    if facts.registry_kind:
        ctx.facts["registry"] = facts.registry_kind
    ctx.facts["replay_seconds"] = round(facts.seconds, 2)
    ctx.memo[REPLAY_KEY] = (facts, plan, None)
    return ctx.memo[REPLAY_KEY]


def step_error(step: Any) -> str:
    """Why a replayed step failed: the engine's own words, or the grader's reason for not replaying it."""
    return t(step.refusal, **step.refusal_params) if step.refusal else step.error


def replayed_steps(ctx: Context, params: Mapping[str, Any], verb: str, subcommand: str) -> tuple[Any, Plan | None, list, Outcome | None]:
    """(replay, plan, the steps of VERB, None), or a failing outcome: nothing replayed, or no such command in the file."""
    facts, plan, problem = replay_of(ctx, params)
    if problem is not None:
        return facts, plan, [], problem
    steps = facts.of(verb)
    if not steps:
        return facts, plan, steps, Outcome.fail(t("commands.no_verb", subcommand=subcommand, name=_file(ctx, params)))
    return facts, plan, steps, None


@register("replay_image_built", needs="nothing", uses_engine=True)
def replay_image_built(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """After the replayed `docker build`, the image exists under the tag it was given."""
    facts, _, builds, problem = replayed_steps(ctx, params, "build", "docker build")
    if problem is not None:
        return problem
    if not builds[0].ok:
        return Outcome.fail(
            t("replay_image_built.failed", line=builds[0].line, error=facts.build_error or step_error(builds[0])),
            location=_where(ctx, params, builds[0].line), detail=builds[0].error,
        )
    tags = builds[0].facts.get("tags") or {}
    if not tags or not all(tags.values()):
        return Outcome.fail(t("replay_image_built.untagged", line=builds[0].line), location=_where(ctx, params, builds[0].line))
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
        return Outcome.fail(t("replay_app_answers.not_started", line=first.line, error=step_error(first)), location=_where(ctx, params, first.line))
    if not first.facts.get("ready"):
        return Outcome.fail(
            t("replay_app_answers.not_ready", line=first.line, problem=first.facts.get("problem", "")),
            location=_where(ctx, params, first.line),
        )
    explained, where = _explained(ctx, plan, params, "commands.publish_wrong_side", "commands.run_no_publish", "commands.publish_random")
    return Outcome.fail(
        t("replay_app_answers.no_answer", line=first.line, published=", ".join(map(str, first.facts.get("published", []))) or "-",
          port=ctx.exercise.port, why=explained),
        location=where or _where(ctx, params, first.line),
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
            return Outcome.fail(t("replay_curl.refused", line=refused.line, reason=refused.message()), location=_where(ctx, params, refused.line))
        return Outcome.fail(t("commands.no_verb", subcommand="curl", name=_file(ctx, params)))
    answered = next((s for s in curls if s.ok and s.facts.get("prediction")), None)
    if answered is not None:
        return Outcome.ok(t("replay_curl.ok", line=answered.line, status=answered.facts["status"]))
    step = curls[0]
    explained, where = _explained(ctx, plan, params, "commands.curl_unpublished", "commands.curl_method", "commands.publish_wrong_side")
    if not step.ok:
        return Outcome.fail(t("replay_curl.failed", line=step.line, error=step_error(step), why=explained), location=where or _where(ctx, params, step.line))
    return Outcome.fail(
        t("replay_curl.no_prediction", line=step.line, status=step.facts.get("status"), path=step.facts.get("path"), why=explained),
        location=_where(ctx, params, step.line),
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
    explained, where = _explained(ctx, plan, params, "commands.unknown_container", "commands.logs_follow")
    if not step.ok:
        return Outcome.fail(t("replay_logs.failed", line=step.line, error=step_error(step), why=explained), location=where or _where(ctx, params, step.line))
    return Outcome.fail(t("replay_logs.no_start_line", line=step.line), location=_where(ctx, params, step.line))


@register("replay_container_removed", needs="nothing", uses_engine=True)
def replay_container_removed(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """`docker stop` then `docker rm` leave no container behind, and each of them succeeded."""
    facts, plan, _, problem = replayed_steps(ctx, params, "rm", "docker rm")
    if problem is not None:
        return problem
    failed = next((s for s in facts.steps if s.verb in ("stop", "rm") and not s.ok), None)
    if failed is not None:
        explained, where = _explained(ctx, plan, params, "commands.rm_before_stop", "commands.unknown_container", "commands.auto_removed")
        return Outcome.fail(
            t("replay_container_removed.failed", line=failed.line, subcommand=failed.verb, error=step_error(failed), why=explained),
            location=where or _where(ctx, params, failed.line),
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
        explained, where = _explained(ctx, plan, params, "commands.rmi_before_rm", "commands.rmi_unknown_image")
        return Outcome.fail(
            t("replay_image_removed.failed", line=failed.line, error=step_error(failed), why=explained), location=where or _where(ctx, params, failed.line)
        )
    if facts.images_left:
        return Outcome.fail(t("replay_image_removed.left", images=", ".join(facts.images_left)))
    return Outcome.ok(t("replay_image_removed.ok"))
