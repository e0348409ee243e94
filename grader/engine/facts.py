"""What engine the grader talks to, and the machine around it, for `python -m grader doctor`.

From the `/version` answer the connection kept (grader/engine/connect.py), `learn` reads at no
further cost the product (Docker, Docker Desktop, Podman), its versions, API, OS/arch and where
the engine is. `probe` adds what costs more and only `python -m grader
doctor` needs: `/info` (image store, disk), the builders the machine has, the Composes, the docker
CLIs, the active `docker context`. CLI answers are cached per process. Facts only: grader/doctor.py
says what they mean to a learner.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from grader.engine.connect import configured_endpoint, endpoint_of, executables_on_path, is_local, product_of, version_answer

CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"
CLI_SECONDS = 20.0
CONTAINERS_CONF = (  # where Podman reads image_default_format, later ones winning
    "/usr/share/containers/containers.conf", "/etc/containers/containers.conf",
    os.path.expanduser("~/.config/containers/containers.conf"),
)


@dataclass(frozen=True)
class ComposeFact:
    """One Compose this machine has: how it is typed, `v1` or `v2`, its version number."""

    command: str
    flavour: str
    version: str


@dataclass(frozen=True)
class EngineFacts:
    """The engine and the machine around it; the fields after `local` are filled by `probe` only."""

    product: str  # Docker, Docker Desktop, Podman
    version: str  # the server's version
    api_version: str
    os_arch: str  # linux/amd64
    endpoint: str  # where the SDK reaches it: unix:///var/run/docker.sock, tcp://..., ssh://...
    local: bool  # a unix socket (or npipe) on this machine: its published ports are this machine's
    context: str = ""  # the active `docker context` the SDK followed ("" when DOCKER_HOST decided)
    probed: bool = False
    image_store: str = ""  # "containerd snapshotter", or the graphdriver (overlay2, overlay, ...)
    root_dir: str = ""  # the engine's data folder (DockerRootDir)
    disk_free_bytes: int | None = None  # free space under root_dir, when it is on this machine
    builders: tuple[str, ...] = ()  # "classic" or "buildah" through the API; "buildx", "cli-buildkit" through a CLI
    buildkit_cli: str = ""  # the docker CLI that builds with BuildKit ("" when none)
    clis: tuple[tuple[str, str], ...] = ()  # (path, client version) of every docker CLI on PATH
    composes: tuple[ComposeFact, ...] = ()
    compose_used: ComposeFact | None = None  # what the grader picks (LABKIT_COMPOSE), None when none answers
    compose_problem: str = ""  # why none was picked
    image_format: str = ""  # Podman: docker or oci as its service builds ("" when not known)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_podman(self) -> bool:
        """Podman's Docker-compatible API service."""
        return self.product == "Podman"


def learn(client: Any) -> EngineFacts:
    """The engine's facts from the /version answer the connection kept: no round trip of its own."""
    version = version_answer(client)
    endpoint = endpoint_of(client)
    return EngineFacts(
        product=product_of(version),
        version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
        os_arch=f"{version.get('Os', '')}/{version.get('Arch', '')}",
        endpoint=endpoint,
        local=is_local(endpoint),
        context=configured_endpoint()[0],
    )


def image_store(info: dict[str, Any]) -> str:
    """`containerd snapshotter` when the engine keeps images in containerd, else its graphdriver."""
    for pair in info.get("DriverStatus") or []:
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] == "driver-type" and CONTAINERD_SNAPSHOTTER in str(pair[1]):
            return "containerd snapshotter"
    return str(info.get("Driver", ""))


def disk_free(root_dir: str, local: bool) -> int | None:
    """Free bytes where the engine keeps its data, when that folder is on this machine."""
    if not local or not root_dir or not os.path.isdir(root_dir):
        return None
    try:
        return shutil.disk_usage(root_dir).free
    except OSError:
        return None


@lru_cache(maxsize=None)
def _run(command: tuple[str, ...], environment: tuple[tuple[str, str], ...] = ()) -> tuple[int, str]:
    """(exit code, stdout + stderr) of a short CLI probe; cached per process. -1 when it cannot start."""
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=CLI_SECONDS, stdin=subprocess.DEVNULL,
            env={**os.environ, **dict(environment)},
        )
    except (OSError, subprocess.SubprocessError):
        return -1, ""
    return done.returncode, (done.stdout or "") + (done.stderr or "")


