"""Checks on the stack run for real: it builds and becomes healthy, the client writes its predictions, nothing is left after.

They share the grading's ONE run of the stack (grader/facts/compose.py starts it for the first of
them to ask; grader/engine/compose.py does the engine work).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import PurePosixPath
from typing import Any, Mapping

from grader.compose_facts import StackRun
from grader.context import Context
from grader.facts.compose import DEFAULT_FILE, DEFAULT_TIMEOUT, FEATURE_COLUMNS, ComposeFile, load_compose, stack_run
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome

# Why the grader would not run a stack (StackRefused.reason, from grader/engine/compose.py) -> its message.
REFUSED = {
    "privileged": "compose_stack_runs.refused_privileged",
    "host_namespace": "compose_stack_runs.refused_host_namespace",
    "host_devices": "compose_stack_runs.refused_host_devices",
    "host_path": "compose_stack_runs.refused_host_path",
    "outside_network": "compose_stack_runs.refused_outside_network",
}
# How the client's output folder was mounted (StackRun.output_mount), when not as a named volume -> the message.
NOT_A_VOLUME = {"bind": "compose_client_output.bind", "anonymous": "compose_client_output.anonymous"}


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _compose_errors(log: str) -> str:
    """The lines of a Compose log that say what went wrong (its ERROR lines), else its tail."""
    errors = [line for line in log.splitlines() if re.search(r"\berror\b|invalid|unhealthy|not found", line, re.I)]
    return "\n".join(errors[-8:]) if errors else _tail(log)


def _why_client_failed(run: StackRun) -> str:
    logs = run.client.logs if run.client else ""
    if run.client and run.client.oom_killed:
        return t("compose_stack_runs.why_oom")
    lowered = logs.lower()
    if "api_url" in lowered and ("not set" in lowered or "keyerror" in lowered):
        return t("compose_stack_runs.why_no_url")
    if re.search(r"//(localhost|127\.|0\.0\.0\.0|\[::1\])", lowered) and "cannot reach" in lowered:
        return t("compose_stack_runs.why_loopback", api=run.api_service)
    if "refused" in lowered:
        return t("compose_stack_runs.why_refused")
    if "name or service not known" in lowered or "name resolution" in lowered or "nodename nor servname" in lowered:
        return t("compose_stack_runs.why_dns", api=run.api_service)
    return ""


def _stack_problem(compose_file: ComposeFile | None, run: StackRun, timeout: float) -> tuple[str, str | None]:
    """What went wrong with a run that did not end with the client's exit 0: (message, location)."""
    name = compose_file.name if compose_file else DEFAULT_FILE
    where = compose_file.location if compose_file else (lambda *keys: name)
    if run.refused is not None:
        refused = run.refused
        return t(REFUSED[refused.reason], service=refused.service, value=refused.value), where(*refused.path)
    if run.problem:
        return t("compose_stack_runs.config", compose=run.command, name=name, error=_tail(run.problem, 10)), name
    if run.build_timed_out:
        return t("compose_stack_runs.build_timeout", seconds=run.build_seconds, log=_tail(run.build_log, 6)), name
    if run.build_ok is False:
        return t("compose_stack_runs.build_failed", log=_tail(run.build_log)), name
    api, client = run.api, run.client
    health_where = where("services", run.api_service, "healthcheck")
    if api is not None and (client is None or client.status == "created") and api.health in ("unhealthy", "starting"):
        probe = api.last_probe or t("compose_stack_runs.no_probe_output")
        if "executable file not found" in probe:
            probe += t("compose_stack_runs.probe_tool_missing")
        if run.timed_out:
            return t("compose_stack_runs.unhealthy_timeout", seconds=timeout, api=run.api_service, health=api.health, probe=probe), health_where
        return t("compose_stack_runs.unhealthy", api=run.api_service, client=run.client_service, probe=probe), health_where
    if run.timed_out and client is not None and client.status not in ("exited", "dead"):
        return t("compose_stack_runs.client_running", client=run.client_service, seconds=timeout, logs=client.logs or "-"), name
    if run.timed_out:
        return t("compose_stack_runs.timeout", seconds=timeout, log=_compose_errors(run.up_log)), name
    if run.up_code not in (0, None) and client is None:
        return t("compose_stack_runs.up_failed", compose=run.command, log=_compose_errors(run.up_log)), name
    if client is None or client.status == "created":
        return t("compose_stack_runs.no_client", client=run.client_service, name=name), where("services")
    return (
        t("compose_stack_runs.client_failed", client=run.client_service, code=client.exit_code, why=_why_client_failed(run), logs=_tail(client.logs, 8) or "-"),
        where("services", run.client_service),
    )


