"""What checks read about Compose: the learner's compose file, and what one run of the stack produced.

Facts only: grader/engine/compose.py runs the stack and fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


class StackRefused(Exception):
    """The compose file reaches into the host; the grader does not run it.

    `reason` names the case (privileged, host_namespace, host_path, ...), `service` the service,
    `value` the offending setting, `path` the YAML keys that lead to it (for a line number).
    """

    def __init__(self, reason: str, service: str, value: str, path: tuple[Any, ...]):
        self.reason, self.service, self.value, self.path = reason, service, value, path
        super().__init__(f"{reason}: service {service}: {value}")


def compose_file(folder: Path) -> Path | None:
    """The folder's compose file, by Compose's own names (compose.yaml first)."""
    for name in COMPOSE_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def volume_source(entry: Any) -> tuple[str | None, str]:
    """(host source or named volume, its type) of one `volumes:` entry of a service."""
    if isinstance(entry, dict):
        return (str(entry["source"]) if entry.get("source") is not None else None), str(entry.get("type", "volume"))
    parts = str(entry).split(":")
    if len(parts) == 1:
        return None, "volume"  # an anonymous volume
    source = parts[0]
    is_path = source.startswith((".", "/", "~")) or "/" in source or "\\" in source
    return source, "bind" if is_path else "volume"


@dataclass
class ServiceState:
    """One container of the stack, as the engine saw it after the run."""

    service: str
    name: str
    status: str  # created, running, exited, dead, ...
    exit_code: int | None = None
    oom_killed: bool = False
    health: str = ""  # healthy, unhealthy, starting, or "" without a healthcheck
    last_probe: str = ""  # the output of the last health probe
    logs: str = ""


@dataclass
class StackRun:
    """Everything one stack run produced; the checks read it, the grader never re-runs it."""

    project: str
    compose: str = ""  # which Compose, with its version
    command: str = "docker compose"  # how a person types it
    problem: str = ""  # set when the stack was not started at all (Compose rejected the file)
    refused: StackRefused | None = None
    build_ok: bool | None = None
    build_log: str = ""
    build_seconds: float = 0.0
    build_timed_out: bool = False
    up_code: int | None = None
    up_log: str = ""
    timed_out: bool = False  # the stack did not finish within the time limit
    run_seconds: float = 0.0  # from `up` to the client's exit (or the time limit)
    services: dict[str, ServiceState] = field(default_factory=dict)
    client_service: str = "client"
    api_service: str = "api"
    output_path: str = ""
    output_mount: str = ""  # volume (named), anonymous, bind, none
    output_volume: str = ""
    output: str | None = None  # the file's text, read from the named volume
    output_in_container: bool = False  # the file exists, but only in the client's own filesystem
    created: int = 0  # containers the stack created
    leftovers: dict[str, list[str]] = field(default_factory=dict)  # what `down` did not remove
    down_log: str = ""
    duration: float = 0.0

    @property
    def client(self) -> ServiceState | None:
        """The client's container, if one was created."""
        return self.services.get(self.client_service)

    @property
    def api(self) -> ServiceState | None:
        """The api's container, if one was created."""
        return self.services.get(self.api_service)

    @property
    def client_succeeded(self) -> bool:
        """The client ran to the end and exited 0."""
        client = self.client
        return client is not None and client.status == "exited" and client.exit_code == 0
