"""Connecting to the engine with one round trip, and what that answer already says: the grader's hot path.

The `/version` request that tells the SDK the API version is also the check that an engine
answers; `open_client` asks it once and keeps the answer on the client, so the facts a grading
records (`provenance`) cost no request of their own. No dataclass here: this module is imported
before every build, and grader/engine/facts.py (what `doctor` needs) is not.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import docker
import docker.constants

VERSION_ATTRIBUTE = "labkit_version"  # the kept /version answer, on the DockerClient
DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"


def open_client(timeout: float = 120.0, environment: dict[str, str] | None = None, use_ssh_client: bool = False) -> docker.DockerClient:
    """A client for the engine DOCKER_HOST (or the active docker context) names, checked by one `/version` request.

    `version="auto"` would ask the same question and throw the answer away; here it is asked
    once and kept (VERSION_ATTRIBUTE) for `learn`. Raises what the SDK raises when nothing answers.
    """
    # An explicit API version makes the SDK send nothing while it sets up; the /version below
    # is then the only request, and its ApiVersion replaces the placeholder before any other.
    client = docker.from_env(
        version=docker.constants.DEFAULT_DOCKER_API_VERSION, timeout=timeout, environment=environment, use_ssh_client=use_ssh_client
    )
    try:
        answer = client.api.version(api_version=False)
        client.api._version = str(answer["ApiVersion"])
    except BaseException:
        client.close()
        raise
    setattr(client, VERSION_ATTRIBUTE, answer)
    return client


def learn_version_meanwhile(client: Any) -> None:
    """Ask /version on a thread and keep the answer (VERSION_ATTRIBUTE), for the provenance a grading records.

    The grader connects with a /_ping (Podman takes ~0.4 s to answer /version); the version is
    only read when the report is made, so it is asked while the image builds.
    """
    import threading

    def ask() -> None:
        try:
            setattr(client, VERSION_ATTRIBUTE, client.api.version(api_version=False))
        except Exception:  # provenance asks again (version_answer) if this failed
            pass

    threading.Thread(target=ask, name="engine-version", daemon=True).start()


def version_answer(client: Any) -> dict[str, Any]:
    """The engine's /version: the one kept from the connection, else asked now (and kept)."""
    answer = getattr(client, VERSION_ATTRIBUTE, None)
    if not isinstance(answer, dict):
        answer = client.version()
        try:
            setattr(client, VERSION_ATTRIBUTE, answer)
        except AttributeError:
            pass
    return answer


def product_of(version: dict[str, Any], info: dict[str, Any] | None = None) -> str:
    """Docker, Docker Desktop or Podman, from /version (and /info's OperatingSystem when there)."""
    components = [str(c.get("Name", "")) for c in version.get("Components") or [] if isinstance(c, dict)]
    if any(name.startswith("Podman") for name in components):
        return "Podman"
    platform = str((version.get("Platform") or {}).get("Name", ""))
    if "Docker Desktop" in platform or "Docker Desktop" in str((info or {}).get("OperatingSystem", "")):
        return "Docker Desktop"
    return "Docker"


def endpoint_of(client: Any) -> str:
    """Where the client reaches the engine, as DOCKER_HOST would say it."""
    api = getattr(client, "api", None)
    socket_path = getattr(getattr(api, "_custom_adapter", None), "socket_path", None)
    if isinstance(socket_path, str) and socket_path:
        return "unix://" + socket_path
    base = str(getattr(api, "base_url", ""))
    if base.startswith(("http://", "https://")):
        return "tcp://" + base.split("://", 1)[1]
    if base.startswith("http+docker://ssh"):
        return "ssh://" + str(getattr(getattr(api, "_custom_adapter", None), "ssh_host", "") or "?")
    if "npipe" in base:
        return "npipe://" + str(getattr(getattr(api, "_custom_adapter", None), "npipe_path", "") or "")
    return base


def is_local(endpoint: str) -> bool:
    """A unix socket, a Windows named pipe, or tcp to this machine's loopback."""
    parsed = urllib.parse.urlparse(endpoint)
    if parsed.scheme in ("unix", "npipe", "fd", ""):
        return True
    return parsed.scheme == "tcp" and parsed.hostname in ("127.0.0.1", "localhost", "::1")


def configured_endpoint() -> tuple[str, str]:
    """(the docker context the SDK follows, its endpoint), read without connecting; context "" when DOCKER_HOST wins."""
    if os.environ.get("DOCKER_HOST"):
        return "", os.environ["DOCKER_HOST"]
    try:
        from docker.context import ContextAPI

        context = ContextAPI.get_current_context()
        return str(context.name), str(context.Host or DEFAULT_ENDPOINT)
    except Exception:  # a broken ~/.docker/config.json: the SDK falls back to the default socket
        return "default", DEFAULT_ENDPOINT


def provenance(client: Any, builder: str = "", compose: str = "") -> dict[str, str]:
    """What a grading records of where it ran: product, versions, OS/arch (and the builder and Compose it used)."""
    version = version_answer(client)
    recorded = {
        "engine": product_of(version),
        "engine_version": str(version.get("Version", "")),
        "api": str(version.get("ApiVersion", "")),
        "os_arch": f"{version.get('Os', '')}/{version.get('Arch', '')}",
    }
    if builder:
        recorded["builder"] = builder
    if compose:
        recorded["compose"] = compose
    return recorded


def executables_on_path(name: str) -> list[str]:
    """Every executable NAME on PATH, in PATH's order, each file once (links followed; `.exe` and friends on Windows)."""
    suffixes = [""] + ([ext.lower() for ext in os.environ.get("PATHEXT", "").split(os.pathsep) if ext] if os.name == "nt" else [])
    found: list[str] = []
    seen: set[str] = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        for suffix in suffixes:
            path = os.path.join(folder or ".", name + suffix)
            real = os.path.realpath(path)
            if real not in seen and os.path.isfile(path) and os.access(path, os.X_OK):
                seen.add(real)
                found.append(path)
    return found