@register("compose_stack_runs", needs="nothing", uses_engine=True)
def compose_stack_runs(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The stack builds, the API becomes healthy, and the one-shot client exits 0 within the time limit."""
    run, problem = stack_run(ctx)
    if run is None:
        return Outcome.fail(t("compose_stack_runs.not_run", reason=problem.message), location=problem.location)
    if run.client_succeeded and not run.timed_out:
        return Outcome.ok(t("compose_stack_runs.ok", api=run.api_service, client=run.client_service, seconds=run.run_seconds))
    compose_file, _ = load_compose(ctx, params)
    message, location = _stack_problem(compose_file, run, float(params.get("timeout", DEFAULT_TIMEOUT)))
    return Outcome.fail(message, location=location, detail=f"{run.compose}\n{_tail(run.up_log or run.build_log or run.problem, 30)}")


def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@register("compose_client_output", needs="nothing", uses_engine=True, required_params=("cases",))
def compose_client_output(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The predictions file in the named volume has one row per input row, each with the expected prediction."""
    run, problem = stack_run(ctx)
    if run is None or not run.client_succeeded:
        return Outcome.fail(t("compose_client_output.not_run"))
    path = PurePosixPath(run.output_path)
    folder = str(path.parent)
    if run.output_mount != "volume":
        lost = t("compose_client_output.was_written") if run.output_in_container else ""
        key = NOT_A_VOLUME.get(run.output_mount, "compose_client_output.none")
        return Outcome.fail(t(key, folder=folder, path=path, lost=lost))
    if run.output is None:
        return Outcome.fail(t("compose_client_output.missing", volume=run.output_volume, path=path))
    rows = list(csv.DictReader(io.StringIO(run.output)))
    header = list(rows[0].keys()) if rows else next(csv.reader(io.StringIO(run.output)), [])
    if "prediction" not in header:
        return Outcome.fail(t("compose_client_output.no_column", path=path, header=", ".join(header) or "-"))
    cases = list(params["cases"])
    if len(rows) != len(cases):
        return Outcome.fail(t("compose_client_output.row_count", path=path, got=len(rows), expected=len(cases)))
    columns = list(params.get("columns", FEATURE_COLUMNS))
    for number, (row, case) in enumerate(zip(rows, cases), start=1):
        features = [_number(row.get(column)) for column in columns if column in row]
        if features and features != [float(v) for v in case["features"]]:
            return Outcome.fail(t("compose_client_output.order", path=path, number=number, got=features, expected=case["features"]))
        got = _number(row.get("prediction"))
        if got is None or got != float(case["prediction"]):
            return Outcome.fail(
                t("compose_client_output.wrong", number=number, features=case["features"], got=row.get("prediction"), expected=case["prediction"])
            )
    return Outcome.ok(t("compose_client_output.ok", count=len(rows), volume=run.output_volume))


@register("compose_cleanup", needs="nothing", uses_engine=True)
def compose_cleanup(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """After `down --volumes` nothing of the stack's project is left: no container, network or volume."""
    run, problem = stack_run(ctx)
    if run is None or run.created == 0:
        return Outcome.fail(t("compose_cleanup.not_run"))
    if run.leftovers:
        items = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in run.leftovers.items())
        return Outcome.fail(t("compose_cleanup.left", items=items), detail=run.down_log)
    return Outcome.ok(t("compose_cleanup.ok", project=run.project, containers=run.created))
