"""Grades one submission: static checks, a real build, image checks, a run; cleans up on every path."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from grader import dockerfile as dockerfile_module
from grader.kinds import registry
from grader.dockerfile import final_base, image_of
from grader.i18n import t
from grader.facts.image import layers_added, size_over_base
from grader.context import NEEDS, Context, RunState, copy_submission
from grader.engine.buildkit import choose_builder
from grader.engine.connect import connect, engine_address, provenance as engine_provenance
from grader.engine.limits import RunLimits
from grader.engine.session import Session
from grader.engine.signals import Background
from grader.errors import ContainerRefused, EngineUnavailable
from grader.model import CheckResult, CheckSpec, ExerciseSpec, Report, Status

DEFAULT_BUILD_TIMEOUT = 600.0
DEFAULT_READY_TIMEOUT = 60.0

Progress = Callable[[str], None]


def _level(spec: CheckSpec) -> int:
    return NEEDS.index(registry()[spec.kind].needs)


def _uses_engine(spec: CheckSpec) -> bool:
    kind = registry()[spec.kind]
    return kind.uses_engine or NEEDS.index(kind.needs) >= NEEDS.index("build")


def run_check(spec: CheckSpec, ctx: Context) -> CheckResult:
    """Run one check against what the context holds; a check that needs what failed is blocked."""
    kind = registry()[spec.kind]
    blocked = ctx.blocker(kind.needs)
    if blocked:
        return CheckResult(spec, Status.BLOCKED, t("grading.blocked", reason=blocked))
    started = time.monotonic()
    try:
        outcome = kind.func(ctx, spec.params)
    except EngineUnavailable:
        raise
    except Exception as error:  # a grader bug or a wild submission must not end the grading
        if ctx.session is not None and not ctx.session.engine_alive():
            raise EngineUnavailable("engine.lost", during=spec.id, error=type(error).__name__) from None
        return CheckResult(
            spec, Status.BLOCKED, t("grading.crashed", error=f"{type(error).__name__}: {error}"),
            duration=time.monotonic() - started,
        )
    if getattr(ctx.session, "probe_lost", False):  # its failed requests said nothing about the app
        raise EngineUnavailable("probe.lost", during=spec.id)
    status = Status.PASSED if outcome.passed else Status.FAILED
    return CheckResult(spec, status, outcome.message, outcome.location, outcome.detail, time.monotonic() - started)


def static_report(exercise: ExerciseSpec, submission: Path) -> tuple[Report, Context]:
    """Only the checks that read files: instant feedback, no engine needed."""
    ctx = _context(exercise, submission)
    report = Report(exercise, submission)
    for spec in exercise.checks:
        if not _uses_engine(spec):
            report.results.append(run_check(spec, ctx))
    return report, ctx


def grade(
    exercise: ExerciseSpec,
    submission: Path,
    *,
    build_timeout: float = DEFAULT_BUILD_TIMEOUT,
    client: Any = None,
    progress: Progress = lambda text: None,
    on_result: Callable[[CheckResult], None] = lambda result: None,
    while_waiting: Callable[[], None] = lambda: None,
    builder: str | None = None,
) -> Report:
    """Grade a submission folder against an exercise; raises EngineUnavailable when no engine answers.

    `while_waiting` is called once after the container starts, before its first answer can come
    (an app takes a second or more to load): the caller's work there costs no time.
    `builder` (auto|buildkit|classic) overrides LABKIT_BUILDER and the exercise's labs.yaml choice.
    """
    started = time.monotonic()
    ctx = _context(exercise, submission)
    ctx.progress = progress
    results: dict[str, CheckResult] = {}

    def run_level(level: str, select: Callable[[CheckSpec], bool] = lambda spec: True) -> None:
        """Run the checks up to LEVEL that SELECT picks and that have not run yet."""
        for spec in exercise.checks:
            if spec.id in results or _level(spec) > NEEDS.index(level) or not select(spec):
                continue
            results[spec.id] = run_check(spec, ctx)
            on_result(results[spec.id])

    def static_only(spec: CheckSpec) -> bool:
        return not _uses_engine(spec)

    progress(t("progress.static"))
    if not any(_uses_engine(spec) for spec in exercise.checks):
        run_level("dockerfile", static_only)
    else:
        # The static checks read files and run hadolint (a process of its own): they run while
        # the engine builds instead of before it. They touch no engine resource, so a Ctrl-C may
        # leave the thread behind; it is joined before any check that comes after the build.
        static = Background(lambda: run_level("dockerfile", static_only), "static-checks")
        client = client or connect()
        chosen = choose_builder(builder or os.environ.get("LABKIT_BUILDER") or exercise.builder, ctx.dockerfile, client)
        ctx.facts["builder"] = chosen
        with Session(client, exercise.id, builder=chosen) as session, tempfile.TemporaryDirectory(prefix="labkit-") as scratch:
            ctx.session = session
            if _wants(exercise, "container") and ctx.dockerfile is not None:
                session.open_network(exercise.network == "open")  # made while the image builds
            ctx.build_timeout = build_timeout
            ctx.build_dir = prepare_build_dir(exercise, submission, Path(scratch))
            run_level("nothing", _uses_engine)  # engine-driven checks that need no Dockerfile (a Compose stack)
            _build_and_inspect(ctx, session, build_timeout, progress)
            static.join()
            if _wants(exercise, "container") and ctx.blocker("image") is None:
                # Slow image checks that only read the image (a `docker save`) run while the app
                # loads, which takes a second or more, instead of delaying its start.
                run_level("image", lambda spec: not registry()[spec.kind].while_app_starts)
                image_checks: list[Background] = []

                def meanwhile() -> None:
                    image_checks.append(Background(lambda: run_level("image"), "image-checks"))
                    while_waiting()

                _start_and_wait(ctx, session, progress, meanwhile)
                for thread in image_checks:
                    thread.join()
            run_level("image")  # all of them when no container starts, or the start failed
            run_level("ready")
            run_level("last")
            progress(t("progress.cleaning"))
    report = Report(
        exercise, submission, [results[spec.id] for spec in exercise.checks], time.monotonic() - started, ctx.facts,
        provenance(ctx, client),
    )
    return report


def provenance(ctx: Context, client: Any) -> dict[str, str]:
    """What graded it: the engine (from the connection's kept /version: no round trip), the builder, the Compose."""
    if client is None:
        return {}  # only static checks ran: no engine was asked
    try:
        recorded = engine_provenance(client, compose=str(ctx.facts.get("compose") or ""))
    except Exception:  # a client made elsewhere, asked now, and the engine gone: the grading stands without it
        return {}
    if ctx.build is not None:  # the builder the grading chose when it says (facts["builder"]), else the API's own
        recorded["builder"] = str(ctx.facts.get("builder") or ("buildah" if recorded["engine"] == "Podman" else "classic"))
    route = getattr(ctx.session, "probe_route", None)
    if route:  # how its HTTP requests reached the app (grader/engine/probe.py)
        recorded["probe"] = route
    return recorded


def prepare_build_dir(exercise: ExerciseSpec, submission: Path, scratch: Path) -> Path:
    """The folder to build: the submission itself, or a copy with the exercise's planted files."""
    if not exercise.plant:
        return submission
    folder = copy_submission(submission, scratch / "context")
    for relative, text in exercise.plant.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def _context(exercise: ExerciseSpec, submission: Path) -> Context:
    ctx = Context(exercise=exercise, submission=submission)
    try:
        ctx.dockerfile = dockerfile_module.load(submission)
    except dockerfile_module.DockerfileError as error:
        ctx.dockerfile_problem = str(error)
    except OSError as error:
        ctx.dockerfile_problem = t("dockerfile.unreadable", path=submission / "Dockerfile", error=error.strerror)
    return ctx


def _wants(exercise: ExerciseSpec, level: str) -> bool:
    return any(_level(spec) >= NEEDS.index(level) for spec in exercise.checks)


def _build_and_inspect(ctx: Context, session: Session, timeout: float, progress: Progress) -> None:
    if ctx.dockerfile is None or not _wants(ctx.exercise, "build"):
        return  # no check needs the grader's own build (the learner's replayed commands build it)
    progress(t("progress.building"))
    ctx.build = session.build(
        ctx.build_dir or ctx.submission, ctx.dockerfile, timeout, on_progress=lambda text: progress(t("progress.building_step", text=text)),
    )
    ctx.facts["build_seconds"] = round(ctx.build.duration, 2)
    if not ctx.build.ok:
        return
    progress(t("progress.inspecting"))
    ctx.image = session.inspect_image(ctx.build.image_id)
    _refuse_dropped_healthcheck(ctx)
    base = final_base_reference(ctx)
    ctx.base_image = session.inspect_image(base) if base else None
    if ctx.base_image is not None:
        ctx.facts["base_image"] = base
        ctx.facts["base_image_id"] = ctx.base_image.get("Id")
    added = size_over_base(ctx)
    if ctx.image is not None:
        ctx.facts["image_mb"] = round(int(ctx.image.get("Size", 0)) / 1e6, 1)
        ctx.facts["layers_added"] = layers_added(ctx)
    if added is not None:
        ctx.facts["added_mb"] = round(added / 1e6, 1)


def _refuse_dropped_healthcheck(ctx: Context) -> None:
    """Not gradable when the engine built an OCI image from a Dockerfile with a HEALTHCHECK.

    OCI images cannot hold one, so the engine dropped it (a Podman or buildah set to build OCI);
    charging the learner for it would be a wrong 0.
    """
    manifest = str((ctx.image or {}).get("ManifestType") or "")
    declared = ctx.dockerfile.find("HEALTHCHECK", stage_only_final=True) if ctx.dockerfile else []
    if "oci" in manifest and declared and not ((ctx.image or {}).get("Config") or {}).get("Healthcheck"):
        raise EngineUnavailable("engine.oci_without_healthcheck", address=engine_address(), manifest=manifest, line=declared[-1].line)


def final_base_reference(ctx: Context) -> str | None:
    """The image the final stage starts from, following `FROM <earlier stage>` references."""
    instruction = final_base(ctx.dockerfile)
    return image_of(instruction.value) if instruction else None


def _ready_params(exercise: ExerciseSpec) -> tuple[str, float]:
    params = exercise.params_of("container_ready")
    return params.get("path", "/"), float(params.get("timeout", DEFAULT_READY_TIMEOUT))


def _start_and_wait(ctx: Context, session: Session, progress: Progress, while_waiting: Callable[[], None]) -> None:
    progress(t("progress.starting"))
    try:
        running = session.start(ctx.build.image_id, ctx.exercise.port, RunLimits())
    except ContainerRefused as error:  # the engine refused to start it: the learner's image is at fault
        ctx.run = RunState(None, ready=False, problem=t("grading.could_not_start", error=error.detail))
        return
    path, timeout = _ready_params(ctx.exercise)
    progress(t("progress.waiting", port=ctx.exercise.port))
    while_waiting()
    ctx.run = session.wait_ready(running, path, timeout)
    if ctx.run.ready:
        ctx.facts["startup_seconds"] = round(ctx.run.startup_seconds, 2)
