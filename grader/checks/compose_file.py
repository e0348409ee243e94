"""Checks on the compose file as written (no engine): placeholders, the healthcheck, start order, volumes, addresses, ports."""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath
from typing import Any, Mapping
from urllib.parse import urlsplit

from grader.compose_facts import volume_source
from grader.context import Context
from grader.facts.compose import compose_path, load_compose, read_service
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome
from grader.text import shorten, todo_lines

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]")


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
    lines = todo_lines(text)
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
