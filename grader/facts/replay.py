"""The learner's commands file (commands.sh, publish.sh): read once, replayed once per grading, shared by three families.

The file is parsed without running it (grader/commands.py: pure, no engine); the replay goes
through ctx.session (grader/engine/replay.py does the engine work and returns facts). The first
check that asks for either makes it; the others read ctx.memo. The prediction the replay sends
comes from the exercise's `replay_app_answers` check, the start line it looks for from its
`replay_logs` check.
"""

from __future__ import annotations

from typing import Any, Mapping

from grader.commands import REGISTRY_VARIABLES, Plan, read_plan
from grader.context import Context
from grader.i18n import t
from grader.model import Outcome

DEFAULT_FILE = "commands.sh"
PLAN_KEY = "commands_plan"
REPLAY_KEY = "commands_replay"
DEFAULT_PREDICTION = {"features": [6.7, 3.0, 5.2, 2.3]}
DEFAULT_START_LINE = r"Serving iris model on 0\.0\.0\.0:5001|Running on"
COMMANDS_KINDS = ("commands_", "replay_", "registry_")  # the kinds that read the commands file (a kind's prefix)


def needs_registry(ctx: Context) -> bool:
    """True when the exercise checks a registry (exercise-08): `$REGISTRY`, `$DIGEST`, push and pull are allowed."""
    return any(spec.kind.startswith("registry_") for spec in ctx.exercise.checks)


def commands_file(ctx: Context, params: Mapping[str, Any]) -> str:
    """The commands file: the check's `file` param, else the first one the exercise's checks name, else commands.sh."""
    named = (spec.params.get("file") for spec in ctx.exercise.checks if spec.kind.startswith(COMMANDS_KINDS))
    return params.get("file") or next((name for name in named if name), DEFAULT_FILE)


def where(ctx: Context, params: Mapping[str, Any], line: int) -> str:
    """`commands.sh:N` for a line of the commands file (the file alone for line 0)."""
    return f"{commands_file(ctx, params)}:{line}" if line else commands_file(ctx, params)


def plan_of(ctx: Context, params: Mapping[str, Any]) -> tuple[Plan | None, Outcome | None]:
    """The parsed commands file (once per grading), or a failing outcome when it cannot be read."""
    name = commands_file(ctx, params)
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


def explained(ctx: Context, plan: Plan, params: Mapping[str, Any], *keys: str) -> tuple[str, str | None]:
    """The plan's explanations with these keys, as ` line N: sentence` text, and the first one's location."""
    found = [p for p in plan.problems if not p.refused and p.key in keys]
    if not found:
        return "", None
    text = " ".join(t("commands.at_line", line=p.line, message=p.message()) for p in found)
    return text, where(ctx, params, found[0].line)


def replay_of(ctx: Context, params: Mapping[str, Any]):
    """The grading's one replay of the commands file (made by the first check that asks), or why there is none."""
    if REPLAY_KEY in ctx.memo:
        return ctx.memo[REPLAY_KEY]
    plan, problem = plan_of(ctx, params)
    if problem is not None:
        ctx.memo[REPLAY_KEY] = (None, plan, Outcome.fail(t("commands.not_replayed", reason=problem.message), location=problem.location))
        return ctx.memo[REPLAY_KEY]
    settings = dict(
        port=ctx.exercise.port, start_line=ctx.exercise.params_of("replay_logs").get("pattern", DEFAULT_START_LINE),
        prediction=ctx.exercise.params_of("replay_app_answers").get("body", DEFAULT_PREDICTION),
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
    # A refusal is a catalog key the engine layer wrote out whole (grader/engine/replay.py), carried with its facts.
    return t(step.refusal, **step.refusal_params) if step.refusal else step.error


def replayed_steps(ctx: Context, params: Mapping[str, Any], verb: str, subcommand: str) -> tuple[Any, Plan | None, list, Outcome | None]:
    """(replay, plan, the steps of VERB, None), or a failing outcome: nothing replayed, or no such command in the file."""
    facts, plan, problem = replay_of(ctx, params)
    if problem is not None:
        return facts, plan, [], problem
    steps = facts.of(verb)
    if not steps:
        return facts, plan, steps, Outcome.fail(t("commands.no_verb", subcommand=subcommand, name=commands_file(ctx, params)))
    return facts, plan, steps, None
