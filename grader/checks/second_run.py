"""Checks that start a second container of the learner's image, configured from outside: another port, another model,
extra arguments. The session labels it and removes it at the end of the grading."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Mapping

from grader.context import Context, RunState
from grader.dockerfile import location_of, runs_in_shell
from grader.errors import ContainerRefused
from grader.facts.diagnosis import answer_excerpt, describe_listeners, diagnose_not_answering, same_prediction, source_location
from grader.facts.image import image_config
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome
from grader.text import shorten

DATA = Path(__file__).resolve().parent.parent / "data"
# The useful part of the engine's refusal to start a container ("exec: ...: not found in $PATH").
START_ERROR = re.compile(r"(exec: .*?)(?:: unknown)?$")


def _look_elsewhere(running: Any, port: int) -> list[tuple[str, int]]:
    """Sockets the app listens on that are not `port` (empty while it listens on `port` or on nothing)."""
    listeners, _ = describe_listeners(running)
    listeners = listeners or []
    if any(p == port for _, p in listeners):
        return []
    return listeners


def start_second(
    ctx: Context,
    port: int,
    timeout: float,
    environment: dict[str, str] | None = None,
    command: list[str] | None = None,
    mounts: dict[str, str] | None = None,
) -> tuple[Any, RunState | None, str]:
    """Start another container of the learner's image and wait for HTTP on `port`.

    Returns (container or None, its RunState or None, why it could not start). Gives up early
    when the app is seen listening only on another port for two looks in a row, the usual
    sign of a port written into the code.
    """
    try:
        running = ctx.session.start(ctx.build.image_id, port, environment=environment, command=command, mounts=mounts)
    except ContainerRefused as error:
        text = error.detail
        found = START_ERROR.search(text)
        return None, None, shorten(found.group(1) if found else text, 301, single_line=True)
    path = ctx.exercise.params_of("container_ready").get("path", "/")
    deadline = time.monotonic() + timeout
    elsewhere_seen = 0
    started = time.monotonic()
    while time.monotonic() < deadline:
        state = ctx.session.wait_ready(running, path, min(2.0, max(0.5, deadline - time.monotonic())))
        if state.ready:
            state.startup_seconds = time.monotonic() - started
            return running, state, ""
        if not running.state().get("Running"):
            return running, state, ""
        elsewhere_seen = elsewhere_seen + 1 if _look_elsewhere(running, port) else 0
        if elsewhere_seen >= 2:
            break
    state = ctx.session.wait_ready(running, path, 0.5)
    if not state.ready and running.state().get("Running"):
        # Say how long it really waited, and why nothing answers.
        waited = time.monotonic() - started
        reason = diagnose_not_answering(running, port)
        state.problem = t("not_answering.message", port=port, seconds=waited, reason=reason)
    return running, state, ""


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _get_json(running: Any, path: str) -> dict:
    """GET a path of the app and its JSON object ({} when there is none)."""
    try:
        answer = _json(running.request("GET", path, timeout=10.0))
    except Exception:  # a transport failure shows as settings that are not there
        return {}
    return answer if isinstance(answer, dict) else {}


def _predict(running: Any, path: str, features: list[float]) -> tuple[Any, str]:
    """(the `prediction` field, or None and what went wrong)."""
    try:
        response = running.request("POST", path, json={"features": features}, timeout=10.0)
    except Exception as error:  # a transport failure is the app's problem here
        return None, f"{type(error).__name__}: {shorten(error, 201, single_line=True)}"
    answer = _json(response)
    if response.status_code != 200 or not isinstance(answer, dict):
        return None, f"HTTP {response.status_code}: {answer_excerpt(response, 200)}"
    return answer.get("prediction"), ""


# -- PORT ------------------------------------------------------------------------------------


@register("env_port", needs="ready", required_params=("port",))
def env_port(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """A second container started with `-e PORT=<port>` serves (and predicts) on that port."""
    port = int(params["port"])
    environment = {"PORT": str(port), **{str(k): str(v) for k, v in (params.get("environment") or {}).items()}}
    shown = " ".join(f"-e {name}={value}" for name, value in environment.items())
    where = source_location(ctx, params.get("source"), params.get("source_line", "PORT"))
    running, state, refused = start_second(ctx, port, float(params.get("timeout", 30)), environment=environment)
    if refused:
        return Outcome.fail(t("env_port.not_started", env=shown, error=refused))
    if not state.ready:
        return Outcome.fail(t("env_port.no_answer", env=shown, port=port, problem=state.problem), where)
    case = params.get("case")
    if case:
        got, problem = _predict(running, params.get("path", "/predict_iris"), case["features"])
        if problem or not same_prediction(got, case["prediction"]):
            return Outcome.fail(t("env_port.wrong_answer", env=shown, port=port, got=problem or repr(got), expected=case["prediction"]))
    expected = params.get("expect") or {}
    if expected:
        health = _get_json(running, params.get("health_path", "/health"))
        wrong = {key: health.get(key) for key, value in expected.items() if health.get(key) != value}
        if wrong:
            return Outcome.fail(
                t("env_port.setting_ignored", env=shown, wrong=", ".join(f"{k}={v!r}" for k, v in wrong.items()),
                  expected=", ".join(f"{k}={v!r}" for k, v in expected.items())),
                where,
            )
    return Outcome.ok(t("env_port.ok", env=shown, port=port, seconds=f"{state.startup_seconds:.1f}"))


# -- MODEL_PATH ------------------------------------------------------------------------------


@register("model_path_mount", needs="ready", required_params=("mount_at", "case"))
def model_path_mount(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """With another model mounted and MODEL_PATH pointing at it, the answers change to that model's.

    The model file (grader/data, made by scripts/make_always_one_model.py) is bind-mounted from
    this machine, so the engine must run here, as it does for `make setup` and Docker Desktop.
    """
    model = DATA / str(params.get("model", "always_one_model.pkl"))
    inside = str(params["mount_at"])
    case = params["case"]
    port = ctx.exercise.port
    where = source_location(ctx, params.get("source"), params.get("source_line", "MODEL_PATH"))
    running, state, refused = start_second(
        ctx, port, float(params.get("timeout", 30)), environment={"MODEL_PATH": inside}, mounts={str(model): inside}
    )
    if refused:
        return Outcome.fail(t("model_path_mount.not_started", path=inside, error=refused))
    if not state.ready:
        return Outcome.fail(t("model_path_mount.no_answer", path=inside, problem=state.problem), where)
    got, problem = _predict(running, params.get("path", "/predict_iris"), case["features"])
    if problem:
        return Outcome.fail(t("model_path_mount.bad_answer", path=inside, problem=problem), where)
    if not same_prediction(got, case["prediction"]):
        return Outcome.fail(
            t("model_path_mount.ignored", path=inside, features=json.dumps(case["features"]), got=repr(got), expected=case["prediction"]),
            where,
        )
    return Outcome.ok(t("model_path_mount.ok", path=inside, expected=case["prediction"]))


# -- extra arguments --------------------------------------------------------------------------


@register("args_reach_server", needs="ready", required_params=("args", "expect"))
def args_reach_server(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """`docker run IMAGE ARGS`: the arguments replace CMD, reach the ENTRYPOINT's server, and show their effect."""
    args = [str(a) for a in params["args"]]
    expected = dict(params["expect"])
    shown = " ".join(args)
    config = image_config(ctx)
    entrypoint = config.get("Entrypoint") or []
    where = location_of(ctx.dockerfile, "ENTRYPOINT", "CMD")
    running, state, refused = start_second(ctx, ctx.exercise.port, float(params.get("timeout", 30)), command=args)
    if refused:
        return Outcome.fail(t("args_reach_server.not_started", args=shown, error=refused), where)
    if not state.ready:
        return Outcome.fail(
            t("args_reach_server.no_answer" if entrypoint else "args_reach_server.no_entrypoint", args=shown, problem=state.problem), where,
        )
    health = _get_json(running, params.get("path", "/health"))
    wrong = {key: health.get(key) for key, value in expected.items() if health.get(key) != value}
    if not wrong:
        return Outcome.ok(t("args_reach_server.ok", args=shown, effect=", ".join(f"{k}={v!r}" for k, v in expected.items())))
    seen = ", ".join(f"{k}={v!r}" for k, v in wrong.items())
    if runs_in_shell(entrypoint):
        return Outcome.fail(t("args_reach_server.shell_form", args=shown, seen=seen), where)
    return Outcome.fail(t("args_reach_server.ignored", args=shown, seen=seen), where)
