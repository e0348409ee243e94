"""A private image registry for one grading (exercise-08), on a random 127.0.0.1 port, removed after.

Debian's `docker-registry` (distribution 2.8) runs as a plain process with a configuration and a
storage folder of its own in a temporary directory; where it is not installed (a laptop), the
`registry:2` image runs as a labelled container of the grading's session, published on 127.0.0.1
only. The engine pushes to and pulls from `127.0.0.1:PORT` over plain HTTP with no daemon setting
(dockerd treats loopback registries as insecure-by-default). The registry's own HTTP API is asked
what it holds: tags and manifests, which are the facts exercise-08's checks read.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REGISTRY_IMAGE = "registry:2"
READY_TIMEOUT = 15.0
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
])
CONFIG = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


class RegistryUnavailable(Exception):
    """No registry can be started here (neither docker-registry nor the registry:2 image)."""


@dataclass
class LocalRegistry:
    """A running registry: its address, and how to stop it and remove its storage."""

    address: str  # 127.0.0.1:PORT, as the engine and `docker push` name it
    kind: str  # "docker-registry" or "registry:2"
    process: subprocess.Popen | None = None
    folder: Path | None = None
    container: Any = None
    stopped: bool = field(default=False)

    def url(self, path: str) -> str:
        """The registry's HTTP API at PATH."""
        return f"http://{self.address}{path}"

    def tags(self, repository: str) -> list[str]:
        """The tags the registry holds for a repository ([] when it holds none)."""
        try:
            answer = requests.get(self.url(f"/v2/{repository}/tags/list"), timeout=5)
        except requests.RequestException:
            return []
        return list((answer.json() or {}).get("tags") or []) if answer.status_code == 200 else []

    def manifest(self, repository: str, reference: str) -> tuple[str | None, dict]:
        """(manifest digest, manifest) of a tag or digest, (None, {}) when the registry has none."""
        try:
            answer = requests.get(self.url(f"/v2/{repository}/manifests/{reference}"), headers={"Accept": MANIFEST_TYPES}, timeout=5)
        except requests.RequestException:
            return None, {}
        if answer.status_code != 200:
            return None, {}
        try:
            document = answer.json()
        except ValueError:
            document = {}
        return answer.headers.get("Docker-Content-Digest"), document if isinstance(document, dict) else {}

    def stop(self) -> None:
        """Stop the registry and remove its storage; never raises, never waits long."""
        if self.stopped:
            return
        self.stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # nothing to flush: its storage is thrown away
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.container is not None:
            try:
                self.container.remove(force=True, v=True)
            except Exception:
                pass
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "LocalRegistry":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def free_port() -> int:
    """A port free on 127.0.0.1 now (the registry binds it a moment later; a race is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: be killed when the grader dies, even by SIGKILL (Linux), so no registry outlives it."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _wait_ready(registry: LocalRegistry, timeout: float = READY_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.process is not None and registry.process.poll() is not None:
            return False
        try:
            if requests.get(registry.url("/v2/"), timeout=1).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return False


def start_process(program: str) -> LocalRegistry:
    """Debian's docker-registry on a random 127.0.0.1 port, its storage in a temporary folder."""
    for _attempt in range(3):
        folder = Path(tempfile.mkdtemp(prefix="labkit-registry-"))
        port = free_port()
        (folder / "config.yml").write_text(CONFIG.format(root=folder / "storage", port=port), encoding="utf-8")
        log = open(folder / "registry.log", "wb")
        try:
            process = subprocess.Popen(
                [program, "serve", str(folder / "config.yml")], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                # The death signal follows the thread that started it: only the main thread's child gets it.
                start_new_session=True,
                preexec_fn=_die_with_parent if os.name == "posix" and threading.current_thread() is threading.main_thread() else None,
            )
        finally:
            log.close()
        registry = LocalRegistry(f"127.0.0.1:{port}", "docker-registry", process=process, folder=folder)
        if _wait_ready(registry):
            return registry
        tail = (folder / "registry.log").read_text(errors="replace")[-300:]
        registry.stop()
        if "address already in use" not in tail:
            raise RegistryUnavailable(f"docker-registry did not start: {tail.strip() or 'no output'}")
    raise RegistryUnavailable("docker-registry found no free port on 127.0.0.1")


def start_container(session: Any) -> LocalRegistry:
    """The registry:2 image as a container of the session, published on 127.0.0.1 at a random port."""
    client = session.client
    image = session.inspect_image(REGISTRY_IMAGE)
    if image is None:
        raise RegistryUnavailable("neither docker-registry nor the registry:2 image is here")
    container = client.containers.run(
        image["Id"], detach=True, labels=session.labels, ports={"5000/tcp": ("127.0.0.1", None)},
        name=f"labkit-registry-{session.id}", mem_limit="256m", pids_limit=64,
    )
    session.containers.append(container)  # removed with the session on every path
    container.reload()
    port = container.attrs["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"]
    registry = LocalRegistry(f"127.0.0.1:{port}", "registry:2", container=container)
    if not _wait_ready(registry):
        registry.stop()
        raise RegistryUnavailable("the registry:2 container did not answer")
    return registry


def registry_program() -> str | None:
    """Debian's docker-registry on PATH, None when it is not installed."""
    return shutil.which("docker-registry")


def start_registry(session: Any) -> LocalRegistry:
    """This grading's registry: docker-registry when installed, else the registry:2 image; RegistryUnavailable when neither."""
    program = registry_program()
    if program:
        return start_process(program)
    return start_container(session)


def sweep_registries(folder: Path | None = None) -> int:
    """Remove what a killed grading left of its registries: orphaned processes, then storage folders; how many folders went.

    A registry dies with its grader (PR_SET_PDEATHSIG) when the main thread started it; one started
    elsewhere is an orphan once its grader is gone (its parent is then init). A storage folder that no
    live registry serves is a leftover.
    """
    base = folder or Path(tempfile.gettempdir())
    serving: set[str] = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        config = words[2].decode(errors="replace") if len(words) > 2 and words[1] == b"serve" else ""
        if not config.startswith(str(base / "labkit-registry-")):
            continue
        if parent == 1:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                pass
        else:
            serving.add(str(Path(config).parent))
    removed = 0
    for leftover in base.glob("labkit-registry-*"):
        if str(leftover) not in serving:
            shutil.rmtree(leftover, ignore_errors=True)
            removed += 1
    return removed
