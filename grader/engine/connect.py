"""Connecting to the engine with one round trip, and what that answer already says: the grader's hot path.

One `/_ping` is the check that an engine answers; its headers give the API version and say
whether it is Podman. The `/version` answer that a grading's provenance records is asked on a
thread while the image builds and kept on the client. No dataclass here: this module is
imported before every build, and grader/engine/facts.py (what `doctor` needs) is not.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import docker
import docker.constants

from grader.errors import EngineUnavailable, Message

VERSION_ATTRIBUTE = "labkit_version"  # the kept /version answer, on the DockerClient
ASKING_ATTRIBUTE = "labkit_version_asking"  # the thread asking it, waited for rather than asked twice
DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"


def open_client(timeout: float = 120.0, environment: dict[str, str] | None = None, use_ssh_client: bool | None = None) -> docker.DockerClient:
    """A client for the engine DOCKER_HOST (or the active docker context, or ENVIRONMENT) names, checked by one `/_ping`.

    The ping's headers give the API version and say whether the engine is Podman, so no
    `/version` is waited for (Podman takes ~0.4 s to answer it: it runs its runtime binaries);
    that answer, which the grading's provenance records, is asked on a thread meanwhile.
    Raises what the SDK raises when nothing answers. Both the grading and the batch connect here.
    """
    if use_ssh_client is None:  # ssh:// through the ssh binary (the user's own config and agent; no paramiko)
        use_ssh_client = (environment or os.environ).get("DOCKER_HOST", "").startswith("ssh://")
    # An explicit API version makes the SDK send nothing while it sets up; the ping is the first request.
    client = docker.from_env(
        version=docker.constants.MINIMUM_DOCKER_API_VERSION, timeout=timeout, environment=environment, use_ssh_client=use_ssh_client
    )
    try:
        _remember_ping(client)
    except BaseException:
        client.close()
        raise
    learn_version_meanwhile(client)
    return client


def learn_version_meanwhile(client: Any) -> None:
    """Ask /version on a thread and keep the answer (VERSION_ATTRIBUTE), for the provenance a grading records.

    The version is only read when the report is made, so it is asked while the image builds.
    """
    import threading

    def ask() -> None:
        try:
            setattr(client, VERSION_ATTRIBUTE, client.api.version(api_version=False))
        except Exception:  # provenance asks again (version_answer) if this failed
            pass

    asking = threading.Thread(target=ask, name="engine-version", daemon=True)
    asking.start()
    setattr(client, ASKING_ATTRIBUTE, asking)


def version_answer(client: Any) -> dict[str, Any]:
    """The engine's /version: the one kept from the connection, else asked now (and kept)."""
    answer = getattr(client, VERSION_ATTRIBUTE, None)
    asking = getattr(client, ASKING_ATTRIBUTE, None)
    if not isinstance(answer, dict) and asking is not None:
        asking.join(30.0)  # the same request is under way: its answer, not a second request
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


def engine_address() -> str | Message:
    """Where the SDK looks for the engine (DOCKER_HOST, else the active docker context), for messages."""
    context, endpoint = configured_endpoint()
    if not context:
        return endpoint
    return Message("engine.context_address", endpoint=endpoint, context=context) if context != "default" else Message("engine.default_address")


def connect(timeout: float = 120.0) -> docker.DockerClient:
    """A client for the engine DOCKER_HOST names (or the default socket); EngineUnavailable when none answers.

    The engine may run anywhere (unix://, tcp://, ssh://, a VM): the grader reaches learner
    containers through the engine, never through a port on its own host.
    """
    try:
        return open_client(timeout)
    except Exception as error:  # the SDK raises several unrelated types for "nothing there"
        raise EngineUnavailable("engine.none", address=engine_address(), error=type(error).__name__) from None


def _remember_ping(client: docker.DockerClient) -> None:
    """Ping the engine; keep the API version it announces and whether it is Podman (it names its libpod API)."""
    api = client.api
    response = api._get(api._url("/_ping"))
    api._raise_for_status(response)
    announced = response.headers.get("Api-Version")
    api._version = announced if announced else api._retrieve_server_version()
    client._labkit_podman = bool(response.headers.get("Libpod-Api-Version"))


def is_podman(client: docker.DockerClient) -> bool:
    """True when the engine is Podman serving Docker's API (its /_ping names its libpod API version)."""
    known = getattr(client, "_labkit_podman", None)
    if known is None:
        try:
            _remember_ping(client)
        except Exception:
            client._labkit_podman = False
        known = client._labkit_podman
    return known
