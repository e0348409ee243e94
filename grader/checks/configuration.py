"""Checks of an image configured from outside: ENV, ARG, ENTRYPOINT + CMD, and no baked-in secret.

Several checks start a second container of the learner's image (another port, another model,
extra arguments) through the session, which labels it and removes it at the end of the grading.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping


from grader.kinds import register
from grader.checks.efficiency import SavedImageTimeout, save_and_read
from grader.checks.image import image_config
from grader.checks.runtime import _same_prediction, answer_excerpt, describe_listeners, diagnose_not_answering, source_location
from grader.context import Context, RunState
from grader.dockerfile import copy_bringing, declared_args, instruction_naming, runs_in_shell, shlex_words
from grader.errors import ContainerRefused
from grader.i18n import t
from grader.model import Outcome
from grader.text import shorten

DATA = Path(__file__).resolve().parent.parent / "data"
MASK = "•••"
# The useful part of the engine's refusal to start a container ("exec: ...: not found in $PATH").
START_ERROR = re.compile(r"(exec: .*?)(?:: unknown)?$")


def _sentences(first: str, second: str) -> str:
    """Two messages as one text: a full stop after the first, if it has none."""
    return f"{first.rstrip()}{'' if first.rstrip().endswith('.') else '.'} {second}"


# -- ENTRYPOINT + CMD ---------------------------------------------------------------------


def _json_list(words: list[str]) -> str:
    return "[" + ", ".join(json.dumps(word) for word in words) + "]"


@register("entrypoint_with_default_args", needs="dockerfile")
def entrypoint_with_default_args(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The final stage has an exec-form ENTRYPOINT that starts the server and an exec-form CMD of default arguments."""
    dockerfile = ctx.dockerfile
    entrypoints = dockerfile.find("ENTRYPOINT", stage_only_final=True)
    cmds = dockerfile.find("CMD", stage_only_final=True)
    if not entrypoints:
        where = cmds[-1].location if cmds else None
        return Outcome.fail(t("entrypoint_with_default_args.no_entrypoint"), where)
    entrypoint = entrypoints[-1]
    program = entrypoint.json_args()
    if program is None:
        return Outcome.fail(
            t("entrypoint_with_default_args.shell_form", value=entrypoint.value, fix=_json_list(shlex_words(entrypoint.value))),
            entrypoint.location,
        )
    if not program:
        return Outcome.fail(t("entrypoint_with_default_args.empty"), entrypoint.location)
    if not cmds:
        return Outcome.fail(t("entrypoint_with_default_args.no_cmd"), entrypoint.location)
    cmd = cmds[-1]
    arguments = cmd.json_args()
    if arguments is None:
        return Outcome.fail(
            t("entrypoint_with_default_args.cmd_shell_form", value=cmd.value, fix=_json_list(shlex_words(cmd.value))),
            cmd.location,
        )
    if arguments and program and arguments[0] == program[0]:
        return Outcome.fail(
            t("entrypoint_with_default_args.cmd_repeats_program", program=_json_list(program), cmd=_json_list(arguments)),
            cmd.location,
        )
    return Outcome.ok(
        t("entrypoint_with_default_args.ok", program=_json_list(program), arguments=_json_list(arguments)),
        entrypoint.location,
    )


# -- ENV ----------------------------------------------------------------------------------


def image_environment(ctx: Context) -> dict[str, str]:
    """The image's Config.Env as a mapping."""
    pairs = (item.split("=", 1) for item in image_config(ctx).get("Env") or [] if "=" in item)
    return {name: value for name, value in pairs}


