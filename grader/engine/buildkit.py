"""Builds with BuildKit through the docker CLI, giving the same build facts as the classic builder.

The Docker SDK cannot drive BuildKit (docker/docker-py#2230, open since 2019): its /build call
is the classic builder's. Learners' own `docker build` has used BuildKit since Engine 23, so the
grader runs the CLI the way they do (`docker buildx build --load`, or a CLI with BuildKit built
in, such as Debian's 20.10, with DOCKER_BUILDKIT=1) and reads its plain progress output.
"""

from __future__ import annotations

import collections
import functools
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from grader.context import BuildResult
from grader.dockerfile import Dockerfile, Instruction, image_of
from grader.engine import limits  # read at call time: tests lower the limits
from grader.engine.build_context import ContextTooLarge, checked_context_files, instruction_named_by_error, stop_facts
from grader.engine.connect import engine_address, is_podman
from grader.engine.limits import BUILD_MEMORY_BYTES, DISK_LOOK_SECONDS, LOG_TAIL_LINES
from grader.engine.signals import signals_held
from grader.errors import BuilderUnavailable, EngineDiskFull

if TYPE_CHECKING:  # the session imports this module: only for type hints
    from grader.engine.session import Session

# "#7 [builder 3/4] COPY a b ./", "#5 [2/5] WORKDIR /app": a step of the learner's Dockerfile.
STEP_VERTEX = re.compile(r"^#(\d+) \[(?:(\S+) )?(\d+)/(\d+)\] (.*)$")
VERTEX_STATUS = re.compile(r"^#(\d+) (CACHED|DONE|CANCELED|ERROR)\b:? ?(.*)$")
VERTEX_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ (.*)$")  # "#8 0.226 hi": a step's own output, timed
VERTEX_NOISE = re.compile(r"^#\d+ (sha256:[0-9a-f]+|\S+ [\d.]+[kMG]?B / [\d.]+[kMG]?B.*)$")
CANCEL_GRACE_SECONDS = 5.0  # the CLI cancels a build on SIGINT in about 1.5 s (measured)
PLUGIN_FOLDERS = (  # where the docker CLI looks for plugins such as buildx, after $DOCKER_CONFIG
    "/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
)
# Instructions BuildKit accepts and the classic builder refuses: with `auto`, they call for BuildKit.
BUILDKIT_ONLY = re.compile(r"(?im)^\s*(RUN\s+--(mount|network|security)\b|\S+.*<<-?\s*['\"]?[A-Za-z_]+['\"]?\s*$|#\s*syntax\s*=)")


@dataclass(frozen=True)
class BuildkitCli:
    """A docker CLI that builds with BuildKit, and how to call it."""

    command: tuple[str, ...]  # up to and including the build subcommand
    environment: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """The command as a person would type it."""
        prefix = " ".join(f"{key}={value}" for key, value in self.environment)
        return f"{prefix} {' '.join(self.command)}".strip()


def _plugin_dirs() -> list[Path]:
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    return [config / "cli-plugins", *map(Path, PLUGIN_FOLDERS)]


def _client_major(cli: str) -> int | None:
    """The major version of a docker CLI (`docker --version` asks no engine)."""
    try:
        answer = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"version (\d+)\.", answer.stdout)
    return int(match.group(1)) if match else None


def _docker_clis() -> list[str]:
    """The docker CLIs on this machine, the one first on PATH first."""
    found = [shutil.which("docker"), "/usr/local/bin/docker", "/usr/bin/docker"]
    seen: list[str] = []
    for path in found:
        if path and os.access(path, os.X_OK) and os.path.realpath(path) not in map(os.path.realpath, seen):
            seen.append(path)
    return seen


def buildx_plugin() -> Path | None:
    """The buildx CLI plugin, found without starting a process (auto asks this at every grading)."""
    for folder in _plugin_dirs():
        candidate = folder / "docker-buildx"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.lru_cache(maxsize=1)
def find_buildkit_cli() -> BuildkitCli | None:
    """How this machine builds with BuildKit: buildx where it exists, else a CLI with BuildKit built in."""
    clis = _docker_clis()
    if clis and buildx_plugin() is not None:
        return BuildkitCli((clis[0], "buildx", "build", "--load"))
    for cli in clis:
        major = _client_major(cli)
        # CLIs before 23 carry BuildKit inside; later ones hand `DOCKER_BUILDKIT=1` to buildx.
        if major is not None and major < 23:
            return BuildkitCli((cli, "build"), (("DOCKER_BUILDKIT", "1"),))
    return None


