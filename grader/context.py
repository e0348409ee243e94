"""What checks read: the submission, its Dockerfile, the build, the image and the running container."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

from grader.compose_facts import StackRun
from grader.dockerfile import Dockerfile, Instruction
from grader.explain import build_failure, not_ready
from grader.i18n import t
from grader.model import ExerciseSpec

# What a check may need, in the order the grading produces it.
# "last" checks need the container too, but run after every other check (they may stop it).
NEEDS = ("nothing", "dockerfile", "build", "image", "container", "ready", "last")
MAX_RESPONSE_BYTES = 1_000_000  # of an HTTP body or an exec's output a Container returns: an app may send gigabytes


@dataclass
class BuildResult:
    """How the build went."""

    ok: bool
    image_id: str | None = None
    duration: float = 0.0
    error: str = ""  # learner-facing explanation of the failure
    raw_error: str = ""  # the engine's own words
    step: int | None = None  # the builder's "Step N" that failed
    instruction: Instruction | None = None  # that step's Dockerfile instruction
    log_tail: str = ""
    timed_out: bool = False
    cached_steps: int = 0
    total_steps: int = 0
    cached_lines: frozenset[int] = frozenset()  # Dockerfile lines of the instructions taken from the cache
    # How a failed build ended, as facts: "error" (the engine's, in raw_error), "timeout" or "disk"
    # (the grader stopped it), "context" (refused before sending); `facts` holds the limits and
    # sizes involved. The learner's sentence (`error`) is made from them, not by the engine layer.
    failure: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    dockerfile: Dockerfile | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.ok and not self.error and self.failure:
            self.error = build_failure(self)


class Container(Protocol):
    """The running learner container as checks see it (the session implements it)."""

    port: int  # container port the app should serve on
    address: str | None  # its address on the grading's network, where the grader's probe reaches it

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send an HTTP request to the app's port from the grader's probe; returns a requests.Response."""

    def exec_output(self, command: list[str]) -> tuple[int, str]:
        """Run a command inside the container; exit code and output."""

    def state(self) -> dict:
        """The container's State from inspect (fresh)."""

    def logs_tail(self, lines: int = 20) -> str:
        """The last lines of the container's logs."""


@dataclass
class RunState:
    """The container the grader started and whether it answered."""

    container: Container | None
    ready: bool = False
    problem: str = ""  # why it is not ready, learner-facing
    startup_seconds: float = 0.0
    # What the readiness wait saw when it gave up, as facts (`problem` is made from them):
    # the State of a container that exited, its last log lines, an exec's (code, output) of
    # /proc/net/tcp{,6}, how long it waited and on which port.
    exit_state: dict | None = None
    logs: str = ""
    sockets: tuple[int, str] | None = None
    waited: float = 0.0
    port: int = 0

    def __post_init__(self) -> None:
        if not self.ready and not self.problem and (self.exit_state is not None or self.waited):
            self.problem = not_ready(self)


@runtime_checkable
class EngineSession(Protocol):
    """What checks may ask of the grading's engine session: grader/engine/session.py's Session implements it,
    tests/unit/fakes.py's FakeSession fakes it. Only these methods touch the engine; they return facts."""

    probe_lost: bool  # the grader's probe stopped: what its requests said is no fact about the app

    def engine_alive(self) -> bool:
        """True when the engine still answers."""

    def build(
        self, folder: Path, dockerfile: Dockerfile | None, timeout: float, on_progress: Callable[[str], None] = ...,
        buildargs: dict[str, str] | None = None,
    ) -> BuildResult:
        """Build FOLDER (a rebuild, the reference, a build argument); the image is labelled and removed with the session."""

    def inspect_image(self, reference: str) -> dict | None:
        """`docker image inspect`, or None when the engine has no such image."""

    def history(self, image_id: str) -> list[dict]:
        """The image's build steps, oldest first (`docker history`)."""

    def discard_image(self, image_id: str) -> None:
        """Remove an image built now that no later grading can reuse."""

    def paths_in_image(self, image_id: str, paths: list[str]) -> dict[str, bool]:
        """Which of these absolute paths exist in the image (looked up in a container never started)."""

    def save_image(self, image_id: str) -> Iterable[bytes]:
        """The image as `docker save` streams it."""

    def start(
        self, image_id: str, port: int, limits: Any = ..., environment: dict[str, str] | None = None,
        command: list[str] | None = None, mounts: dict[str, str] | None = None,
    ) -> Container:
        """Start another container of an image on the grading's network (raises ContainerRefused when the engine refuses it)."""

    def wait_ready(self, running: Container, path: str, timeout: float) -> RunState:
        """Wait until the app answers HTTP on PATH, or say why it did not."""

    def wait_health(self, running: Container, timeout: float) -> tuple[str, str]:
        """The container's health status once it settles (or at the timeout), and the last probe's output."""

    def stop_seconds(self, running: Container, grace: float = 5.0) -> tuple[float, dict]:
        """`docker stop` with a grace period: how long it took, and the State after."""

    def run_stack(self, folder: Path, **options: Any) -> StackRun:
        """Build and run FOLDER's Compose stack under the grading's labels; what it produced."""

    def replay(self, folder: Path, plan: Any, with_registry: bool = False, **settings: Any) -> Any:
        """Replay a commands file's plan in this grading (with a registry of its own when asked); its facts."""


@dataclass
class Context:
    """Everything known about one submission so far; checks read it, the runner fills it."""

    exercise: ExerciseSpec
    submission: Path
    dockerfile: Dockerfile | None = None
    dockerfile_problem: str = ""
    build: BuildResult | None = None
    image: dict | None = None  # `docker image inspect` of the learner's image
    base_image: dict | None = None  # inspect of the image the final stage starts FROM
    run: RunState | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    # The engine session, for checks that must do more than read (a second build, a second
    # run, a file lookup in the image). Only its methods touch the engine.
    session: EngineSession | None = None
    # The folder that was built: a copy of the submission when the exercise plants files.
    build_dir: Path | None = None
    build_timeout: float = 600.0
    # Progress lines for long checks (a Compose stack), and what checks share within one
    # grading without rendering it (facts end up in reports; memo does not).
    progress: Any = lambda text: None
    memo: dict[str, Any] = field(default_factory=dict)

    def blocker(self, needs: str) -> str | None:
        """Why a check that needs `needs` cannot run, or None when it can."""
        level = NEEDS.index(needs)
        if level >= NEEDS.index("dockerfile") and self.dockerfile is None:
            return t("blocker.no_dockerfile", problem=self.dockerfile_problem)
        if level >= NEEDS.index("image"):
            if self.build is None:
                return t("blocker.not_built")
            if not self.build.ok:
                return t("blocker.build_failed")
            if self.image is None:
                return t("blocker.not_inspected")
        if level >= NEEDS.index("container"):
            if self.run is None or self.run.container is None:
                return t("blocker.not_started", problem=f": {self.run.problem}" if self.run and self.run.problem else "")
        if NEEDS.index("ready") <= level < NEEDS.index("last") and not self.run.ready:
            return t("blocker.never_answered")
        return None


def copy_submission(submission: Path, target: Path) -> Path:
    """Copy a submission folder (links kept as links, so nothing outside it is read)."""
    shutil.copytree(submission, target, symlinks=True)
    return target
