"""One grading's engine resources: it builds, runs, probes, labels everything it makes and removes it on every path."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import docker
import docker.errors
import requests

from grader.compose_facts import StackRun
from grader.context import BuildResult, RunState
from grader.dockerfile import Dockerfile
from grader.engine import buildkit, classic
from grader.listeners import SOCKET_TABLES, is_loopback, parse_listeners
from grader.engine.connect import is_podman
from grader.engine.limits import (
    EXERCISE_LABEL, MAX_RESPONSE_BYTES, PROBE_IMAGE_VARIABLE, PROBE_VARIABLE, PROBE_MEMORY, PROBE_PIDS, SESSION_LABEL,
    RunLimits, probe_image,
)
from grader.engine.podman import podman_complete_inspect, podman_health_due, podman_keep_parent, podman_run_healthcheck
from grader.engine.probe import AGENT_SOURCE, LocalProbe, Probe, ProbeLost, bridge_is_here
from grader.engine.signals import Background, all_at_once, quietly, signals_held
from grader.engine.sweep import remove_container, sweep
from grader.errors import ContainerRefused, EngineUnavailable


class RunningContainer:
    """A learner container started by the session: HTTP through the grader's probe (in-process or a container), exec, state and logs."""

    def __init__(self, container: Any, port: int, probe: Probe | LocalProbe | None = None, network: str | None = None):
        self._container = container
        self.port = port
        self._probe = probe
        self._network = network
        self.address: str | None = None  # on the grading's network; the app is never published on a host

    @property
    def id(self) -> str:
        """The container id."""
        return self._container.id

    def read_address(self) -> str | None:
        """The container's address on the grading's network (its name, which the network resolves, until known)."""
        self._container.reload()
        networks = (self._container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        self.address = (networks.get(self._network) or {}).get("IPAddress") or self._container.name
        return self.address

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An HTTP request to the app, sent from the grader's probe on its network; its body read bounded.

        A learner's app may answer a huge body, or trickle one byte at a time: at most
        MAX_RESPONSE_BYTES are kept, and reading the body may not take longer than the timeout.
        Failures raise requests.Timeout or requests.ConnectionError, as a direct request would.
        """
        if self._probe is None:
            raise requests.ConnectionError("this container has no probe")
        return self._probe.request(method, self.address or "", self.port, path, MAX_RESPONSE_BYTES, **kwargs)

    def exec_output(self, command: list[str], timeout: float = 10.0) -> tuple[int, str]:
        """Run a command inside the container; (exit code, output), bounded in time and size."""
        api = self._container.client.api
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                exec_id = api.exec_create(self._container.id, command, stdout=True, stderr=True)["Id"]
                chunks, size = [], 0
                for chunk in api.exec_start(exec_id, stream=True):
                    if size < MAX_RESPONSE_BYTES:
                        chunks.append(chunk)
                        size += len(chunk)
                outcome["output"] = b"".join(chunks)[:MAX_RESPONSE_BYTES]
                outcome["code"] = api.exec_inspect(exec_id).get("ExitCode")
            except docker.errors.APIError as error:
                outcome["code"], outcome["output"] = 126, str(error.explanation or error).encode()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():  # the container is force-removed at cleanup, which ends the exec
            return 124, f"`{' '.join(command)}` did not finish within {timeout:.0f} s"
        code = outcome.get("code")
        return (code if code is not None else 0), outcome.get("output", b"").decode("utf-8", "replace")

    def state(self) -> dict:
        """The container's State, freshly read."""
        try:
            self._container.reload()
        except docker.errors.NotFound:
            return {"Running": False, "Status": "removed"}
        return self._container.attrs.get("State") or {}

    def logs_tail(self, lines: int = 20) -> str:
        """The last lines of what the app printed."""
        try:
            raw = self._container.logs(stdout=True, stderr=True, tail=lines)
        except docker.errors.APIError:
            return ""
        return raw.decode("utf-8", "replace").rstrip()


@dataclass
class Session:
    """One grading's engine resources; use as a context manager so they go away on every path."""

    client: docker.DockerClient
    exercise_id: str
    # LABKIT_SESSION_PREFIX lets a caller (a batch, a test) find its own sessions' resources.
    id: str = field(default_factory=lambda: os.environ.get("LABKIT_SESSION_PREFIX", "") + uuid.uuid4().hex[:12])
    containers: list[Any] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    unsure: bool = False  # something may exist that the session holds no handle to: sweep by label
    builder: str = "classic"  # "classic" (the engine's /build, through the SDK) or "buildkit" (the docker CLI)
    network_ids: list[str] = field(default_factory=list)
    network_name: str | None = None
    probe: Probe | LocalProbe | None = None  # how requests reach the app: a helper container, or this process
    _network_job: Background | None = None
    _probe_job: Background | None = None
    _probe_image_id: str | None = None
    keep_parents: set[str] = field(default_factory=set)  # Podman: images whose parent is kept as build cache

    @property
    def podman(self) -> bool:
        """The engine is Podman: builds, removals and health checks need its ways (see podman_*)."""
        return is_podman(self.client)

    @property
    def labels(self) -> dict[str, str]:
        """Labels put on everything this session makes."""
        return {SESSION_LABEL: self.id, EXERCISE_LABEL: self.exercise_id}

    @property
    def image_labels(self) -> dict[str, str]:
        """Labels for built images: as few as needed, since the classic builder adds a step per label."""
        return {SESSION_LABEL: self.id}

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        self.cleanup(thorough=exc_type is not None or self.unsure)

    # -- build -------------------------------------------------------------------------------

    def build(
        self,
        folder: Path,
        dockerfile: Dockerfile | None,
        timeout: float,
        on_progress: Callable[[str], None] = lambda text: None,
        buildargs: dict[str, str] | None = None,
    ) -> BuildResult:
        """Build FOLDER with the session's builder, streaming progress, aborting after `timeout` seconds."""
        if self.builder == "buildkit":
            return buildkit.build(self, folder, dockerfile, timeout, on_progress, buildargs)
        return classic.build(self, folder, dockerfile, timeout, on_progress, buildargs)

    def engine_alive(self) -> bool:
        """True when the engine still answers a ping."""
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def engine_data_root(self) -> str | None:
        """The engine's data folder (`docker info`'s DockerRootDir), for watching its disk when it is local."""
        try:
            return self.client.info().get("DockerRootDir")
        except Exception:  # a fact that helps, never one a build depends on
            return None

    def inspect_image(self, reference: str) -> dict | None:
        """`docker image inspect` of an image, or None when it is not on the engine."""
        try:
            attrs = self.client.images.get(reference).attrs
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError:
            return None
        if self.podman:
            podman_complete_inspect(self.client.api, attrs)
        return attrs

    # -- network and probe ---------------------------------------------------------------------

    def open_network(self, open_to_outside: bool = False) -> None:
        """Start making this grading's network and its probe, in the background, while the image builds.

        The network is internal (no route out) unless the exercise opens it; learner containers
        join it alone. The grader reaches them from its own process when the network's bridge is
        in its namespace (a local engine on Linux), else through a probe container on the network.
        """
        # Held: a stop between the thread's start and this assignment would leave a network that
        # the cleanup does not know to wait for (seen once when the benchmark stops a grading early).
        with signals_held():
            self._network_job = Background(lambda: self._make_network(open_to_outside), f"network-{self.id}")

    def _make_network(self, open_to_outside: bool) -> None:
        name = f"labkit-{self.exercise_id}-{self.id}"
        try:
            created = self.client.api.create_network(
                name, driver="bridge", internal=not open_to_outside, labels=self.labels, check_duplicate=True
            )
        except docker.errors.APIError as error:  # e.g. the engine's address pools are used up: the machine's problem
            self.unsure = True  # the engine may have made it after all: sweep by label
            raise EngineUnavailable("probe.network_failed", error=str(error.explanation or error)[:200]) from None
        self.network_ids.append(created["Id"])
        self.network_name = name
        if self._network_is_here(created["Id"]):
            self.probe = LocalProbe()
            return
        image = self.inspect_image(probe_image())
        if image is None:
            raise EngineUnavailable("probe.image_missing", image=probe_image(), variable=PROBE_IMAGE_VARIABLE)
        self._probe_image_id = image["Id"]
        # The probe needs only the network: it starts now, while the image still builds, and is
        # up by the time the learner's container starts (start() waits for it only if not).
        self._probe_job = Background(self._start_probe, f"probe-{self.id}")

    def _network_is_here(self, network_id: str) -> bool:
        """True when the grader may reach the network from its own process (LABKIT_PROBE=container forbids it)."""
        if os.environ.get(PROBE_VARIABLE, "auto") == "container":
            return False
        try:
            return bridge_is_here(self.client.api.inspect_network(network_id))
        except docker.errors.APIError:  # then the helper container, which works everywhere
            return False

    def network(self) -> str:
        """The grading's network, once made (made now when nobody asked for it earlier)."""
        if self._network_job is None:
            self.open_network()
        self._network_job.join()
        return self.network_name

    def _start_probe(self) -> None:
        """Create, attach to and start the probe container on the grading's network."""
        api = self.client.api
        host_config = api.create_host_config(
            network_mode=self.network_name,
            mem_limit=PROBE_MEMORY,
            memswap_limit=PROBE_MEMORY,
            pids_limit=PROBE_PIDS,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "1"}},
        )
        try:
            created = api.create_container(
                self._probe_image_id,  # by id: never a pull
                entrypoint=["python3", "-I", "-S", "-c", AGENT_SOURCE],
                command=[],
                stdin_open=True,
                tty=False,
                user="65534:65534",
                labels=self.labels,
                name=f"labkit-probe-{self.exercise_id}-{self.id}",
                host_config=host_config,
            )
            self.containers.append(self.client.containers.prepare_model({"Id": created["Id"]}))
            # Attached before the start, so no answer can be sent before anyone listens.
            sock = api.attach_socket(created["Id"], params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            api.start(created["Id"])
        except docker.errors.APIError as error:
            raise EngineUnavailable("probe.failed", image=probe_image(), error=str(error.explanation or error)[:200]) from None
        self.probe = Probe(sock)

    @property
    def probe_route(self) -> str | None:
        """How the grader's requests reach the app: "in-process" or "container" (None before any network)."""
        if isinstance(self.probe, LocalProbe):
            return "in-process"
        return "container" if self._probe_job is not None else None

    @property
    def probe_lost(self) -> bool:
        """True when the grader's probe stopped: what its requests said is no fact about the learner's app."""
        return self.probe is not None and self.probe.lost

    # -- run ---------------------------------------------------------------------------------

    def start(
        self,
        image_id: str,
        port: int,
        limits: RunLimits = RunLimits(),
        environment: dict[str, str] | None = None,
        command: list[str] | None = None,
        mounts: dict[str, str] | None = None,
        name: str | None = None,
        publish: list[int] | None = None,
    ) -> RunningContainer:
        """Start the image by id with limits on the grading's network (nothing published on any host).

        `name` replaces the grader's numbered name; `publish` asks the engine to publish these
        container ports on 127.0.0.1 at random host ports, as `docker run -p` would (the internal
        network makes that a record, not a way in: the probe is the only way in).

        `mounts` maps files of this machine to paths in the container: they are copied in before
        the start, since a bind mount would need the engine to run here. `command` replaces CMD
        (it reaches the ENTRYPOINT as arguments, as with `docker run IMAGE ARGS`).
        The grader's probe, started with the network, is waited for after the create.
        Raises ContainerRefused when the engine refuses the container, EngineUnavailable when it is gone.
        """
        network = self.network()
        try:
            with self._creating():
                container = self._run(image_id, network, limits, environment, command, mounts, name, publish)
        except docker.errors.APIError as error:  # the engine refused it: the learner's image is at fault
            if not self.engine_alive():
                raise EngineUnavailable("engine.lost", during="docker run", error=str(error)) from None
            raise ContainerRefused(str(error.explanation or error)) from None
        except (requests.ConnectionError, docker.errors.DockerException) as error:
            raise EngineUnavailable("engine.lost", during="docker run", error=type(error).__name__) from None
        if self._probe_job is not None:
            self._probe_job.join()
        running = RunningContainer(container, port, self.probe, network)
        running.read_address()
        return running

    @contextlib.contextmanager
    def _creating(self) -> Iterator[None]:
        """Around a container create: a stop signal waits for the engine's answer.

        The engine finishes a create it has begun even when the client stops listening, so an
        interrupted request could leave a container that appears after the cleanup's sweep
        (measured: a SIGTERM during `docker run` left the learner's container 1 time in 16).
        Until the handle is kept, the container may exist untracked: cleanup sweeps by label.
        """
        self.unsure = True
        with signals_held():
            yield
        self.unsure = False

    def _run(
        self, image_id: str, network: str, limits: RunLimits, environment: dict[str, str] | None,
        command: list[str] | None, mounts: dict[str, str] | None, name: str | None = None,
        publish: list[int] | None = None,
    ) -> Any:
        """`docker run -d` with the grader's limits and labels on NETWORK alone; the container is kept for cleanup."""
        container = self.client.containers.create(
            image_id,  # by id: a tag that is not found would make the SDK try to pull
            command=command,
            environment=environment or {},
            name=name or f"labkit-{self.exercise_id}-{self.id}-{len(self.containers)}",
            labels=self.labels,
            network=network,  # the only network: no default bridge
            # Asked for only when the learner's `docker run -p` asked (a replay), on 127.0.0.1 alone.
            **({"ports": {f"{port}/tcp": ("127.0.0.1", None) for port in publish}} if publish else {}),
            mem_limit=limits.memory,
            memswap_limit=limits.memory,
            cpu_shares=limits.cpu_shares,
            nano_cpus=int(limits.cpus * 1e9) if limits.cpus else None,
            pids_limit=limits.pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            log_config={"type": "json-file", "config": {"max-size": limits.log_max_size, "max-file": "1"}},
        )
        self.containers.append(container)
        if mounts:
            container.put_archive("/", _files_tar(mounts))
        container.start()
        return container

    def wait_ready(self, running: RunningContainer, path: str, timeout: float) -> RunState:
        """Poll for a real HTTP answer; give up at once when the container exits (facts of why in the RunState)."""
        try:
            return self._wait_ready(running, path, timeout)
        except (requests.ConnectionError, docker.errors.DockerException) as error:
            if self.engine_alive():
                raise  # the engine answers: a fault of the grader's own, reported as one
            raise EngineUnavailable("engine.lost", during="startup", error=type(error).__name__) from None

    def _wait_ready(self, running: RunningContainer, path: str, timeout: float) -> RunState:
        started = time.monotonic()
        # Reading the sockets inside costs an exec: only when the app is slow to answer.
        next_socket_look = started + 3.0
        next_state_look = started
        loopback_since = None
        look: Background | None = None  # a look at the sockets under way
        seen: dict[str, str] = {}
        while time.monotonic() - started < timeout:
            try:
                running.request("GET", path, timeout=(0.5, 2.0))
                return RunState(running, ready=True, startup_seconds=time.monotonic() - started)
            except ProbeLost:
                raise EngineUnavailable("probe.lost", during="startup") from None
            except requests.RequestException:
                pass
            if time.monotonic() >= next_state_look:  # an inspect per poll would slow the polling down
                next_state_look = time.monotonic() + 0.2
                state = running.state()
                if not state.get("Running") and state.get("Status") not in ("created", "restarting"):
                    return RunState(running, ready=False, exit_state=state, logs=running.logs_tail(), port=running.port,
                                    waited=time.monotonic() - started)
            if look is None and time.monotonic() >= next_socket_look:
                # An app bound to 127.0.0.1 never answers through -p: once it has listened there
                # for a couple of seconds, stop waiting instead of burning the whole timeout. The
                # exec runs beside the polling (0.1-0.4 s each on a busy engine), never in its way.
                look = Background(lambda: seen.__setitem__("table", running.exec_output(SOCKET_TABLES)[1]), "sockets")
            if look is not None and look.wait(0):
                look, next_socket_look = None, time.monotonic() + 1.0
                on_port = [a for a, p in parse_listeners(seen.pop("table", "")) if p == running.port]
                if on_port and all(is_loopback(a) for a in on_port):
                    loopback_since = loopback_since or time.monotonic()
                    if time.monotonic() - loopback_since >= 2.0:
                        break
                else:
                    loopback_since = None
            time.sleep(0.03)
        waited = time.monotonic() - started
        # What tells a learner why nothing answers: the sockets the app listens on, its last words.
        sockets = running.exec_output(SOCKET_TABLES)
        return RunState(running, ready=False, sockets=sockets, logs=running.logs_tail(10), port=running.port, waited=waited)

    def stop_seconds(self, running: RunningContainer, grace: float = 5.0) -> tuple[float, dict]:
        """Time a `docker stop` with a short grace period; (seconds, final State)."""
        started = time.monotonic()
        try:
            running._container.stop(timeout=int(grace))
        except docker.errors.APIError:
            pass
        return time.monotonic() - started, running.state()

    def wait_health(self, running: RunningContainer, timeout: float) -> tuple[str, str]:
        """Poll the HEALTHCHECK status until healthy, unhealthy or `timeout`; (status, last probe output)."""
        deadline = time.monotonic() + timeout
        status, output = "none", ""
        while True:
            state = running.state()
            if self.podman and podman_health_due(state, running._container.attrs):
                state = podman_run_healthcheck(self.client.api, running.id) or running.state()
            health = state.get("Health") or {}
            status = health.get("Status") or "none"
            probes = health.get("Log") or []
            output = (probes[-1].get("Output") or "").strip() if probes else ""
            if status in ("healthy", "unhealthy", "none") or not state.get("Running") or time.monotonic() >= deadline:
                return status, output
            time.sleep(0.2)

    def paths_in_image(self, image_id: str, paths: list[str]) -> dict[str, bool]:
        """Which of these absolute paths exist in the image (read from a created, never started, container)."""
        with self._creating():
            container = self.client.containers.create(image_id, labels=self.labels, command=["true"], entrypoint=[])
            self.containers.append(container)
        found = {}
        try:
            for path in paths:
                try:
                    stream, _ = container.get_archive(path)
                    for _chunk in stream:  # drain so the connection is reusable
                        break
                    found[path] = True
                except docker.errors.NotFound:
                    found[path] = False
        finally:
            quietly(lambda: container.remove(force=True))
        return found

    def history(self, image_id: str) -> list[dict]:
        """The image's build steps, oldest first (`docker history`)."""
        return list(reversed(self.client.images.get(image_id).history()))

    def discard_image(self, image_id: str) -> None:
        """Remove an image this session built now, with the parent layers only it uses.

        For images no later grading can reuse (a rebuild of an edited copy): keeping their
        parents as cache would only pile up layers. The engine never deletes a parent that
        another image still builds on, so shared dependency layers stay.
        """
        quietly(lambda: self.client.images.remove(image_id, force=True, noprune=False))
        if image_id in self.image_ids:
            self.image_ids.remove(image_id)

    def save_image(self, image_id: str):
        """The image as `docker save` writes it: an iterator of tar bytes."""
        return self.client.images.get(image_id).save(named=False)

    def run_stack(self, folder: Path, **options: Any) -> "StackRun":
        """Build and run FOLDER's Compose stack under this grading's labels; what it produced (see compose.run_stack)."""
        from grader.engine import compose  # only exercise-06 runs a stack: kept off the start-up path

        return compose.run_stack(self.client, folder, session_id=self.id, exercise_id=self.exercise_id, **options)

    def replay(self, folder: Path, plan: Any, with_registry: bool = False, **settings: Any) -> Any:
        """Replay a commands file's plan in this grading, with a registry of its own when asked; the facts (a Replay)."""
        from grader.engine import registry, replay  # only exercises 07 and 08 replay commands: off the start-up path

        if not with_registry:
            return replay.replay(self, folder, plan, **settings)
        try:
            local = registry.start_registry(self)
        except registry.RegistryUnavailable as error:  # the machine's problem, not the learner's: not gradable, never a 0
            raise EngineUnavailable("registry.unavailable", error=str(error)) from None
        with local:  # stopped, its storage removed, once the facts are read
            facts = replay.replay(self, folder, plan, registry=local, **settings)
        facts.registry_kind = local.kind
        return facts

    # -- cleanup -----------------------------------------------------------------------------

    def _remove_container(self, container: Any) -> None:
        """Force-remove one container (Podman's own endpoint, whose forced removal waits no stop timeout)."""
        if self.podman:
            remove_container(self.client, container.id)
        else:
            container.remove(force=True)

    def _remove_network(self, network_id: str, left: list[str]) -> None:
        """Remove a network; one the engine refuses (a container still on it) goes into LEFT, for a second try."""
        try:
            self.client.api.remove_network(network_id)
        except docker.errors.NotFound:
            pass
        except Exception:
            left.append(network_id)

    def cleanup(self, thorough: bool = True) -> None:
        """Remove this session's containers and images; never waits on `docker stop`.

        `thorough` also sweeps by label, for what was made but never handed back (an
        interrupted or failed create); on the normal path every resource is known already.
        """
        with signals_held():
            # A network or probe still being made is waited for, so that it is known and removed
            # (the network's job starts the probe's: read that one only once the first has ended).
            for job in (lambda: self._network_job, lambda: self._probe_job):
                if job() is not None and not job().wait(30.0):
                    thorough = True
            if self.probe is not None:
                quietly(lambda: self.probe.close())
            # The learner's containers and the probe go at once: each removal is the engine's wait.
            # On Docker they are first cut off the grading's network, so that the network goes with
            # them instead of after them (measured: 0.13 s against 0.20 s for a container and its network).
            with_containers = [] if self.podman else list(self.network_ids)
            networks_left = [network_id for network_id in self.network_ids if network_id not in with_containers]
            all_at_once([
                lambda container=container, network_id=network_id: self.client.api.disconnect_container_from_network(
                    container.id, network_id, force=True)
                for container in self.containers for network_id in with_containers
            ])
            all_at_once(
                [lambda container=container: self._remove_container(container) for container in self.containers]
                + [lambda network_id=network_id: self._remove_network(network_id, networks_left) for network_id in with_containers]
            )
            if thorough:
                quietly(lambda: sweep(self.client, {SESSION_LABEL: self.id}))
            self.containers.clear()
            for image_id in self.image_ids:
                if image_id in self.keep_parents:
                    quietly(lambda: podman_keep_parent(self.client.api, image_id))
            # Then a network still in use until its containers were gone, and the images, at once.
            # noprune keeps an image's parent layers: they are the build cache of the next grading.
            all_at_once(
                [lambda network_id=network_id: self.client.api.remove_network(network_id) for network_id in networks_left]
                + [lambda image_id=image_id: self.client.images.remove(image_id, force=True, noprune=True) for image_id in self.image_ids]
            )
            self.network_ids.clear()
            self.image_ids.clear()
            self.keep_parents.clear()


def _files_tar(files: dict[str, str]) -> bytes:
    """A tar of these files of this machine at their container paths, read-only.

    No folder entries: the engine makes missing parents itself, and an entry for a folder the
    image has would change its owner and mode.
    """
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for host, inside in files.items():
            data = Path(host).read_bytes()
            entry = tarfile.TarInfo(inside.lstrip("/"))
            entry.size, entry.mode = len(data), 0o444
            archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()