def docker_clis() -> tuple[tuple[str, str], ...]:
    """Every docker CLI on PATH (first one first), with its client version."""
    found: list[tuple[str, str]] = []
    for path in executables_on_path("docker"):
        # `version` also asks the engine; --format keeps the client's line even when none answers.
        _, out = _run((path, "version", "--format", "{{.Client.Version}}"))
        found.append((path, out.strip().splitlines()[0] if out.strip() else ""))
    return tuple(found)


def builders(product: str) -> tuple[tuple[str, ...], str]:
    """(the builders this machine has, the CLI that builds with BuildKit or ""): what a grading would use."""
    found = ["buildah" if product == "Podman" else "classic"]  # the API's /build
    if product == "Podman":
        return tuple(found), ""  # Podman's API speaks no BuildKit; its /build is buildah
    from grader.engine.buildkit import find_buildkit_cli  # the very detection the grading's builder choice makes

    cli = find_buildkit_cli()
    if cli is None:
        return tuple(found), ""
    return (*found, "buildx" if "buildx" in cli.command else "cli-buildkit"), cli.command[0]


def composes() -> tuple[tuple[ComposeFact, ...], ComposeFact | None, str]:
    """(every Compose that answers, the one the grader uses as LABKIT_COMPOSE says, why none when none)."""
    from grader.engine import compose  # Compose's own module knows the candidates and how to ask them

    answering = []
    for command in [compose.PLUGIN, *compose.standalone_commands()]:
        binary = compose.answering(command)
        if binary is not None:
            answering.append(ComposeFact(binary.name, binary.flavour, binary.number))
    try:
        chosen = compose.find_compose()
    except compose.ComposeUnavailable as error:
        return tuple(answering), None, str(error)
    return tuple(answering), ComposeFact(chosen.name, chosen.flavour, chosen.number), ""


def _podman_service_environment(endpoint: str) -> dict[bytes, bytes] | None:
    """The environment of the local `podman system service` that serves ENDPOINT (None when not found or not readable)."""
    socket_path = urllib.parse.urlparse(endpoint).path.encode()
    for pid in (p for p in os.listdir("/proc") if p.isdigit()) if os.path.isdir("/proc") else ():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                words = [word for word in handle.read().split(b"\0") if word]
            if not (words and os.path.basename(words[0]) == b"podman" and b"service" in words):
                continue
            addresses = [word for word in words if b"://" in word]
            # Its own address on the command line, or none at all (systemd's socket activation, the default socket).
            if addresses and not any(word.endswith(socket_path) for word in addresses):
                continue
            with open(f"/proc/{pid}/environ", "rb") as handle:
                return dict(item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item)
        except OSError:
            continue
    return None


def podman_image_format(endpoint: str) -> str:
    """`docker` or `oci`: what the local Podman service at ENDPOINT builds, from its BUILDAH_FORMAT or containers.conf.

    Podman 4 builds OCI images unless told otherwise, and OCI images have no HEALTHCHECK.
    """
    environment = _podman_service_environment(endpoint) or {}
    if environment.get(b"BUILDAH_FORMAT"):
        return environment[b"BUILDAH_FORMAT"].decode().lower()
    chosen = ""
    for path in CONTAINERS_CONF:  # later files override earlier ones, as Podman reads them
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            continue
        found = re.search(r'^\s*image_default_format\s*=\s*"(\w+)"', text, re.MULTILINE)
        if found:
            chosen = found.group(1).lower()
    return chosen or "oci"


def probe(client: Any, engine: EngineFacts | None = None) -> EngineFacts:
    """Everything `learn` knows, plus /info, builders, Composes, docker CLIs (one /info request, CLI probes)."""
    engine = engine or learn(client)
    info = client.info()
    clis = docker_clis()
    product = product_of(version_answer(client), info)
    found_builders, buildkit_cli = builders(product)
    every, used, problem = composes()
    root = str(info.get("DockerRootDir", ""))
    return replace(
        engine,
        product=product,
        probed=True,
        image_store=image_store(info),
        root_dir=root,
        disk_free_bytes=disk_free(root, engine.local),
        builders=found_builders,
        buildkit_cli=buildkit_cli,
        clis=clis,
        composes=every,
        compose_used=used,
        compose_problem=problem,
        image_format=(podman_image_format(engine.endpoint) if engine.local else "") if product == "Podman" else "",
        warnings=tuple(str(w) for w in info.get("Warnings") or []),
    )


def image_labels(client: Any, name: str) -> dict[str, str] | None:
    """The labels of image NAME on the engine ({} when it has none); None when the engine does not have it."""
    import docker.errors

    try:
        attrs = client.api.inspect_image(name)
    except docker.errors.NotFound:
        return None
    return {str(k): str(v) for k, v in ((attrs.get("Config") or {}).get("Labels") or {}).items()}
