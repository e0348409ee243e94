"""Checks on a two-container Compose stack: the compose file as written, then the stack run for real.

The static checks read compose.yaml (no engine). The run checks share ONE run of the stack
(grader/engine/compose.py does the engine work): the first of them to run starts it, the others read
its result. The run's parameters come from the exercise's `compose_stack_runs` check, the
expected rows from its `compose_client_output` check.
"""

from __future__ import annotations

import csv
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping
from urllib.parse import urlsplit

import yaml

from grader.compose_facts import StackRun, compose_file, volume_source
from grader.kinds import register
from grader.context import Context
from grader.i18n import t
from grader.model import Outcome
from grader.errors import EngineUnavailable
from grader.text import shorten

DEFAULT_FILE = "compose.yaml"
DEFAULT_TIMEOUT = 120.0
TODO_PATTERN = re.compile(r"\bTODO\b")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]")
FEATURE_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]  # of the input CSV, in order
RUN_ATTRIBUTE = "compose_stack_run"  # the key of the grading's one stack run in ctx.memo


# -- reading the compose file, with line numbers ------------------------------------------------


@dataclass
class ComposeFile:
    """A parsed compose file that can say on which line a key is."""

    path: Path
    text: str
    document: dict
    root: Any  # the YAML node tree

    @property
    def name(self) -> str:
        """The file's name, as messages show it."""
        return self.path.name

    def line(self, *keys: Any) -> int | None:
        """The line of the deepest of these keys that exists (1-based), None when not even the first does."""
        node, line = self.root, None
        for key in keys:
            if isinstance(node, yaml.MappingNode):
                match = next((pair for pair in node.value if isinstance(pair[0], yaml.ScalarNode) and pair[0].value == str(key)), None)
                if match is None:
                    return line
                line, node = match[0].start_mark.line + 1, match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def location(self, *keys: Any) -> str:
        """`compose.yaml:N` for these keys, or the file name alone."""
        line = self.line(*keys)
        return f"{self.name}:{line}" if line else self.name

    @property
    def services(self) -> dict:
        """The `services:` mapping."""
        return self.document.get("services") or {}

    def service(self, name: str) -> dict:
        """One service's settings ({} when it is empty)."""
        value = self.services.get(name)
        return value if isinstance(value, dict) else {}


def compose_path(ctx: Context, params: Mapping[str, Any]) -> Path | None:
    """The compose file to read: the `file` param, else the first of Compose's own names in the folder."""
    name = params.get("file")
    return ctx.submission / name if name else compose_file(ctx.submission)


def load_compose(ctx: Context, params: Mapping[str, Any]) -> tuple[ComposeFile | None, Outcome | None]:
    """The submission's compose file, or a failing outcome that says why it cannot be read."""
    name = params.get("file")
    path = compose_path(ctx, params)
    if path is None or not path.is_file():
        return None, Outcome.fail(t("compose_file.missing", name=name or DEFAULT_FILE, folder=ctx.submission))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, Outcome.fail(t("compose_file.unreadable", name=path.name, error=error), location=path.name)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        location = f"{path.name}:{mark.line + 1}" if mark else path.name
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        return None, Outcome.fail(t("compose_file.yaml", name=path.name, problem=problem), location=location)
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict) or not document["services"]:
        return None, Outcome.fail(t("compose_file.no_services", name=path.name), location=path.name)
    return ComposeFile(path, text, document, root), None


def read_service(ctx: Context, params: Mapping[str, Any], default: str) -> tuple[ComposeFile | None, str, Outcome | None]:
    """The compose file and the name of the service a check looks at (`service` param), or why it cannot."""
    compose_file, problem = load_compose(ctx, params)
    name = params.get("service", default)
    if compose_file is None or name in compose_file.services:
        return compose_file, name, problem
    names = ", ".join(f"`{s}`" for s in compose_file.services) or "none"
    return compose_file, name, Outcome.fail(
        t("compose_file.no_service", service=name, services=names, name=compose_file.name),
        location=compose_file.location("services"),
    )


# -- static checks on compose.yaml ------------------------------------------------------------


