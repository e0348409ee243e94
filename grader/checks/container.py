"""Checks on the running container: it starts and listens on every interface, runs the right PID 1 as a user,
becomes healthy, stops quickly, logs at once, and loads its model inside."""

from __future__ import annotations

import posixpath
import re
from typing import Any, Mapping

from grader.context import Context
from grader.dockerfile import Instruction, last_of, location_of, runs_in_shell, shlex_words
from grader.facts.diagnosis import describe_listeners, diagnose_not_answering, source_location
from grader.facts.image import image_config, image_environment, start_command
from grader.i18n import t
from grader.kinds import register
from grader.listeners import is_loopback
from grader.model import Outcome
from grader.text import one_line, shorten

INIT_PROGRAMS = ("tini", "dumb-init", "docker-init")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEV_SERVER_WARNING = "This is a development server"


@register("container_ready", needs="container")
def container_ready(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The container starts and its app answers HTTP on the exercise's port."""
    run = ctx.run
    if run.ready:
        return Outcome.ok(t("container_ready.ok", seconds=run.startup_seconds))
    return Outcome.fail(run.problem or t("container_ready.never"))


@register("binds_all_interfaces", needs="container")
def binds_all_interfaces(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The app listens on 0.0.0.0 (all interfaces) so that other containers and published ports reach it."""
    port = ctx.exercise.port
    if ctx.run.ready:
        # An HTTP answer to the grader's probe proves the bind: the probe is another container on
        # the network, which reaches the app's own address, never its loopback. No need to look inside.
        return Outcome.ok(t("binds_all_interfaces.reachable", port=port))
    state = ctx.run.container.state()
    if not state.get("Running"):
        return Outcome.fail(t("binds_all_interfaces.not_running", code=state.get("ExitCode")))
    listeners, problem = describe_listeners(ctx.run.container)
    if listeners is None:
        return Outcome.fail(problem)
    on_port = [address for address, p in listeners if p == port]
    if any(not is_loopback(a) for a in on_port):
        return Outcome.ok(t("binds_all_interfaces.ok", address=on_port[0], port=port))
    return Outcome.fail(diagnose_not_answering(ctx.run.container, port), location=source_location(ctx, params.get("source"), "run("))


# -- what runs as PID 1, and as which user ----------------------------------------------------


def start_line(ctx: Context) -> str | None:
    """Dockerfile:N of the final stage's last CMD (or ENTRYPOINT when there is no CMD)."""
    return location_of(ctx.dockerfile, "CMD", "ENTRYPOINT")


def shell_written_as_json(ctx: Context) -> bool:
    """True when the Dockerfile wrote the shell itself in exec form (`["sh", "-c", "…"]`): the form is right,
    the shell in front of the app is not, so "write it as JSON" would be the wrong advice."""
    start = last_of(ctx.dockerfile, "ENTRYPOINT", "CMD")
    return start is not None and start.json_args() is not None


def runs_gunicorn(argv: list[str]) -> bool:
    """True when a process's argv is gunicorn: `gunicorn …`, `python …/gunicorn …` or `python -m gunicorn …`."""
    names = [posixpath.basename(arg) for arg in argv]
    if not names:
        return False
    if names[0] == "gunicorn":
        return True
    if names[0].startswith("python"):
        return names[1:2] == ["gunicorn"] or argv[1:3] == ["-m", "gunicorn"]
    return False


def pid1_argv(ctx: Context) -> list[str] | None:
    """PID 1's command line inside the running container, or None when it cannot be read."""
    code, output = ctx.run.container.exec_output(["cat", "/proc/1/cmdline"])
    if code != 0 or not output:
        return None
    return [arg for arg in output.split("\0") if arg]


def _shown(argv: list[str], limit: int = 80) -> str:
    return shorten(" ".join(argv), limit)


@register("gunicorn_pid1", needs="container")
def gunicorn_pid1(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """gunicorn is PID 1 in the container (exec-form CMD), so it gets docker stop's signal."""
    where = start_line(ctx)
    command = start_command(ctx)
    argv = pid1_argv(ctx)
    if argv is None:
        state = ctx.run.container.state()
        return Outcome.fail(t("gunicorn_pid1.unreadable", code=state.get("ExitCode")), where)
    if runs_gunicorn(argv) or (
        posixpath.basename(argv[0]) in INIT_PROGRAMS and any(posixpath.basename(a) == "gunicorn" for a in argv[1:])
    ):
        return Outcome.ok(t("gunicorn_pid1.ok", argv=_shown(argv)), where)
    if runs_in_shell(command):
        wrapped = shell_written_as_json(ctx)
        return Outcome.fail(t("gunicorn_pid1.wrapped" if wrapped else "gunicorn_pid1.shell_form", argv=_shown(argv), command=_shown(command[2:])), where)
    return Outcome.fail(t("gunicorn_pid1.not_gunicorn", argv=_shown(argv), port=ctx.exercise.port), where)


def is_root(user: str) -> bool:
    """True for an empty USER or one naming root (`root`, `0`, `root:root`, `0:0`)."""
    name = user.split(":")[0].strip()
    return name in ("", "root", "0")


@register("non_root_user", needs="container")
def non_root_user(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image sets a USER that is not root, and the running container's `id -u` is not 0."""
    user = (image_config(ctx).get("User") or "").strip()
    where = location_of(ctx.dockerfile, "USER")
    if not user:
        return Outcome.fail(t("non_root_user.no_user"), start_line(ctx))
    if is_root(user):
        return Outcome.fail(t("non_root_user.root", user=user), where)
    code, output = ctx.run.container.exec_output(["id", "-u"])
    uid = output.strip()
    if code != 0 or not uid.isdigit():
        return Outcome.fail(t("non_root_user.unreadable", user=user, output=output.strip()[:120]), where)
    if uid == "0":
        return Outcome.fail(t("non_root_user.uid_zero", user=user), where)
    return Outcome.ok(t("non_root_user.ok", user=user, uid=uid), where)


# -- health, stop, logs ------------------------------------------------------------------------


def probe_program(test: list[str]) -> str | None:
    """The program a HEALTHCHECK test runs (`CMD` args or the first word of a `CMD-SHELL` line)."""
    if not test or test[0] == "NONE":
        return None
    words = shlex_words(" ".join(test[1:2])) if test[0] == "CMD-SHELL" else list(test[1:])
    words = [w for w in words if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w)]  # VAR=value prefixes
    return words[0] if words else None


def program_candidates(ctx: Context, program: str) -> list[str]:
    """Where the program would be found: itself when absolute, else each directory of the image's PATH."""
    if program.startswith("/"):
        return [program]
    folders = [folder for folder in image_environment(ctx).get("PATH", DEFAULT_PATH).split(":") if folder.startswith("/")]
    return [posixpath.join(folder, program) for folder in folders]


@register("healthcheck_healthy", needs="container")
def healthcheck_healthy(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image has a HEALTHCHECK whose program exists, and the container becomes healthy."""
    timeout = float(params.get("timeout", 40))
    where = location_of(ctx.dockerfile, "HEALTHCHECK")
    test = list((image_config(ctx).get("Healthcheck") or {}).get("Test") or [])
    program = probe_program(test)
    if program is None:
        return Outcome.fail(t("healthcheck_healthy.none"), where or start_line(ctx))
    found = ctx.session.paths_in_image(ctx.build.image_id, program_candidates(ctx, program))
    if not any(found.values()):
        return Outcome.fail(t("healthcheck_healthy.missing_program", program=program), where)
    status, probe_output = ctx.session.wait_health(ctx.run.container, timeout)
    if status == "healthy":
        return Outcome.ok(t("healthcheck_healthy.ok", program=program), where)
    output = one_line(probe_output)[:160] or "-"
    if status == "unhealthy":
        return Outcome.fail(t("healthcheck_healthy.unhealthy", output=output), where)
    if status == "starting":
        return Outcome.fail(t("healthcheck_healthy.still_starting", timeout=f"{timeout:.0f}", output=output), where)
    state = ctx.run.container.state()
    return Outcome.fail(t("healthcheck_healthy.not_running", status=status, code=state.get("ExitCode")), where)


@register("stops_quickly", needs="last")
def stops_quickly(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """`docker stop` ends the container well within its grace period (PID 1 handles SIGTERM)."""
    limit = float(params.get("max_seconds", 3))
    grace = float(params.get("grace", 5))
    where = start_line(ctx)
    container = ctx.run.container
    if not container.state().get("Running"):
        return Outcome.fail(t("stops_quickly.not_running", code=container.state().get("ExitCode")), where)
    seconds, state = ctx.session.stop_seconds(container, grace=grace)
    ctx.facts["stop_seconds"] = round(seconds, 2)
    shown = dict(seconds=f"{seconds:.1f}", limit=f"{limit:g}", code=state.get("ExitCode"))
    if seconds < limit:
        return Outcome.ok(t("stops_quickly.ok", **shown), where)
    command = start_command(ctx)
    if runs_in_shell(command):
        why = t("stops_quickly.why_wrapped" if shell_written_as_json(ctx) else "stops_quickly.why_shell")
    elif command and runs_gunicorn(command):
        why = t("stops_quickly.why_unknown")
    else:
        why = t("stops_quickly.why_no_handler", program=posixpath.basename(command[0]) if command else "?")
    # 137 = SIGKILL: the engine gave up waiting; any other code means it did stop, only slowly.
    killed = state.get("ExitCode") == 137
    return Outcome.fail(t("stops_quickly.slow" if killed else "stops_quickly.slow_exit", grace=f"{grace:g}", why=why, **shown), where)


@register("unbuffered_logs", needs="ready", required_params=("startup_pattern",))
def unbuffered_logs(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """PYTHONUNBUFFERED=1 is set in the image and a startup line reaches the container's logs."""
    value = image_environment(ctx).get("PYTHONUNBUFFERED", "")
    if not value:
        return Outcome.fail(t("unbuffered_logs.no_env"), location_of(ctx.dockerfile, "ENV") or start_line(ctx))
    logs = ctx.run.container.logs_tail(int(params.get("lines", 200)))
    pattern = params["startup_pattern"]
    line = next((text for text in logs.splitlines() if re.search(pattern, text)), None)
    if line is None:
        return Outcome.fail(t("unbuffered_logs.no_line", pattern=pattern), start_line(ctx))
    return Outcome.ok(t("unbuffered_logs.ok", line=one_line(line)[:100]))


@register("no_dev_server", needs="ready")
def no_dev_server(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The logs do not show Flask's development-server warning."""
    warning = params.get("warning", DEV_SERVER_WARNING)
    logs = ctx.run.container.logs_tail(int(params.get("lines", 500)))
    if warning in logs:
        return Outcome.fail(t("no_dev_server.found", port=ctx.exercise.port), start_line(ctx))
    return Outcome.ok(t("no_dev_server.ok"), start_line(ctx))


# -- the model loads with warnings turned into errors -------------------------------------

STRICT_LOAD = """\
import sys, warnings
try:
    from sklearn.exceptions import InconsistentVersionWarning
except ImportError:  # scikit-learn before 1.3 warns with a plain UserWarning
    InconsistentVersionWarning = UserWarning
warnings.simplefilter("error", InconsistentVersionWarning)
import joblib
joblib.load(sys.argv[1])
print("model loaded")
"""

VERSIONS = re.compile(r"from version (\S+?) when using version (\S+?)\.?(\s|$)")


def _builder_install(ctx: Context) -> Instruction | None:
    """The pip install RUN of an earlier stage (where the model's scikit-learn came from)."""
    if ctx.dockerfile is None:
        return None
    final = ctx.dockerfile.stage_count() - 1
    installs = [ins for ins in ctx.dockerfile.commands() if ins.keyword == "RUN" and ins.stage < final and "pip" in ins.value]
    return installs[-1] if installs else None


@register("model_loads_strict", needs="container")
def model_loads_strict(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Inside the container the model loads with scikit-learn's InconsistentVersionWarning turned into an error."""
    path = params.get("model_path", "/app/iris_binary_model.pkl")
    container = ctx.run.container
    state = container.state()
    if not state.get("Running"):
        return Outcome.fail(t("model_loads_strict.not_running", code=state.get("ExitCode")))
    command = ["python", "-c", STRICT_LOAD, path]
    code, output = container.exec_output(command)
    if code == 124:  # the session's exec time limit: importing scikit-learn on a busy machine is slow
        code, output = container.exec_output(command)
    if code == 0:
        return Outcome.ok(t("model_loads_strict.ok", path=path))
    lines = [line for line in output.strip().splitlines() if line.strip()]
    last = lines[-1].strip()[:300] if lines else f"exit code {code}"
    versions = VERSIONS.search(output)
    if versions:
        where = _builder_install(ctx)
        return Outcome.fail(
            t("model_loads_strict.version_mismatch", trained=versions.group(1), serving=versions.group(2)),
            where.location if where else None,
            output[-2000:],
        )
    if "FileNotFoundError" in output or "No such file" in output:
        return Outcome.fail(t("model_loads_strict.missing", path=path), detail=output[-2000:])
    return Outcome.fail(t("model_loads_strict.error", error=last), detail=output[-2000:])
