"""Production serving: gunicorn as PID 1, a non-root user, a working HEALTHCHECK, quick stops, live logs."""

from __future__ import annotations

import posixpath
import re
from typing import Any, Mapping

from grader.kinds import register
from grader.checks.image import image_config
from grader.context import Context
from grader.dockerfile import runs_in_shell, shlex_words
from grader.i18n import t
from grader.model import Outcome
from grader.text import one_line, shorten

INIT_PROGRAMS = ("tini", "dumb-init", "docker-init")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEV_SERVER_WARNING = "This is a development server"


def start_command(ctx: Context) -> list[str]:
    """What the image runs: ENTRYPOINT followed by CMD, as the engine joins them."""
    config = image_config(ctx)
    return list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])


def start_line(ctx: Context) -> str | None:
    """Dockerfile:N of the final stage's last CMD (or ENTRYPOINT when there is no CMD)."""
    found = ctx.dockerfile.find("CMD", stage_only_final=True) or ctx.dockerfile.find("ENTRYPOINT", stage_only_final=True)
    return found[-1].location if found else None


def _last_line(ctx: Context, keyword: str) -> str | None:
    found = ctx.dockerfile.find(keyword, stage_only_final=True)
    return found[-1].location if found else None


def shell_written_as_json(ctx: Context) -> bool:
    """True when the Dockerfile wrote the shell itself in exec form (`["sh", "-c", "…"]`): the form is right,
    the shell in front of the app is not, so "write it as JSON" would be the wrong advice."""
    found = ctx.dockerfile.find("ENTRYPOINT", stage_only_final=True) or ctx.dockerfile.find("CMD", stage_only_final=True)
    return bool(found) and found[-1].json_args() is not None


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
        key = "gunicorn_pid1.wrapped" if shell_written_as_json(ctx) else "gunicorn_pid1.shell_form"
        return Outcome.fail(t(key, argv=_shown(argv), command=_shown(command[2:])), where)
    return Outcome.fail(t("gunicorn_pid1.not_gunicorn", argv=_shown(argv), port=ctx.exercise.port), where)


def is_root(user: str) -> bool:
    """True for an empty USER or one naming root (`root`, `0`, `root:root`, `0:0`)."""
    name = user.split(":")[0].strip()
    return name in ("", "root", "0")


@register("non_root_user", needs="container")
def non_root_user(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image sets a USER that is not root, and the running container's `id -u` is not 0."""
    user = (image_config(ctx).get("User") or "").strip()
    where = _last_line(ctx, "USER")
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
    env = dict(item.split("=", 1) for item in image_config(ctx).get("Env") or [] if "=" in item)
    folders = [folder for folder in env.get("PATH", DEFAULT_PATH).split(":") if folder.startswith("/")]
    return [posixpath.join(folder, program) for folder in folders]


@register("healthcheck_healthy", needs="container")
def healthcheck_healthy(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image has a HEALTHCHECK whose program exists, and the container becomes healthy."""
    timeout = float(params.get("timeout", 40))
    where = _last_line(ctx, "HEALTHCHECK")
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
    key = "stops_quickly.slow" if state.get("ExitCode") == 137 else "stops_quickly.slow_exit"
    return Outcome.fail(t(key, grace=f"{grace:g}", why=why, **shown), where)


def _env(ctx: Context) -> dict[str, str]:
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in image_config(ctx).get("Env") or [])


@register("unbuffered_logs", needs="ready", required_params=("startup_pattern",))
def unbuffered_logs(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """PYTHONUNBUFFERED=1 is set in the image and a startup line reaches the container's logs."""
    value = _env(ctx).get("PYTHONUNBUFFERED", "")
    if not value:
        return Outcome.fail(t("unbuffered_logs.no_env"), _last_line(ctx, "ENV") or start_line(ctx))
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