@register("compose_no_todo", needs="nothing")
def compose_no_todo(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """No TODO placeholder is left in the compose file."""
    compose_file, problem = load_compose(ctx, params)
    if compose_file is None:
        path = compose_path(ctx, params)
        if path is None or not path.is_file():
            return problem
        text = path.read_text(encoding="utf-8", errors="replace")  # a file that does not parse may still hold TODOs
        name = path.name
    else:
        text, name = compose_file.text, compose_file.name
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if TODO_PATTERN.search(line)]
    if not lines:
        return Outcome.ok(t("compose_no_todo.ok", name=name))
    return Outcome.fail(
        t("compose_no_todo.left", count=len(lines), lines=", ".join(map(str, lines)), name=name), location=f"{name}:{lines[0]}"
    )


def _test_words(test: Any) -> tuple[list[str], str]:
    """The words of a healthcheck `test` and the command as text; ([], '') when it has no usable form."""
    if isinstance(test, str):
        try:
            return shlex.split(test), test
        except ValueError:
            return test.split(), test
    if isinstance(test, list) and test and all(isinstance(word, str) for word in test):
        if test[0] == "CMD-SHELL":
            return _test_words(" ".join(test[1:]))[0], " ".join(test[1:])
        if test[0] == "CMD":
            return list(test[1:]), " ".join(test[1:])
    return [], ""


