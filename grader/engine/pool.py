"""Docker engines a batch spreads its work over, each named by a URL as DOCKER_HOST takes it."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import docker

from grader.engine.connect import open_client, version_answer
from grader.engine.limits import SESSION_LABEL
from grader.engine.sweep import sweep
from grader.errors import EngineUnavailable

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def default_url() -> str:
    """The engine the single-submission grader would use: DOCKER_HOST, else the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def client_for(url: str, timeout: float = 120.0) -> docker.DockerClient:
    """A checked client for the engine at URL (unix://, tcp:// with DOCKER_TLS_* honoured, ssh:// via the ssh binary).

    Its one /_ping is the check; the /version a grading records is asked meanwhile.
    """
    environment = {**os.environ, "DOCKER_HOST": url}
    try:
        return open_client(timeout=timeout, environment=environment, use_ssh_client=url.startswith("ssh://"))
    except Exception as error:  # the SDK raises several unrelated types for "nothing there"
        raise EngineUnavailable("engine.none_at", url=url, error=f"{type(error).__name__}: {str(error)[:160]}") from None


@dataclass
class Engine:
    """One engine with its own bound on concurrent gradings; retired for the batch once it stops answering."""

    url: str
    jobs: int
    name: str = ""
    version: str = ""
    dead: bool = False
    reason: str = ""
    ping: Callable[[], None] | None = None  # replaced in tests; by default pings the engine at url
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or self.url

    def connect(self) -> bool:
        """Ping the engine and read its version; False (with the reason) when it does not answer.

        Any engine a DOCKER_HOST can name will do, on this machine or another: gradings reach
        learner containers through the engine itself.
        """
        try:
            if self.ping is not None:
                self.ping()
            else:
                client = client_for(self.url, timeout=15)
                try:
                    self.version = str(version_answer(client).get("Version", ""))
                finally:
                    client.close()
        except Exception as error:
            self.retire(str(error))
            return False
        return True

    def alive(self) -> bool:
        """Does the engine still answer? A silent one is retired for the rest of the batch."""
        if self.dead:
            return False
        try:
            if self.ping is not None:
                self.ping()
            else:
                client_for(self.url, timeout=10).close()
            return True
        except Exception as error:
            self.retire(str(error))
            return False

    def retire(self, reason: str) -> None:
        """Take the engine out of the batch."""
        with self._lock:
            self.dead, self.reason = True, reason

    def sweep_prefix(self, prefix: str) -> None:
        """Remove what gradings whose session ids start with PREFIX left (after a hard kill); quiet when the engine is gone."""
        if not prefix or self.ping is not None:
            return
        try:
            client = client_for(self.url, timeout=30)
        except EngineUnavailable:
            return
        try:
            sweep_prefix(client, prefix)
        except Exception:
            pass
        finally:
            client.close()


def sweep_prefix(client: docker.DockerClient, prefix: str) -> int:
    """Remove the containers, images and networks whose session label starts with PREFIX; how many went."""
    api = client.api
    # The low-level lists: the high-level ones inspect each item, which races with its removal.
    listed = [
        *api.containers(all=True, filters={"label": SESSION_LABEL}),
        *api.images(all=True, filters={"label": SESSION_LABEL}),
        *api.networks(filters={"label": SESSION_LABEL}),
    ]
    sessions = {(item.get("Labels") or {}).get(SESSION_LABEL, "") for item in listed}
    return sum(sum(sweep(client, {SESSION_LABEL: session})) for session in sorted(sessions) if session.startswith(prefix))


def make_engines(urls: list[str], jobs: int) -> list[Engine]:
    """Engines for the URLs given (the default engine when none), each allowed `jobs` gradings at once."""
    urls = list(dict.fromkeys(urls)) or [default_url()]  # the same URL twice is one engine
    return [Engine(url, jobs, name=f"engine {n}" if len(urls) > 1 else "engine") for n, url in enumerate(urls, start=1)]


def describe(engines: list[Engine]) -> str:
    """`engine 1 (unix:///…, 20.10.24, 2 workers)`, …"""
    parts: list[Any] = []
    for engine in engines:
        state = f"gone: {engine.reason[:80]}" if engine.dead else f"{engine.version or 'version ?'}, {engine.jobs} worker(s)"
        parts.append(f"{engine.name} ({engine.url}, {state})")
    return "; ".join(parts)