def needs_buildkit(dockerfile: Dockerfile | None) -> bool:
    """True when the Dockerfile uses what only BuildKit understands (RUN --mount, heredocs, `# syntax=`)."""
    if dockerfile is None:
        return False
    if BUILDKIT_ONLY.search(dockerfile.text):
        return True
    # Several sources into one folder written without a trailing slash (`COPY a b .`) build only with BuildKit.
    for instruction in dockerfile.find("COPY") + dockerfile.find("ADD"):
        words = [word for word in instruction.value.split() if not word.startswith("--")]
        if instruction.json_args() is None and len(words) > 2 and not words[-1].endswith("/"):
            return True
    return False


def choose_builder(requested: str, dockerfile: Dockerfile | None, client: Any) -> str:
    """The builder a grading uses, `classic` or `buildkit`, from `auto|buildkit|classic`.

    auto builds as the learner's own `docker build` would: BuildKit where buildx is installed
    (Docker Desktop, Engine 23+), else the classic builder, unless the Dockerfile needs BuildKit
    and this machine has it. Podman's Docker API has no BuildKit: auto means classic there.
    """
    if requested == "classic":
        return "classic"
    if requested == "buildkit":
        if find_buildkit_cli() is None:
            raise BuilderUnavailable("builder.no_buildkit")
        return "buildkit"
    wanted = buildx_plugin() is not None or (needs_buildkit(dockerfile) and find_buildkit_cli() is not None)
    # Asked only when BuildKit is in view, so a grading on the classic builder costs no round trip.
    if not wanted:
        return "classic"
    return "classic" if is_podman(client) else "buildkit"


@dataclass
class Vertex:
    """One step of the build as BuildKit reports it."""

    stage: str | None
    text: str
    instruction: Instruction | None
    status: str = ""
    error: str = ""


@dataclass
class ProgressReader:
    """Reads `--progress=plain` lines into build facts: steps, cache hits, the failing step, the log tail."""

    dockerfile: Dockerfile | None
    tail: "collections.deque[str]" = field(default_factory=lambda: collections.deque(maxlen=LOG_TAIL_LINES))
    vertices: dict[str, Vertex] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # what the CLI says after the steps (the failure)

    def feed(self, line: str) -> Vertex | None:
        """Take one output line; returns the step vertex it announces, if it announces one."""
        line = line.rstrip()
        if not line or VERTEX_NOISE.match(line):
            return None
        step = STEP_VERTEX.match(line)
        if step:
            number, stage, text = step.group(1), step.group(2), step.group(5)
            vertex = Vertex(stage, text, match_instruction(self.dockerfile, stage, text))
            self.vertices.setdefault(number, vertex)
            self.tail.append(line)
            return self.vertices[number]
        status = VERTEX_STATUS.match(line)
        if status:
            vertex = self.vertices.get(status.group(1))
            if vertex is not None:
                vertex.status = status.group(2)
                vertex.error = status.group(3)
            if status.group(2) == "ERROR":
                self.tail.append(line)
            return None
        output = VERTEX_OUTPUT.match(line)
        if output:
            self.tail.append(output.group(2))
            return None
        if not line.startswith("#"):
            self.tail.append(line)
            if line.strip("- ") and not line.startswith(" > "):
                self.errors.append(line)
        return None

    def steps(self) -> list[Vertex]:
        """The learner's steps, in the order BuildKit announced them."""
        return list(self.vertices.values())

    def failed(self) -> Vertex | None:
        """The step that failed, if one did."""
        return next((vertex for vertex in self.vertices.values() if vertex.status == "ERROR"), None)

    def cached(self) -> list[Vertex]:
        """Steps taken from the cache (FROM is never counted, as with the classic builder)."""
        return [v for v in self.vertices.values() if v.status == "CACHED" and not _is_from(v)]

    def running(self) -> Vertex | None:
        """The last step announced that has not finished (where a stopped build was)."""
        open_steps = [v for v in self.vertices.values() if not v.status]
        return open_steps[-1] if open_steps else (self.steps()[-1] if self.vertices else None)


def _is_from(vertex: Vertex) -> bool:
    return vertex.text.upper().startswith("FROM ")


def _normal(text: str) -> str:
    return " ".join(text.split())