@register("image_env_settings", needs="image", required_params=("names",))
def image_env_settings(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image's environment (Config.Env) gives each named setting a default."""
    names = [str(name) for name in params["names"]]
    environment = image_environment(ctx)
    missing = [name for name in names if name not in environment]
    if missing:
        envs = ctx.dockerfile.find("ENV", stage_only_final=True) if ctx.dockerfile else []
        return Outcome.fail(
            t("image_env_settings.missing", names=", ".join(missing), example=missing[0]),
            envs[-1].location if envs else None,
        )
    shown = ", ".join(f"{name}={environment[name]}" for name in names)
    where = instruction_naming(ctx.dockerfile, ("ENV",), names[0])
    return Outcome.ok(t("image_env_settings.ok", settings=shown), where.location if where else None)


# -- a second container ---------------------------------------------------------------------


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
    path = _ready_path(ctx)
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


def _ready_path(ctx: Context) -> str:
    for spec in ctx.exercise.checks:
        if spec.kind == "container_ready":
            return spec.params.get("path", "/")
    return "/"


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
        if problem or not _same_prediction(got, case["prediction"]):
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


# -- MODEL_PATH -----------------------------------------------------------------------------


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
    if not _same_prediction(got, case["prediction"]):
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
    where = None
    if ctx.dockerfile is not None:
        found = ctx.dockerfile.find("ENTRYPOINT", stage_only_final=True) or ctx.dockerfile.find("CMD", stage_only_final=True)
        where = found[-1].location if found else None
    running, state, refused = start_second(ctx, ctx.exercise.port, float(params.get("timeout", 30)), command=args)
    if refused:
        return Outcome.fail(t("args_reach_server.not_started", args=shown, error=refused), where)
    if not state.ready:
        key = "args_reach_server.no_entrypoint" if not entrypoint else "args_reach_server.no_answer"
        return Outcome.fail(t(key, args=shown, problem=state.problem), where)
    health = _get_json(running, params.get("path", "/health"))
    wrong = {key: health.get(key) for key, value in expected.items() if health.get(key) != value}
    if not wrong:
        return Outcome.ok(t("args_reach_server.ok", args=shown, effect=", ".join(f"{k}={v!r}" for k, v in expected.items())))
    seen = ", ".join(f"{k}={v!r}" for k, v in wrong.items())
    if runs_in_shell(entrypoint):
        return Outcome.fail(t("args_reach_server.shell_form", args=shown, seen=seen), where)
    return Outcome.fail(t("args_reach_server.ignored", args=shown, seen=seen), where)


# -- build arguments ------------------------------------------------------------------------


@register("build_arg_changes_build", needs="image", required_params=("arg",))
def build_arg_changes_build(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Building again with `--build-arg ARG=<value>` puts the value into the image (Config.Env or a label)."""
    name = str(params["arg"])
    declaration = declared_args(ctx.dockerfile).get(name)
    if declaration is None:
        return Outcome.fail(t("build_arg_changes_build.not_declared", arg=name))
    value = f"{params.get('prefix', 'graded-')}{uuid.uuid4().hex[:8]}"
    built = ctx.session.build(ctx.build_dir or ctx.submission, ctx.dockerfile, ctx.build_timeout, buildargs={name: value})
    if not built.ok:
        return Outcome.fail(t("build_arg_changes_build.build_failed", arg=name, value=value, error=built.error), declaration.location)
    image = ctx.session.inspect_image(built.image_id) or {}
    config = image.get("Config") or {}
    places = [f"ENV {item.split('=', 1)[0]}" for item in config.get("Env") or [] if value in item]
    places += [f"LABEL {key}" for key, text in (config.get("Labels") or {}).items() if value in str(text)]
    if not places:
        return Outcome.fail(t("build_arg_changes_build.not_in_image", arg=name, value=value, line=declaration.line), declaration.location)
    rebuilt = max(built.total_steps - built.cached_steps, 0)
    message = t("build_arg_changes_build.ok", arg=name, value=value, places=", ".join(places), rebuilt=rebuilt, total=built.total_steps)
    installs_after = [
        ins for ins in ctx.dockerfile.commands()
        if ins.keyword == "RUN" and ins.stage == declaration.stage and ins.line > declaration.line and "install" in ins.value
    ]
    if installs_after:
        message = _sentences(message, t("build_arg_changes_build.before_install", line=installs_after[0].line))
    return Outcome.ok(message, declaration.location)


# -- secrets ------------------------------------------------------------------------------------


def secret_values(*files: Path) -> dict[str, str]:
    """NAME -> value of each `NAME=value` line of these files (values of 8 characters or more)."""
    secrets: dict[str, str] = {}
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = line.removeprefix("export ").split("=", 1)
            value = value.strip().strip("'\"")
            if len(value) >= 8:
                secrets[name.strip()] = value
    return secrets


@dataclass(frozen=True)
class Finding:
    """Where a secret value was seen in an image."""

    kind: str  # env, label, history, file
    what: str  # the variable, label, history line or file path (masked)
    location: str | None = None


def _mask(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(value, MASK)
    return text


def scan_image_for(ctx: Context, image_id: str, secrets: dict[str, str], timeout: float) -> list[Finding]:
    """Every place in a saved image (config, history, files of every layer) that holds one of the values."""
    values = list(secrets.values())
    needles = [value.encode() for value in values]

    def scan(path: str, data: bytes) -> str | None:
        return "file" if any(needle in data for needle in needles) else None

    saved = save_and_read(ctx, image_id, timeout, scan=scan)
    config = saved.config.get("config") or {}
    findings: list[Finding] = []

    def line_naming(text: str) -> str | None:
        for name in secrets:
            if name in text:
                found = instruction_naming(ctx.dockerfile, ("ENV", "ARG", "RUN", "LABEL"), name)
                if found:
                    return found.location
        return None

    for item in config.get("Env") or []:
        if any(value in item for value in values):
            variable = item.split("=", 1)[0]
            findings.append(Finding("env", variable, line_naming(variable)))
    for key, text in (config.get("Labels") or {}).items():
        if any(value in str(text) for value in values):
            findings.append(Finding("label", key, line_naming(key)))
    for entry in saved.config.get("history") or []:
        created = str(entry.get("created_by", ""))
        if any(value in created for value in values):
            findings.append(Finding("history", shorten(_mask(created, values), 121, single_line=True), line_naming(created)))
    for tar_name, hits in saved.found.items():
        for path, _ in hits:
            culprit = copy_bringing(ctx.dockerfile, path)
            findings.append(Finding("file", path, culprit.location if culprit else None))
    return findings


@register("no_secret_in_image", needs="image")
def no_secret_in_image(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """No value of the submission's secrets file (.env) is in the image: environment, labels, history or any file.

    When the Dockerfile declares an ARG named like one of the secrets, the image is also built
    with that value as a build argument, as `docker build --build-arg NAME=...` would.
    """
    filename = str(params.get("secrets_file", ".env"))
    timeout = float(params.get("timeout", 60))
    secrets = secret_values(*(folder / filename for folder in {ctx.build_dir or ctx.submission, ctx.submission}))
    if not secrets:
        return Outcome.ok(t("no_secret_in_image.nothing", file=filename))
    images = [(ctx.build.image_id, "")]
    declared = {name: ins for name, ins in declared_args(ctx.dockerfile).items() if name in secrets}
    if declared:
        built = ctx.session.build(
            ctx.build_dir or ctx.submission, ctx.dockerfile, ctx.build_timeout, buildargs={name: secrets[name] for name in declared}
        )
        if built.ok:
            images.append((built.image_id, ", ".join(f"--build-arg {name}=…" for name in declared)))
    try:
        for image_id, how in images:
            findings = scan_image_for(ctx, image_id, secrets, timeout)
            if findings:
                first = findings[0]
                message = t(f"no_secret_in_image.in_{first.kind}", file=filename, what=first.what)
                if len(findings) > 1:
                    message = _sentences(message, t("no_secret_in_image.others", count=len(findings) - 1))
                if how:
                    message = _sentences(message, t("no_secret_in_image.with_build_arg", how=how))
                return Outcome.fail(
                    message,
                    first.location,
                    "\n".join(f"{f.kind}: {f.what}" + (f" ({f.location})" if f.location else "") for f in findings[:20]),
                )
    except SavedImageTimeout:
        return Outcome.fail(t("no_secret_in_image.timeout", seconds=f"{timeout:.0f}"))
    return Outcome.ok(t("no_secret_in_image.ok", file=filename, count=len(secrets)))
