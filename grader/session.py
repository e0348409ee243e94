"""The only code that talks to the Docker engine: it labels everything it makes and removes it on every path."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import itertools
import json
import os
import re
import signal
import socket
import tarfile
import tempfile
import threading
import time
import uuid
import queue
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import docker
import docker.errors
import requests

from grader.context import BuildResult, RunState
from grader.dockerfile import Dockerfile
from grader.engine_connect import configured_endpoint, learn_version_meanwhile
from grader.i18n import t
from grader.probe import AGENT_SOURCE, Probe, ProbeLost

# Every engine resource the grader makes carries SESSION_LABEL, valued with the grading's id:
# sweeping by the key finds all of them, by key=value one grading's.
# Built images carry that one label only: the classic builder commits one step per label,
# and the parent kept as build cache would otherwise carry a grader label too.
SESSION_LABEL = "org.labkit.session"
EXERCISE_LABEL = "org.labkit.exercise"

LOG_TAIL_LINES = 25
MAX_CONTEXT_BYTES = 500_000_000  # a lab's build context is a few MB; refuse gigabytes before sending them
MAX_STEP_WRITE_BYTES = 2_000_000_000  # what one build step may write before the grader stops it
BUILD_MEMORY_BYTES = 2 * 1024 ** 3  # a RUN step's memory (installing scikit-learn needs a few hundred MB)
DISK_LOOK_SECONDS = 2.0
# A write that fails for a full disk ends the step: its message is among the step's last lines
# (dd and head print a few after it). Earlier lines are the learner's, whatever they say.
DISK_FULL_TAIL_LINES = 6
BUILD_WIND_DOWN_SECONDS = 5.0  # how long an abandoned build may take to end by itself before its stream is cut
MAX_RESPONSE_BYTES = 1_000_000  # of an HTTP body or an exec's output: a learner's app may send gigabytes
# The classic builder writes `Step 4/7 : RUN ...`, Podman's (buildah) `STEP 4/7: RUN ...`.
STEP_LINE = re.compile(r"^(?:Step|STEP) (\d+)/(\d+) ?: (.*)$")
TERMINAL_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the classic builder paints a step's stderr red


class EngineUnavailable(Exception):
    """No Docker engine answered, or it went away mid-grading: nothing can be graded."""


class BuilderUnavailable(EngineUnavailable):
    """The engine answers, but the builder the grading asks for is not on this machine."""


class EngineDiskFull(EngineUnavailable):
    """The engine ran out of disk: the machine's problem, not the learner's."""

    def __init__(self, detail: str):
        super().__init__(t("engine.disk_full", address=engine_address(), detail=detail.strip()[:160]))


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while engine resources are being removed, then deliver them.

    A stop signal landing in the middle of a cleanup would cut it short and leave an image
    behind (a killed batch sends its gradings SIGTERM just as their output pipe breaks: two
    stops at once). The first signal waits until the cleanup is over; a second one still
    interrupts, so a wedged engine can always be walked away from.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers belong to the main thread; other threads are never interrupted by them
        return
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        if held:
            raise KeyboardInterrupt
        held.append(signum)

    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, hold)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in held:  # also when the body failed: a stop that was asked for is never lost
            signal.raise_signal(number)  # now handled as it would have been: unwinding, or the default


def engine_address() -> str:
    """Where the SDK looks for the engine (DOCKER_HOST, else the active docker context), for messages."""
    context, endpoint = configured_endpoint()
    if not context:
        return endpoint
    return t("engine.context_address", endpoint=endpoint, context=context) if context != "default" else t("engine.default_address")


def connect(timeout: float = 120.0) -> docker.DockerClient:
    """A client for the engine DOCKER_HOST names (or the default socket), checked by asking its API version.

    The engine may run anywhere (unix://, tcp://, ssh://, a VM): the grader reaches learner
    containers through the engine, never through a port on its own host.
    """
    try:
        # One request is the check and gives the API version: /_ping's headers (version="auto"
        # would ask /version, which Podman takes ~0.4 s to answer: it runs its runtime binaries).
        # The /version answer the grading records is asked meanwhile, while the image builds.
        client = _connect_by_ping(timeout)
        learn_version_meanwhile(client)
        return client
    except Exception as error:  # the SDK raises several unrelated types for "nothing there"
        raise EngineUnavailable(t("engine.none", address=engine_address(), error=type(error).__name__)) from None


class Background:
    """Work on a daemon thread; whatever it raises (the engine lost, say) is raised again by join()."""

    def __init__(self, work: Callable[[], None], name: str):
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as error:  # handed to the joining thread, which decides
            self._error = error

    def join(self) -> None:
        """Wait for the work to end; raise what it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def wait(self, timeout: float) -> bool:
        """Wait up to TIMEOUT seconds without raising; True when the work has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


# The grader's probe: a helper container on the grading's network, from an image every exercise
# builds FROM and setup provides. Little is needed to relay HTTP requests, so little is given.
PROBE_IMAGE_VARIABLE = "LABKIT_PROBE_IMAGE"
DEFAULT_PROBE_IMAGE = "python:3.11-slim"
PROBE_MEMORY = "64m"
PROBE_PIDS = 16


def probe_image() -> str:
    """The image the probe container runs (LABKIT_PROBE_IMAGE, else the exercises' base image)."""
    return os.environ.get(PROBE_IMAGE_VARIABLE) or DEFAULT_PROBE_IMAGE


PODMAN_CACHE_REPOSITORY = "localhost/labkit-cache"  # Podman: tags that keep the build cache of graded images


def _connect_by_ping(timeout: float) -> docker.DockerClient:
    """A client for DOCKER_HOST's engine, its API version and kind read from one /_ping."""
    # ssh:// through the ssh binary (the user's own config and agent; no paramiko needed).
    use_ssh = os.environ.get("DOCKER_HOST", "").startswith("ssh://")
    client = docker.from_env(version=docker.constants.MINIMUM_DOCKER_API_VERSION, timeout=timeout, use_ssh_client=use_ssh)
    _remember_ping(client)
    return client


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


@dataclass
class RunLimits:
    """What a learner's container may use: untrusted code gets little."""

    memory: str = "512m"
    # CPU is shared by weight, not capped: a 1-CPU quota made the app start 0.1-0.25 s later
    # (measured: its start-up runs on both cores) for nothing on an idle machine. All containers
    # together weigh as much as one host process under contention, so the grader and the engine
    # keep their share; half the default weight makes a busy app yield to builds and other gradings.
    cpu_shares: int = 512
    cpus: float | None = None  # a hard quota on top, for whoever wants one
    pids: int = 128
    log_max_size: str = "1m"


class RunningContainer:
    """A learner container started by the session: HTTP through the grader's probe, exec, state and logs."""

    def __init__(self, container: Any, port: int, probe: Probe | None = None, network: str | None = None):
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
    probe: Probe | None = None
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
            from grader import buildkit

            return buildkit.build(self, folder, dockerfile, timeout, on_progress, buildargs)
        return self._classic_build(folder, dockerfile, timeout, on_progress, buildargs)

    def _classic_build(
        self,
        folder: Path,
        dockerfile: Dockerfile | None,
        timeout: float,
        on_progress: Callable[[str], None],
        buildargs: dict[str, str] | None,
    ) -> BuildResult:
        """The classic builder through the API: every RUN step a container the grader can cap and watch."""
        started = time.monotonic()
        events: "queue.Queue[tuple[str, Any]]" = queue.Queue()
        holder: dict[str, Any] = {"abandoned": threading.Event()}
        abandoned = holder["abandoned"]
        try:
            context = _context_tar(folder)
        except ContextTooLarge as error:
            return BuildResult(ok=False, duration=time.monotonic() - started, error=str(error))
        api = self.client.api
        appended = len(self.image_labels)  # steps the engine adds after the learner's
        if self.podman:
            context, appended = podman_build_context(context, self.image_labels, buildargs)
        params = {
            "rm": True,
            "forcerm": True,  # remove intermediate containers even when a step fails
            "pull": False,
            "nocache": False,
            "dockerfile": "Dockerfile",
            # A label unique to this session makes the final image this session's own,
            # so two gradings of the same files never share (and remove) one image.
            "labels": json.dumps(self.image_labels),
        }
        if self.podman:
            del params["labels"]  # Podman puts them on every step: see podman_build_context
        if buildargs:
            params["buildargs"] = json.dumps(buildargs)
        # What the classic builder can cap for RUN steps: memory (and swap). It has no pids
        # limit and no disk quota (the grader watches writes instead) and needs the network.
        params.update({"memory": BUILD_MEMORY_BYTES, "memswap": BUILD_MEMORY_BYTES})

        def stream() -> None:
            try:
                response = api._post(
                    api._url("/build"),
                    data=_upload(context, abandoned),
                    params=params,
                    headers={"Content-Type": "application/tar"},
                    stream=True,
                    timeout=None,
                )
                holder["response"] = response
                api._raise_for_status(response)
                for event in api._stream_helper(response, decode=True):
                    events.put(("event", event))
                events.put(("done", None))
            except Exception as error:  # handed to the reading side, which decides what it means
                events.put(("exception", error))

        worker = threading.Thread(target=stream, name=f"build-{self.id}", daemon=True)
        worker.start()
        lines: "collections.deque[str]" = collections.deque(maxlen=LOG_TAIL_LINES)  # a step may print gigabytes
        step, total, image_id, error_text = None, 0, None, ""
        cached = 0
        cached_at: list[int | None] = []  # the steps taken from the cache
        output = _LineAssembler()
        running_in = None  # the container of the RUN step in progress (the classic builder names it)
        next_disk_look = started + DISK_LOOK_SECONDS
        try:
            while True:
                remaining = timeout - (time.monotonic() - started)
                written = None
                if running_in and time.monotonic() >= next_disk_look:
                    # The classic builder cannot cap what a step writes: watch it and stop it instead.
                    next_disk_look = time.monotonic() + DISK_LOOK_SECONDS
                    written = _bytes_written(api, running_in)
                if remaining <= 0 or (written or 0) > MAX_STEP_WRITE_BYTES:
                    self._wind_down_build(worker, events, holder, running_in, output)
                    instruction = _step_instruction(dockerfile, step)
                    return BuildResult(
                        ok=False,
                        duration=time.monotonic() - started,
                        error=stopped_build_error("timeout" if remaining <= 0 else "disk", instruction, step, total, timeout),
                        step=step,
                        instruction=instruction,
                        log_tail=_tail(lines),
                        timed_out=remaining <= 0,
                        cached_steps=cached,
                        total_steps=total,
                    )
                try:
                    kind, payload = events.get(timeout=min(remaining, 0.5))
                except queue.Empty:
                    continue
                if kind == "exception":
                    if isinstance(payload, docker.errors.APIError) and payload.status_code and payload.status_code < 500:
                        error_text = str(payload.explanation or payload)
                        break
                    if isinstance(payload, docker.errors.APIError):
                        error_text = str(payload.explanation or payload)
                        break
                    raise EngineUnavailable(t("engine.lost", during="docker build", error=f"{type(payload).__name__}: {payload}"))
                if kind == "done":
                    break
                event = payload
                if "stream" in event:
                    for text in output.feed(event["stream"]):
                        text = text.rstrip()
                        if not text:
                            continue
                        lines.append(text)
                        match = STEP_LINE.match(text)
                        if match:
                            step, total = int(match.group(1)), int(match.group(2))
                            learner_steps = total - appended
                            if step <= learner_steps:
                                on_progress(f"step {step}/{learner_steps}: {match.group(3)[:70]}")
                            else:
                                on_progress("labelling the image")
                        elif "Using cache" in text:
                            cached += 1
                            cached_at.append(step)
                        else:
                            running_in = _step_container(text) or running_in
                image_id = _built_image_id(event) or image_id
                if "error" in event:
                    error_text = event.get("errorDetail", {}).get("message") or event["error"]
        except BaseException:  # Ctrl-C, SIGTERM, the engine lost: whatever the build made must be known
            self._wind_down_build(worker, events, holder, running_in, output)
            raise
        duration = time.monotonic() - started
        lines.extend(text for text in output.rest() if text.strip())
        if error_text:
            # The engine's own writes fail with ENOSPC in the error; a RUN step's writes fail inside
            # the step, which then exits non-zero and only its output says why. Either way the
            # machine is out of disk: not the learner's mistake, and not a grade.
            for text in (error_text, *itertools.islice(reversed(lines), DISK_FULL_TAIL_LINES)):
                if "no space left on device" in text.lower():
                    raise EngineDiskFull(text)
        # The engine appends one LABEL step per label; learners count only their own steps.
        learner_total = max(total - appended, 0) if total else 0
        if error_text or not image_id:
            instruction = _step_instruction(dockerfile, step)
            return BuildResult(
                ok=False,
                duration=duration,
                error=explain_build_error(error_text or "the build ended without an image", instruction, dockerfile, step, learner_total),
                raw_error=error_text,
                step=step,
                instruction=instruction if step else instruction_named_by_error(error_text, dockerfile),
                log_tail=_tail(lines),
                cached_steps=cached,
                total_steps=learner_total,
            )
        self.image_ids.append(image_id)
        cached_lines = (_step_instruction(dockerfile, number) for number in cached_at)
        if self.podman and not buildargs:  # a build with random arguments is no cache worth keeping
            self.keep_parents.add(image_id)
        return BuildResult(
            ok=True,
            image_id=image_id,
            duration=duration,
            log_tail=_tail(lines),
            cached_steps=min(cached, learner_total),
            total_steps=learner_total,
            cached_lines=frozenset(instruction.line for instruction in cached_lines if instruction),
        )

    def _wind_down_build(
        self, reader: threading.Thread, events: "queue.Queue[tuple[str, Any]]", holder: dict[str, Any], running_in: str | None,
        output: "_LineAssembler",
    ) -> None:
        """End a build the grader gives up on, so that any image it made is known and removed.

        Cutting the stream alone races the engine: the step it is doing still completes, and a
        step committed at one of the grader's LABEL steps is an image with the session label
        that nobody hears of (measured: every stop at the LABEL step left one). So the build is
        ended from the inside: each RUN step's container is removed as soon as it starts, the
        build fails there or finishes its metadata steps, and its last event (an error or an
        image id) is read. Only after BUILD_WIND_DOWN_SECONDS is the stream cut.
        """
        holder["abandoned"].set()  # a context still being sent stops: the engine gets no build to run
        deadline = time.monotonic() + BUILD_WIND_DOWN_SECONDS
        ended = False
        try:
            with signals_held():  # a first stop is why we are here; a second one cuts at once
                while time.monotonic() < deadline and (reader.is_alive() or not events.empty()):
                    if running_in:
                        stopping, running_in = running_in, None
                        _quietly(lambda: self.client.api.remove_container(stopping, force=True))
                    try:
                        kind, payload = events.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    if kind != "event":  # "done" or "exception": the build is over
                        ended = True
                        break
                    for text in output.feed(str(payload.get("stream", ""))):
                        running_in = _step_container(text) or running_in
                    if _built_image_id(payload):
                        self.image_ids.append(_built_image_id(payload))
                ended = ended or (not reader.is_alive() and events.empty())
        finally:
            if not ended:
                _abort_response(holder.get("response"))
                if running_in:
                    _quietly(lambda: self.client.api.remove_container(running_in, force=True))
                self.unsure = True  # the engine may still commit a step: sweep by label at cleanup

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
        join it alone, and the grader's probe joins it to reach them.
        """
        # Held: a stop between the thread's start and this assignment would leave a network that
        # the cleanup does not know to wait for (seen once when the benchmark stops a grading early).
        with signals_held():
            self._network_job = Background(lambda: self._make_network(open_to_outside), f"network-{self.id}")

    def _make_network(self, open_to_outside: bool) -> None:
        image = self.inspect_image(probe_image())
        if image is None:
            raise EngineUnavailable(t("probe.image_missing", image=probe_image(), variable=PROBE_IMAGE_VARIABLE))
        self._probe_image_id = image["Id"]
        name = f"labkit-{self.exercise_id}-{self.id}"
        try:
            created = self.client.api.create_network(
                name, driver="bridge", internal=not open_to_outside, labels=self.labels, check_duplicate=True
            )
        except docker.errors.APIError as error:  # e.g. the engine's address pools are used up: the machine's problem
            self.unsure = True  # the engine may have made it after all: sweep by label
            raise EngineUnavailable(t("probe.network_failed", error=str(error.explanation or error)[:200])) from None
        self.network_ids.append(created["Id"])
        self.network_name = name
        # The probe needs only the network: it starts now, while the image still builds, and is
        # up by the time the learner's container starts (start() waits for it only if not).
        self._probe_job = Background(self._start_probe, f"probe-{self.id}")

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
            raise EngineUnavailable(t("probe.failed", image=probe_image(), error=str(error.explanation or error)[:200])) from None
        self.probe = Probe(sock)

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
        """
        network = self.network()
        with self._creating():
            container = self._run(image_id, network, limits, environment, command, mounts, name, publish)
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
        """Poll for a real HTTP answer; give up at once when the container exits."""
        from grader.checks.runtime import is_loopback, parse_listeners

        started = time.monotonic()
        # Reading the sockets inside costs an exec: only when the app is slow to answer.
        next_socket_look = started + 3.0
        next_state_look = started
        loopback_since = None
        while time.monotonic() - started < timeout:
            try:
                running.request("GET", path, timeout=(0.5, 2.0))
                return RunState(running, ready=True, startup_seconds=time.monotonic() - started)
            except ProbeLost:
                raise EngineUnavailable(t("probe.lost", during="startup")) from None
            except requests.RequestException:
                pass
            if time.monotonic() >= next_state_look:  # an inspect per poll would slow the polling down
                next_state_look = time.monotonic() + 0.2
                state = running.state()
                if not state.get("Running") and state.get("Status") not in ("created", "restarting"):
                    return RunState(running, ready=False, problem=describe_exit(state, running.logs_tail()))
            if time.monotonic() >= next_socket_look:
                # An app bound to 127.0.0.1 never answers through -p: once it has listened there
                # for a couple of seconds, stop waiting instead of burning the whole timeout.
                next_socket_look = time.monotonic() + 1.0
                _, table = running.exec_output(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
                on_port = [a for a, p in parse_listeners(table) if p == running.port]
                if on_port and all(is_loopback(a) for a in on_port):
                    loopback_since = loopback_since or time.monotonic()
                    if time.monotonic() - loopback_since >= 2.0:
                        break
                else:
                    loopback_since = None
            time.sleep(0.03)
        return RunState(running, ready=False, problem=self._not_answering(running, time.monotonic() - started))

    @staticmethod
    def _not_answering(running: RunningContainer, waited: float) -> str:
        from grader.checks.runtime import diagnose_not_answering  # the diagnosis is a check's knowledge

        reason = diagnose_not_answering(running, running.port)
        logs = running.logs_tail(10)
        return t("not_answering.message", port=running.port, seconds=waited, reason=reason) + (
            t("container_exit.logs", logs=logs) if logs else ""
        )

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
            _quietly(lambda: container.remove(force=True))
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
        _quietly(lambda: self.client.images.remove(image_id, force=True, noprune=False))
        if image_id in self.image_ids:
            self.image_ids.remove(image_id)

    def save_image(self, image_id: str):
        """The image as `docker save` writes it: an iterator of tar bytes."""
        return self.client.images.get(image_id).save(named=False)

    # -- cleanup -----------------------------------------------------------------------------

    def _remove_container(self, container: Any) -> None:
        """Force-remove one container (Podman's own endpoint, whose forced removal waits no stop timeout)."""
        if self.podman:
            remove_container(self.client, container.id)
        else:
            container.remove(force=True)

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
                _quietly(lambda: self.probe.close())
            # The learner's containers and the probe go at once: each removal is the engine's wait.
            _all_at_once([lambda container=container: self._remove_container(container) for container in self.containers])
            if thorough:
                _quietly(lambda: sweep(self.client, {SESSION_LABEL: self.id}))
            self.containers.clear()
            for image_id in self.image_ids:
                if image_id in self.keep_parents:
                    _quietly(lambda: podman_keep_parent(self.client.api, image_id))
            # Then the network (in use until its containers are gone) and the images, at once.
            # noprune keeps an image's parent layers: they are the build cache of the next grading.
            _all_at_once(
                [lambda network_id=network_id: self.client.api.remove_network(network_id) for network_id in self.network_ids]
                + [lambda image_id=image_id: self.client.images.remove(image_id, force=True, noprune=True) for image_id in self.image_ids]
            )
            self.network_ids.clear()
            self.image_ids.clear()
            self.keep_parents.clear()


def sweep(client: docker.DockerClient, labels: dict[str, str] | None = None, prune_cache: bool = False) -> tuple[int, int, int]:
    """Remove every container, image and network carrying the grader's label (or these labels); how many of each went."""
    selector = [f"{k}={v}" for k, v in labels.items()] if labels else [SESSION_LABEL]
    removed_containers = removed_images = 0
    # The low-level list calls: the high-level ones inspect each item, which races with
    # another grader removing it (NotFound in the middle of a listing).
    for container in client.api.containers(all=True, filters={"label": selector}):
        try:
            remove_container(client, container["Id"])
            removed_containers += 1
        except docker.errors.APIError:  # already gone, or being removed by its own grader
            pass
    for image in client.api.images(all=True, filters={"label": selector}):
        try:
            client.api.remove_image(image["Id"], force=True, noprune=not prune_cache)
            removed_images += 1
        except docker.errors.APIError:
            pass
    if prune_cache and not labels and is_podman(client):
        for image in client.api.images(name=PODMAN_CACHE_REPOSITORY):
            for tag in image.get("RepoTags") or []:  # untagging the last tag prunes the chain it kept
                _quietly(lambda: client.api.remove_image(tag))
    removed_networks = 0
    for network in client.api.networks(filters={"label": selector}):  # once their containers are gone
        try:
            client.api.remove_network(network["Id"])
            removed_networks += 1
        except docker.errors.APIError:
            pass
    return removed_containers, removed_images, removed_networks


def remove_container(client: docker.DockerClient, container_id: str, volumes: bool = False) -> None:
    """Force-remove a container (with its anonymous volumes when asked) without waiting for its stop signal to be ignored.

    Docker's forced removal kills at once; Podman's (4.3, through Docker's API) first sends the
    stop signal and waits the 10 s a Python PID 1 ignores it for. Its own endpoint takes a timeout.
    """
    api = client.api
    if is_podman(client):
        params = {"force": True, "timeout": 0, "volumes": volumes}
        api._raise_for_status(api._delete(api._url("/libpod/containers/{0}", container_id), params=params))
        return
    api.remove_container(container_id, force=True, v=volumes)


# -- Podman: the facts its Docker API leaves out, and the work it leaves undone -------------------


def podman_complete_inspect(api: Any, attrs: dict) -> None:
    """Add to a Podman image inspect what its Docker API leaves out (4.3: the HEALTHCHECK).

    Podman's compat inspect fills only some Config fields; its own endpoint has the healthcheck
    (durations in ns, Docker's shape) and the manifest type: an OCI image has no HEALTHCHECK.
    """
    config = attrs.setdefault("Config", {}) or {}
    try:
        response = api._get(api._url("/libpod/images/{0}/json", attrs.get("Id", "")))
        native = api._result(response, json=True)
    except Exception:
        return
    healthcheck = native.get("Healthcheck") or native.get("HealthCheck")  # top level, whichever spelling
    if not config.get("Healthcheck") and healthcheck:
        config["Healthcheck"] = healthcheck
    attrs["ManifestType"] = native.get("ManifestType", "")


def podman_health_due(state: dict, container_attrs: dict) -> bool:
    """Is a health probe due? Podman runs them from systemd timers, so without systemd never by itself."""
    health = state.get("Health") or {}
    if not state.get("Running") or health.get("Status") not in ("starting", "healthy", "unhealthy"):
        return False
    interval = ((container_attrs.get("Config") or {}).get("Healthcheck") or {}).get("Interval") or 30e9
    probes = health.get("Log") or []
    if not probes:
        return True
    ended = _parse_time(probes[-1].get("End") or probes[-1].get("Start") or "")
    return ended is None or time.time() - ended >= interval / 1e9


def podman_run_healthcheck(api: Any, container_id: str) -> dict | None:
    """Run the container's HEALTHCHECK once (Podman's own endpoint); its fresh State, or None."""
    try:
        api._result(api._get(api._url("/libpod/containers/{0}/healthcheck", container_id)), json=True)
        return api.inspect_container(container_id).get("State")
    except Exception:  # gone, or no healthcheck: the caller reads the state it has
        return None


def podman_keep_parent(api: Any, image_id: str) -> None:
    """Tag the image's parent so that removing the image keeps the build cache.

    Podman ignores `noprune` and removes the parents no other image uses: the layer cache of
    the next grading. A tag per cache tip keeps it; `python -m grader clean --cache` drops them.
    """
    parent = (api.inspect_image(image_id) or {}).get("Parent") or ""
    parent = parent.removeprefix("sha256:")
    if parent:
        api.tag(parent, PODMAN_CACHE_REPOSITORY, parent[:12])


def _parse_time(text: str) -> float | None:
    """Seconds since the epoch of an engine timestamp (RFC 3339 with nanoseconds), None when unreadable."""
    import datetime

    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if not match:
        return None
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    stamp = datetime.datetime.fromisoformat(match.group(1) + zone)
    return stamp.timestamp() + float("0" + (match.group(2) or ".0")[:10])


def describe_exit(state: dict, logs: str) -> str:
    """How a container died, for a learner: exit code, OOM, the tail of its logs."""
    code = state.get("ExitCode")
    if state.get("OOMKilled"):
        how = t("container_exit.oom")
    elif code == 137:
        how = t("container_exit.killed")
    else:
        how = t("container_exit.code", code=code)
    text = t("container_exit.stopped", how=how)
    if state.get("Error"):
        text += t("container_exit.error", error=state["Error"])
    text += t("container_exit.logs", logs=logs) if logs else t("container_exit.silent")
    return text


class ContextTooLarge(Exception):
    """The build context is far larger than a lab needs: refused before sending it."""


def context_files(folder: Path) -> list[str]:
    """The files of the build context, as the docker CLI picks them (.dockerignore applied)."""
    from docker.utils.build import exclude_paths

    exclude: list[str] = []
    ignore_file = folder / ".dockerignore"
    if ignore_file.is_file():
        lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
        exclude = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return sorted(exclude_paths(str(folder), exclude, dockerfile="Dockerfile"))


def _context_tar(folder: Path) -> Any:
    """The build context tar, refused early (with its size) when it exceeds MAX_CONTEXT_BYTES."""
    from docker.utils.build import create_archive

    return create_archive(str(folder), checked_context_files(folder), gzip=False)


def checked_context_files(folder: Path) -> list[str]:
    """The build context's files; raises ContextTooLarge (with the largest file) past MAX_CONTEXT_BYTES."""
    files = context_files(folder)
    total = 0
    for relative in files:
        try:
            total += os.lstat(folder / relative).st_size  # a link counts as itself: it is sent as a link
        except OSError:
            continue
        if total > MAX_CONTEXT_BYTES:
            break
    if total > MAX_CONTEXT_BYTES:
        biggest = max(files, key=lambda f: _size_or_zero(folder / f), default="?")
        raise ContextTooLarge(
            t("session.context_too_large", folder=folder, limit=f"{MAX_CONTEXT_BYTES // 1_000_000:,}",
              biggest=biggest, biggest_mb=f"{_size_or_zero(folder / biggest) / 1e6:,.0f}")
        )
    return files


def podman_build_context(context: Any, labels: dict[str, str], buildargs: dict[str, str] | None) -> tuple[Any, int]:
    """Podman: the context tar with its Dockerfile made to build as on Docker; (new tar, steps added).

    Two things Podman 4.3's /build does differently, each repaired in the Dockerfile it builds:
    - the `labels` parameter lands on EVERY step's image, so the shared build cache would carry
      one grading's session label (swept with it, and counted as that grading's leftovers): the
      labels become one LABEL step at the end instead, which is what Docker's classic builder does;
    - its layer cache ignores build-argument values (`ARG V` then `ENV V=$V` keeps the first
      value built): an `ARG LABKIT_BUILD_ARGS=<hash of the values>` line after each declaration
      of a given argument makes the steps after it miss the cache, as Docker's do. Only a hash:
      a value (a secret) never enters the image's history.
    """
    rebuilt = tempfile.TemporaryFile()
    added = 0
    with tarfile.open(fileobj=context, mode="r:") as source, tarfile.open(fileobj=rebuilt, mode="w:") as target:
        for member in source:
            data = source.extractfile(member) if member.isfile() else None
            if member.name == "Dockerfile" and data is not None:
                text = data.read().decode("utf-8", "replace")
                text, added = _podman_dockerfile(text, labels, buildargs)
                body = text.encode("utf-8")
                member.size = len(body)
                target.addfile(member, io.BytesIO(body))
            else:
                target.addfile(member, data)
    context.close()
    rebuilt.seek(0)
    return rebuilt, added


def _podman_dockerfile(text: str, labels: dict[str, str], buildargs: dict[str, str] | None) -> tuple[str, int]:
    """The Dockerfile text with the build-argument markers and the final LABEL step; (text, steps added)."""
    from grader.dockerfile import parse_text

    lines = text.splitlines()
    added = 0
    if buildargs:
        digest = hashlib.sha256(json.dumps(buildargs, sort_keys=True).encode()).hexdigest()[:16]
        try:
            instructions = parse_text(text).instructions
        except Exception:  # an unparsable file fails the build on its own
            instructions = ()
        after = sorted(
            (ins.end_line for ins in instructions
             if ins.keyword == "ARG" and any(word.split("=", 1)[0] in buildargs for word in ins.value.split())),
            reverse=True,
        )
        for end_line in after:
            lines.insert(end_line, f"ARG LABKIT_BUILD_ARGS={digest}")
            added += 1
    label_words = " ".join(f"{json.dumps(key)}={json.dumps(value)}" for key, value in labels.items())
    lines += ["", f"LABEL {label_words}"]
    return "\n".join(lines) + "\n", added + 1


class BuildAbandoned(Exception):
    """The grader gave up on a build while its context was still being sent."""


def _upload(context: Any, abandoned: threading.Event, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The context tar in chunks, ending the upload once the build is abandoned.

    Until the context has arrived there is no response to cut, and the engine would go on to
    build whatever it got and label the image after the grader had cleaned up.
    """
    try:
        while True:
            if abandoned.is_set():
                raise BuildAbandoned()
            data = context.read(chunk)
            if not data:
                return
            yield data
    finally:
        context.close()


def _size_or_zero(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _step_container(text: str) -> str | None:
    """The container of the RUN step a build output line announces, if it announces one."""
    return text.split()[-1] if text.startswith(" ---> Running in ") else None


def _built_image_id(event: dict) -> str | None:
    """The image id a build stream event carries (the classic builder's `aux` at the end)."""
    aux = event.get("aux")
    return aux.get("ID") if isinstance(aux, dict) else None


class _LineAssembler:
    """Whole lines out of the build stream, whose events may split a line; bounded, colours removed."""

    def __init__(self, limit: int = 64 * 1024):
        self.pending = ""
        self.limit = limit  # a step may print gigabytes without a newline

    def feed(self, chunk: str) -> list[str]:
        """The lines this chunk completes."""
        *complete, pending = (self.pending + chunk).split("\n")
        self.pending = pending[-self.limit:]
        return [TERMINAL_COLOUR.sub("", text) for text in complete]

    def rest(self) -> list[str]:
        """What is left once the stream has ended."""
        rest, self.pending = self.pending, ""
        return [TERMINAL_COLOUR.sub("", rest)] if rest else []


def _abort_response(response: Any) -> None:
    """Cut the build's HTTP stream: the engine then cancels the build and kills its step's container."""
    if response is None:
        return
    try:
        sock = response.raw._fp.fp.raw._sock
        sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        pass
    _quietly(response.close)


def _step_instruction(dockerfile: Dockerfile | None, step: int | None):
    if dockerfile is None or not step:
        return None
    commands = dockerfile.commands()
    return commands[step - 1] if 0 < step <= len(commands) else None


def instruction_named_by_error(error_text: str, dockerfile: Dockerfile | None):
    """The instruction on the Dockerfile line an error names (`... line N ...`), if any."""
    match = re.search(r"line (\d+)", error_text or "")
    if not match or dockerfile is None:
        return None
    line = int(match.group(1))
    return next((ins for ins in dockerfile.instructions if ins.line <= line <= ins.end_line), None)


def stopped_build_error(reason: str, instruction: Any, step: int | None, total: int, timeout: float) -> str:
    """Why the grader stopped a build (`timeout`, or `disk`: a step wrote too much), for either builder."""
    if reason == "disk":
        where = (t("session.build_step_where", step=step, total=total, keyword=instruction.keyword,
                   value=instruction.value[:60], location=instruction.location)
                 if instruction else t("session.build_step_unknown"))
        return t("session.step_wrote_too_much", where=where, limit=f"{MAX_STEP_WRITE_BYTES // 1_000_000:,}")
    where = t("build_timeout.where", step=step, total=total, keyword=instruction.keyword,
              value=instruction.value[:60], location=instruction.location) if instruction else ""
    return t("build_timeout.message", seconds=timeout, where=where)


def explain_build_error(
    error_text: str, instruction: Any, dockerfile: Dockerfile | None, step: int | None, total: int
) -> str:
    """Turn the engine's build error into a sentence a beginner can act on."""
    where = t(
        "build_error.where", step=step, total=total, keyword=instruction.keyword,
        value=instruction.value[:70], location=instruction.location,
    ) if instruction else ""
    lowered = error_text.lower()
    if "requires buildkit" in lowered or "--mount" in lowered:
        return t("build_error.buildkit", where=where or t("build_error.a_run"))
    if "more than one source file" in lowered:  # the classic builder's rule; BuildKit lets `COPY a b .` through
        return t("build_error.copy_many_sources", where=where or t("build_error.a_copy"))
    parse_error = re.search(r"parse error (?:on )?line (\d+): (.*)", error_text, re.I)
    if parse_error:
        line, problem = parse_error.group(1), parse_error.group(2)
        text = dockerfile.line_text(int(line)) if dockerfile else ""
        earlier = dockerfile.lines[: int(line)] if dockerfile else []
        extra = ""
        # The classic builder reports a heredoc's body line, not the `<<EOF` line itself.
        if any("<<" in earlier_line for earlier_line in earlier):
            extra = t("build_error.heredoc")
        elif "todo" in text.lower():
            extra = t("build_error.todo_text")
        return t("build_error.parse", line=line, text=text[:70], problem=problem, extra=extra)
    unknown = re.search(r"unknown instruction: (\S+)", error_text, re.I)
    if unknown:
        return t("build_error.unknown_instruction", word=unknown.group(1))
    if any(marker in lowered for marker in ("pull access denied", "repository does not exist", "manifest unknown", "no such host", "not found: manifest", "failed to resolve")) or (
        instruction is not None and instruction.keyword == "FROM"
    ):
        named = re.search(r"(?:pull access denied for|repository|image) ([\w./:@-]+)", error_text)
        if instruction is not None and instruction.keyword == "FROM":
            image = instruction.value.split()[0]
        elif named:
            image = named.group(1).rstrip(",")
        else:
            image = t("build_error.the_from_image")
        return t("build_error.base_image", image=image, error=error_text.strip()[:120])
    missing_source = re.search(r'(?:failed to compute cache key: )?(?:failed to calculate checksum of ref \S+ )?"/?([^"]+)" not found', error_text)
    if missing_source:  # BuildKit's words for a COPY source that is not in the context
        return t("build_error.copy_missing", where=where or t("build_error.a_copy"), name=missing_source.group(1))
    copy_missing = re.search(r"(?:COPY|ADD) failed: (?:file not found|forbidden path|stat [^:]*).*?(?:stat )?([^\s:]+): (?:file does not exist|no such file)", error_text, re.I)
    if "copy failed" in lowered or "add failed" in lowered:
        name = copy_missing.group(1) if copy_missing else t("build_error.a_source")
        return t("build_error.copy_missing", where=where or t("build_error.a_copy"), name=name)
    # Docker: "returned a non-zero code: 3"; Podman (buildah): "while running runtime: exit status 3".
    code = re.search(r"(?:returned a non-zero code:|while running runtime: exit status) (\d+)", error_text)
    if code and code.group(1) == "137":
        return t("build_error.run_killed", where=where or t("build_error.a_run_step"), limit=BUILD_MEMORY_BYTES // 1024 ** 3)
    if code:
        return t("build_error.run_failed", where=where or t("build_error.a_run_step"), code=code.group(1))
    at = t("build_error.at", where=where) if where else ""
    return t("build_error.failed", at=at, error=error_text.strip()[:300])


def _tail(lines) -> str:
    return "\n".join(list(lines)[-LOG_TAIL_LINES:])


def _bytes_written(api: Any, container_id: str) -> int | None:
    """Bytes a build step's container has written so far (its read-write layer), None when unknown."""
    try:
        # The SDK's inspect_container has no `size` argument; the API's `?size=1` gives SizeRw.
        response = api._get(api._url("/containers/{0}/json", container_id), params={"size": 1})
        return api._result(response, json=True).get("SizeRw")
    except Exception:  # the step may have just finished and its container gone
        return None


def _all_at_once(actions: list[Callable[[], Any]]) -> None:
    """Run cleanup actions in parallel threads and wait for all; none raises."""
    if len(actions) <= 1:
        for action in actions:
            _quietly(action)
        return
    threads = [threading.Thread(target=_quietly, args=(action,), daemon=True) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


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


def _quietly(action: Callable[[], Any]) -> None:
    """Run a cleanup action; a resource already gone is fine, and cleanup must not raise."""
    try:
        action()
    except Exception:
        pass
