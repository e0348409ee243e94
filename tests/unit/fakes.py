"""The one fake engine session of the unit tests: grader.context.EngineSession with canned answers, no engine.

Checks ask ctx.session for a second build, a second container, a file lookup or a `docker save`;
this fake answers from what a test gives it and records what was asked, so a test can say
"the rebuild got this build argument" or "the check looked up these paths".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from unit_helpers import FakeContainer, chunks
from grader.context import BuildResult, Container, RunState
from grader.dockerfile import Dockerfile
from grader.errors import ContainerRefused

MAX_SNAPSHOT_BYTES = 100_000


@dataclass
class BuildAsked:
    """One build a check asked for: the folder, its build arguments, and the folder's small files as they were then."""

    folder: Path
    buildargs: dict[str, str] | None
    files: dict[str, str] = field(default_factory=dict)


def _snapshot(folder: Path) -> dict[str, str]:
    """The text of the folder's files (up to 100 kB each): a check builds a copy that is gone once it returns."""
    files = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file() and path.stat().st_size <= MAX_SNAPSHOT_BYTES:
            files[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    return files


class FakeSession:
    """Implements grader.context.EngineSession from canned answers; every argument is optional.

    container/ready/refuse: what `start` returns (or raises) and whether `wait_ready` sees an answer;
    built: what `build` returns; images: reference -> inspect document; histories: image id ->
    `docker history` entries as the engine lists them (newest first); present: the paths
    `paths_in_image` finds; archive/archives: the `docker save` bytes (per image id); health and
    stop: what `wait_health` and `stop_seconds` return; stack and replayed: what `run_stack` and
    `replay` return.
    """

    def __init__(
        self,
        *,
        container: Container | None = None,
        ready: bool = True,
        refuse: str | None = None,
        built: BuildResult | None = None,
        images: dict[str, dict] | None = None,
        histories: dict[str, list[dict]] | None = None,
        present: Iterable[str] = (),
        archive: bytes | None = None,
        archives: dict[str, bytes] | None = None,
        health: tuple[str, str] = ("healthy", "healthy"),
        stop: tuple[float, dict] = (0.8, {"Running": False, "ExitCode": 0}),
        stack: Any = None,
        replayed: Any = None,
        alive: bool = True,
    ):
        self.container = container or FakeContainer()
        self.ready = ready
        self.refuse = refuse
        self.built = built or BuildResult(ok=True, image_id="sha256:second", total_steps=12, cached_steps=10)
        self.images = images or {}
        self.histories = histories or {}
        self.present = set(present)
        self.archive = archive
        self.archives = archives or {}
        self.health = health
        self.stop = stop
        self.stack = stack
        self.replayed = replayed
        self.alive = alive
        self.probe_lost = False
        # What the checks asked, in order.
        self.builds: list[BuildAsked] = []
        self.started: list[dict] = []
        self.asked: list[list[str]] = []
        self.discarded: list[str] = []
        self.stopped: list[float] = []
        self.saved = 0

    def engine_alive(self) -> bool:
        return self.alive

    def build(
        self, folder: Path, dockerfile: Dockerfile | None, timeout: float, on_progress: Callable[[str], None] = lambda text: None,
        buildargs: dict[str, str] | None = None,
    ) -> BuildResult:
        self.builds.append(BuildAsked(Path(folder), buildargs, _snapshot(Path(folder))))
        return self.built

    def inspect_image(self, reference: str) -> dict | None:
        return self.images.get(reference)

    def history(self, image_id: str) -> list[dict]:
        return list(reversed(self.histories[image_id]))

    def discard_image(self, image_id: str) -> None:
        self.discarded.append(image_id)

    def paths_in_image(self, image_id: str, paths: list[str]) -> dict[str, bool]:
        self.asked.append(list(paths))
        return {path: path in self.present for path in paths}

    def save_image(self, image_id: str) -> Iterable[bytes]:
        self.saved += 1
        return chunks(self.archives.get(image_id, self.archive))

    def start(
        self, image_id: str, port: int, limits: Any = None, environment: dict[str, str] | None = None,
        command: list[str] | None = None, mounts: dict[str, str] | None = None,
    ) -> Container:
        self.started.append({"port": port, "environment": environment, "command": command, "mounts": mounts})
        if self.refuse:
            raise ContainerRefused(self.refuse)  # what the session raises for the engine's refusal
        self.container.port = port
        return self.container

    def wait_ready(self, running: Container, path: str, timeout: float) -> RunState:
        return RunState(running, ready=self.ready, problem="" if self.ready else "no HTTP answer")

    def wait_health(self, running: Container, timeout: float) -> tuple[str, str]:
        return self.health

    def stop_seconds(self, running: Container, grace: float = 5.0) -> tuple[float, dict]:
        self.stopped.append(grace)
        return self.stop

    def run_stack(self, folder: Path, **options: Any) -> Any:
        return self.stack

    def replay(self, folder: Path, plan: Any, with_registry: bool = False, **settings: Any) -> Any:
        return self.replayed