def match_instruction(dockerfile: Dockerfile | None, stage: str | None, text: str) -> Instruction | None:
    """The Dockerfile instruction a BuildKit step names ("RUN pip install ...", in stage `stage`)."""
    if dockerfile is None:
        return None
    keyword, _, value = text.partition(" ")
    wanted = _normal(value)
    candidates = [ins for ins in dockerfile.commands() if ins.keyword == keyword.upper()]
    index = _stage_index(dockerfile, stage)
    if index is not None:
        in_stage = [ins for ins in candidates if ins.stage == index]
        candidates = in_stage or candidates
    if keyword.upper() == "FROM":
        return candidates[0] if len(candidates) == 1 or index is not None else None
    exact = [ins for ins in candidates if _normal(ins.value) == wanted]
    if exact:
        return exact[0]
    # BuildKit shortens nothing, but expands build arguments: fall back to the only candidate.
    return candidates[0] if len(candidates) == 1 else None


def _stage_index(dockerfile: Dockerfile, stage: str | None) -> int | None:
    if stage is None:
        return dockerfile.stage_count() - 1 if dockerfile.stage_count() == 1 else None
    named = dockerfile.stage_names().get(stage.lower())
    if named is not None:
        return named
    unnamed = re.fullmatch(r"stage-(\d+)", stage)
    return int(unnamed.group(1)) if unnamed else None


def failing_base(dockerfile: Dockerfile | None, error: str) -> Instruction | None:
    """The FROM whose image an error names (BuildKit fails a missing base before any step)."""
    if dockerfile is None:
        return None
    for instruction in dockerfile.find("FROM"):
        repository = image_of(instruction.value).rsplit(":", 1)[0].split("@")[0]
        if repository and repository.rsplit("/", 1)[-1] in error:
            return instruction
    return None


def _step_number(dockerfile: Dockerfile | None, instruction: Instruction | None) -> int | None:
    """The classic builder's "Step N" for an instruction: its place among the Dockerfile's commands."""
    if dockerfile is None or instruction is None:
        return None
    commands = dockerfile.commands()
    return commands.index(instruction) + 1 if instruction in commands else None


def error_text(reader: ProgressReader) -> str:
    """The engine's own words for a failure, in the classic builder's phrasing where they differ."""
    failed = reader.failed()
    text = failed.error if failed and failed.error else " ".join(reader.errors[-3:])
    code = re.search(r"exit code: (\d+)", text)
    if code:  # one phrasing for explain_build_error, whichever builder failed
        return f"{text} (returned a non-zero code: {code.group(1)})"
    return text


def build(
    session: "Session",
    folder: Path,
    dockerfile: Dockerfile | None,
    timeout: float,
    on_progress: Callable[[str], None],
    buildargs: dict[str, str] | None,
) -> BuildResult:
    """Build FOLDER with BuildKit through the docker CLI, within `timeout` seconds; nothing is left on a stop."""
    cli = find_buildkit_cli()
    if cli is None:
        raise BuilderUnavailable("builder.no_buildkit")
    started = time.monotonic()
    try:
        checked_context_files(folder)  # the CLI sends the context itself: refuse gigabytes before it starts
    except ContextTooLarge as error:
        return BuildResult(ok=False, duration=time.monotonic() - started, failure="context", facts=error.facts)
    reader = ProgressReader(dockerfile)
    disk = DiskWatch(session.engine_data_root())
    with tempfile.TemporaryDirectory(prefix="labkit-buildkit-") as scratch:
        iidfile = Path(scratch) / "image-id"
        command = [*cli.command, "--progress=plain", "--iidfile", str(iidfile), "-f", str(folder / "Dockerfile")]
        for key, value in session.image_labels.items():
            command += ["--label", f"{key}={value}"]
        for key, value in (buildargs or {}).items():
            command += ["--build-arg", f"{key}={value}"]
        command.append(str(folder))
        process = CliProcess(command, dict(os.environ, **dict(cli.environment)))
        stopped = ""  # why the grader stopped the build, if it did
        try:
            while True:
                remaining = timeout - (time.monotonic() - started)
                if remaining <= 0:
                    stopped = "timeout"
                elif disk.written() > limits.MAX_STEP_WRITE_BYTES:
                    stopped = "disk"
                if stopped:
                    process.cancel()
                    session.unsure = True  # an image exported just before the stop is swept by label
                    break
                line = process.next_line(min(remaining, 0.5))
                if line is None:
                    if process.finished():
                        break
                    continue
                vertex = reader.feed(line)
                if vertex is not None and vertex.instruction is not None:
                    step = _step_number(dockerfile, vertex.instruction)
                    on_progress(f"step {step}/{len(dockerfile.commands())}: {vertex.instruction.keyword} {vertex.instruction.value[:60]}")
        except BaseException:  # Ctrl-C, SIGTERM: the CLI cancels the build, then the session cleans up
            process.cancel()
            session.unsure = True
            raise
        image_id = iidfile.read_text().strip() if iidfile.is_file() else ""
    duration = time.monotonic() - started
    if image_id:
        session.image_ids.append(image_id)
    steps = reader.steps()
    outcome = dict(
        log_tail="\n".join(reader.tail), cached_steps=len(reader.cached()), total_steps=len(steps),
        cached_lines=frozenset(v.instruction.line for v in reader.cached() if v.instruction),
    )
    if stopped:
        at = reader.running()
        instruction = at.instruction if at else None
        step = _step_number(dockerfile, instruction)
        total = len(dockerfile.commands()) if dockerfile else 0
        return BuildResult(ok=False, duration=duration, failure=stopped, facts=dict(stop_facts(timeout), total=total), step=step,
                           instruction=instruction, timed_out=stopped == "timeout", **outcome)
    raw = error_text(reader) if process.returncode or not image_id else ""
    if raw or not image_id:
        raw = raw or "the build ended without an image"
        if "no space left on device" in raw.lower() or any("no space left on device" in x.lower() for x in list(reader.tail)[-6:]):
            raise EngineDiskFull(raw, engine_address())
        failed = reader.failed()
        instruction = failed.instruction if failed else None
        step = _step_number(dockerfile, instruction)
        total = len(dockerfile.commands()) if dockerfile else 0
        if instruction is None:
            instruction = instruction_named_by_error(raw, dockerfile) or failing_base(dockerfile, raw)
        return BuildResult(ok=False, duration=duration, failure="error", raw_error=raw, step=step, instruction=instruction,
                           dockerfile=dockerfile, facts={"total": total, "memory_bytes": BUILD_MEMORY_BYTES}, **outcome)
    return BuildResult(ok=True, image_id=image_id, duration=duration, **outcome)