@register("compose_healthcheck", needs="nothing")
def compose_healthcheck(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The API service has a healthcheck that asks the app itself, with a tool the image has."""
    compose_file, service_name, problem = read_service(ctx, params, "api")
    if problem:
        return problem
    port = params.get("port", 5001)
    healthcheck = compose_file.service(service_name).get("healthcheck")
    where = compose_file.location("services", service_name, "healthcheck")
    if not isinstance(healthcheck, dict):
        return Outcome.fail(t("compose_healthcheck.none", service=service_name), location=where)
    test = healthcheck.get("test")
    if healthcheck.get("disable") or test in (["NONE"], "NONE"):
        return Outcome.fail(t("compose_healthcheck.disabled", service=service_name), location=where)
    where = compose_file.location("services", service_name, "healthcheck", "test")
    if test is None:
        return Outcome.fail(t("compose_healthcheck.no_test", service=service_name), location=where)
    words, command = _test_words(test)
    if not words:
        return Outcome.fail(t("compose_healthcheck.bad_form", value=test), location=where)
    for tool in params.get("forbidden", ("curl", "wget")):
        if any(PurePosixPath(word).name == tool for word in words):
            return Outcome.fail(t("compose_healthcheck.tool", tool=tool, port=port), location=where)
    if str(port) not in command:
        return Outcome.fail(t("compose_healthcheck.no_port", port=port), location=where)
    shown = shorten(command, 70)
    return Outcome.ok(t("compose_healthcheck.ok", service=service_name, command=shown), location=where)


@register("compose_depends_healthy", needs="nothing")
def compose_depends_healthy(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The client starts only once the API's healthcheck has passed (`condition: service_healthy`)."""
    compose_file, service_name, problem = read_service(ctx, params, "client")
    if problem:
        return problem
    on = params.get("dependency", "api")
    depends = compose_file.service(service_name).get("depends_on")
    where = compose_file.location("services", service_name, "depends_on")
    if not depends:
        return Outcome.fail(t("compose_depends_healthy.missing", service=service_name, on=on), location=where)
    if isinstance(depends, list):
        if on in depends:
            return Outcome.fail(t("compose_depends_healthy.list", on=on), location=where)
        return Outcome.fail(t("compose_depends_healthy.not_on", service=service_name, on=on), location=where)
    if not isinstance(depends, dict) or on not in depends:
        return Outcome.fail(t("compose_depends_healthy.not_on", service=service_name, on=on), location=where)
    entry = depends.get(on)
    condition = entry.get("condition", "service_started") if isinstance(entry, dict) else "service_started"
    where = compose_file.location("services", service_name, "depends_on", on)
    if condition != "service_healthy":
        return Outcome.fail(t("compose_depends_healthy.condition", on=on, condition=condition), location=where)
    return Outcome.ok(t("compose_depends_healthy.ok", service=service_name, on=on), location=where)


def _mount_at(volumes: Any, target: str) -> tuple[int, str | None, str] | None:
    """(index, source, kind) of the `volumes:` entry mounted at `target`; kind is volume, bind or anonymous."""
    wanted = PurePosixPath(target)
    for index, entry in enumerate(volumes if isinstance(volumes, list) else []):
        if isinstance(entry, dict):
            destination = entry.get("target")
        else:
            parts = str(entry).split(":")
            destination = parts[0] if len(parts) == 1 else parts[1]
        if destination is None or PurePosixPath(str(destination)) != wanted:
            continue
        source, kind = volume_source(entry)
        if isinstance(entry, dict) and kind == "volume" and not source:
            kind = "anonymous"
        if source is None:
            kind = "anonymous"
        return index, source, kind
    return None


@register("compose_named_volume", needs="nothing")
def compose_named_volume(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The client writes into a named volume, declared at the top level of the file."""
    compose_file, service_name, problem = read_service(ctx, params, "client")
    if problem:
        return problem
    target = params.get("target", "/output")
    mount = _mount_at(compose_file.service(service_name).get("volumes"), target)
    if mount is None:
        where = compose_file.location("services", service_name, "volumes")
        return Outcome.fail(t("compose_named_volume.nothing", service=service_name, target=target), location=where)
    index, source, kind = mount
    where = compose_file.location("services", service_name, "volumes", index)
    if kind == "bind":
        return Outcome.fail(t("compose_named_volume.bind", source=source, target=target), location=where)
    if kind == "anonymous":
        return Outcome.fail(t("compose_named_volume.anonymous", target=target), location=where)
    declared = compose_file.document.get("volumes")
    if not isinstance(declared, dict) or source not in declared:
        return Outcome.fail(t("compose_named_volume.undeclared", name=source), location=where)
    if isinstance(declared.get(source), dict) and declared[source].get("external"):
        return Outcome.fail(t("compose_named_volume.external", name=source), location=compose_file.location("volumes", source))
    return Outcome.ok(t("compose_named_volume.ok", name=source, target=target), location=where)


def _environment_of(service: dict) -> dict[str, str | None]:
    environment = service.get("environment")
    if isinstance(environment, dict):
        return {str(k): (None if v is None else str(v)) for k, v in environment.items()}
    found: dict[str, str | None] = {}
    for item in environment if isinstance(environment, list) else []:
        key, sep, value = str(item).partition("=")
        found[key] = value if sep else None
    return found


@register("compose_service_address", needs="nothing")
def compose_service_address(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The client reaches the API by its service name on the Compose network, on the app's own port."""
    compose_file, service_name, problem = read_service(ctx, params, "client")
    if problem:
        return problem
    variable, host, port = params.get("variable", "API_URL"), params.get("host", "api"), int(params.get("port", 5001))
    value = _environment_of(compose_file.service(service_name)).get(variable)
    where = compose_file.location("services", service_name, "environment")
    if not value:
        return Outcome.fail(t("compose_service_address.no_env", service=service_name, variable=variable), location=where)
    keys = ("services", service_name, "environment")
    if isinstance(compose_file.service(service_name).get("environment"), dict):
        where = compose_file.location(*keys, variable)
    shown = {"variable": variable, "value": value, "target": host, "port": port}
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Outcome.fail(t("compose_service_address.not_url", **shown), location=where)
    if parts.hostname in LOOPBACK_HOSTS or parts.hostname.startswith("127."):
        return Outcome.fail(t("compose_service_address.loopback", host=parts.hostname, **shown), location=where)
    if parts.hostname != host:
        return Outcome.fail(t("compose_service_address.other_host", host=parts.hostname, **shown), location=where)
    try:
        got = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        got = None
    if got != port:
        return Outcome.fail(t("compose_service_address.wrong_port", got=got, **shown), location=where)
    return Outcome.ok(t("compose_service_address.ok", value=value), location=where)


def _published_on_all_interfaces(entry: Any) -> tuple[bool, str]:
    """(True, container port) when a `ports:` entry publishes on every interface of the host."""
    if isinstance(entry, dict):
        return str(entry.get("host_ip") or "") in ("", "0.0.0.0", "::"), str(entry.get("target", ""))
    text = str(entry).split("/")[0]
    if text.startswith("["):  # [::1]:8000:5001
        address, _, rest = text[1:].partition("]:")
        return address in ("", "::"), rest.split(":")[-1]
    parts = text.split(":")
    if len(parts) >= 3:
        return parts[0] in ("", "0.0.0.0"), parts[-1]
    return True, parts[-1]


@register("compose_ports_loopback", needs="nothing")
def compose_ports_loopback(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """No service publishes a port on every interface of the host (127.0.0.1 only, or none at all)."""
    compose_file, problem = load_compose(ctx, params)
    if compose_file is None:
        return problem
    published = 0
    for name, service in compose_file.services.items():
        for index, entry in enumerate((service or {}).get("ports") or [] if isinstance(service, dict) else []):
            published += 1
            everywhere, port = _published_on_all_interfaces(entry)
            if everywhere:
                return Outcome.fail(
                    t("compose_ports_loopback.everywhere", service=name, value=entry, port=port or 5001),
                    location=compose_file.location("services", name, "ports", index),
                )
    return Outcome.ok(t("compose_ports_loopback.ok" if published else "compose_ports_loopback.none"))


# -- the stack run, shared by the run checks -------------------------------------------------


def _params_of(ctx: Context, kind: str) -> Mapping[str, Any]:
    return next((spec.params for spec in ctx.exercise.checks if spec.kind == kind), {})


def input_csv(cases: list[Mapping[str, Any]], columns: list[str]) -> str:
    """The CSV the client reads, made from the expected cases (so the grader knows every row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for case in cases:
        writer.writerow([f"{float(value):g}" for value in case["features"]])
    return out.getvalue()


def stack_run(ctx: Context) -> tuple[StackRun | None, Outcome | None]:
    """The grading's one run of the stack (started by the first run check that asks), or why it was not run."""
    cached = ctx.memo.get(RUN_ATTRIBUTE)
    if cached is not None:
        return cached
    params = _params_of(ctx, "compose_stack_runs")
    compose_file, problem = load_compose(ctx, params)
    if compose_file is None:
        result: tuple[StackRun | None, Outcome | None] = (None, problem)
        ctx.memo[RUN_ATTRIBUTE] = result
        return result
    output = _params_of(ctx, "compose_client_output")
    plant = {}
    if output.get("input_file") and output.get("cases"):
        plant[output["input_file"]] = input_csv(output["cases"], list(output.get("columns", FEATURE_COLUMNS)))
    try:
        run = ctx.session.run_stack(  # the grading's engine session (the run checks declare uses_engine)
            ctx.submission,
            open_network=ctx.exercise.network == "open",
            compose_name=compose_file.name,
            api_service=params.get("api", "api"),
            client_service=params.get("client", "client"),
            output_path=params.get("output", "/output/predictions.csv"),
            build_timeout=ctx.build_timeout,
            timeout=float(params.get("timeout", DEFAULT_TIMEOUT)),
            plant=plant,
            progress=ctx.progress,
        )
    except EngineUnavailable:  # no Compose is like no engine: nothing of the stack can be graded
        raise
    except Exception as error:  # recorded, so the other run checks do not start the stack again
        ctx.memo[RUN_ATTRIBUTE] = (None, Outcome.fail(t("compose_stack_runs.grader_error", error=f"{type(error).__name__}: {error}")))
        raise
    ctx.facts["compose"] = run.compose
    if run.build_ok is not None:
        ctx.facts["stack_build_seconds"] = round(run.build_seconds, 2)
    if run.up_code is not None or run.timed_out:
        ctx.facts["stack_seconds"] = round(run.run_seconds, 2)
    result = (run, None)
    ctx.memo[RUN_ATTRIBUTE] = result
    return result


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
        return t(f"compose_stack_runs.refused_{refused.reason}", service=refused.service, value=refused.value), where(*refused.path)
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
        key = {"bind": "bind", "anonymous": "anonymous"}.get(run.output_mount, "none")
        lost = t("compose_client_output.was_written") if run.output_in_container else ""
        return Outcome.fail(t(f"compose_client_output.{key}", folder=folder, path=path, lost=lost))
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