class CliProcess:
    """The docker CLI in a process group of its own, its output read line by line on a thread."""

    def __init__(self, command: list[str], environment: dict[str, str]):
        self._lines: "queue.Queue[str | None]" = queue.Queue()
        self._ended = False  # every line read, the CLI exited
        self._process = subprocess.Popen(
            command, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C at the terminal reaches the grader, which then cancels on purpose
        )
        threading.Thread(target=self._read, name="buildkit-output", daemon=True).start()

    @property
    def returncode(self) -> int | None:
        """The CLI's exit code once it has ended."""
        return self._process.returncode

    def _read(self) -> None:
        assert self._process.stdout is not None
        for raw in self._process.stdout:  # a step may print a line of gigabytes: keep its end only
            self._lines.put(raw[-65536:].decode("utf-8", "replace"))
        self._lines.put(None)

    def next_line(self, wait: float) -> str | None:
        """The next output line, or None when none came within `wait` seconds or the output ended."""
        try:
            line = self._lines.get(timeout=max(wait, 0.01))
        except queue.Empty:
            return None
        if line is None:
            self._lines.put(None)  # stays ended for later calls
            self._process.wait()
            self._ended = True
        return line

    def finished(self) -> bool:
        """True once the CLI has exited and all of its output is read (its last lines say why it failed)."""
        return self._ended

    def cancel(self) -> None:
        """Stop the build: SIGINT makes the CLI cancel it on the engine; SIGKILL if it does not end."""
        if self._process.poll() is not None:
            return
        with signals_held():  # a first stop from the user is why we are here: let the cancel finish
            _signal_group(self._process, signal.SIGINT)
            try:
                self._process.wait(CANCEL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(self._process, signal.SIGKILL)
                self._process.wait()


def _signal_group(process: subprocess.Popen, number: int) -> None:
    try:
        os.killpg(process.pid, number)
    except (ProcessLookupError, PermissionError):
        pass


class DiskWatch:
    """What the engine's disk lost since the build began: BuildKit's steps cannot be capped or listed.

    Only for an engine on this machine (its data root is a local folder); elsewhere it reports 0.
    """

    def __init__(self, data_root: str | None):
        self._root = data_root if data_root and os.path.isdir(data_root) else None
        self._start = self._free()
        self._next = time.monotonic() + DISK_LOOK_SECONDS
        self._last = 0

    def _free(self) -> int:
        if not self._root:
            return 0
        stats = os.statvfs(self._root)
        return stats.f_bavail * stats.f_frsize

    def written(self) -> int:
        """Bytes the disk lost since the start, looked at every DISK_LOOK_SECONDS."""
        if self._root and time.monotonic() >= self._next:
            self._next = time.monotonic() + DISK_LOOK_SECONDS
            self._last = max(self._start - self._free(), 0)
        return self._last
