"""`python -m grader doctor`: what this machine has for grading, what is missing, and the fix for each.

It reads facts (grader/engine/facts.py) and turns them into findings in the learner's language;
it needs no make and no bash, so a learner who installed with pip on macOS or Windows can run it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable

from grader.engine import facts as engine_facts
from grader.engine.facts import EngineFacts
from grader.i18n import t

OK, WARN, MISSING, INFO = "ok", "warn", "missing", "info"
DEFAULT_BASE_IMAGES = "python:3.11-slim"
LOW_DISK_BYTES = 2 * 1000 ** 3  # a graded build needs a pip layer (~300 MB) and an image (~500 MB), with room
TIGHT_DISK_BYTES = 5 * 1000 ** 3
EXIT_READY, EXIT_MISSING, EXIT_NO_ENGINE = 0, 1, 2


@dataclass(frozen=True)
class Finding:
    """One thing the doctor looked at: how it stands, what it saw, and the fix when it is not ok."""

    topic: str
    status: str  # ok, warn (works, with less), missing (something the grader needs), info
    text: str
    fix: str = ""


@dataclass
class Diagnosis:
    """All findings, and the engine's facts when one answered."""

    findings: list[Finding] = field(default_factory=list)
    engine: EngineFacts | None = None

    @property
    def exit_code(self) -> int:
        """0 everything needed is there, 1 something is missing, 2 no engine answers."""
        if self.engine is None:
            return EXIT_NO_ENGINE
        return EXIT_MISSING if any(f.status == MISSING for f in self.findings) else EXIT_READY


def base_images() -> list[str]:
    """The images the exercises build FROM (BASE_IMAGES, as `make setup` reads it)."""
    return (os.environ.get("BASE_IMAGES") or DEFAULT_BASE_IMAGES).split()


def diagnose(connect: Callable[[], Any] | None = None) -> Diagnosis:
    """Look at the engine (as DOCKER_HOST or the active docker context names it), builders, Compose, images, hadolint."""
    from grader.errors import EngineUnavailable
    from grader.engine.connect import connect as connect_engine

    diagnosis = Diagnosis()
    try:
        client = (connect or (lambda: connect_engine(timeout=30)))()
    except EngineUnavailable as error:
        diagnosis.findings.append(Finding("engine", MISSING, t("doctor.engine_none", error=error), _engine_fix()))
        diagnosis.findings.append(_hadolint())
        return diagnosis
    try:
        try:
            facts = engine_facts.probe(client)
        except Exception as error:  # it answered /version, then went away: as if none answered
            diagnosis.findings.append(Finding("engine", MISSING, t("doctor.engine_lost", error=type(error).__name__), _engine_fix()))
            return diagnosis
        diagnosis.engine = facts
        diagnosis.findings += _engine(facts)
        diagnosis.findings += _builders(facts)
        diagnosis.findings.append(_compose(facts))
        diagnosis.findings += [_base_image(name, engine_facts.image_labels(client, name)) for name in base_images()]
        diagnosis.findings.append(_hadolint())
        diagnosis.findings.append(_registry(engine_facts.image_labels(client, "registry:2") is not None))
        if facts.is_podman:
            diagnosis.findings.append(_podman_format(facts))
        diagnosis.findings.append(_disk(facts))
    finally:
        client.close()
    return diagnosis


def _engine_fix() -> str:
    where = os.environ.get("DOCKER_HOST")
    if where:
        return t("doctor.engine_fix_host", host=where)
    return t("doctor.engine_fix")


def _engine(facts: EngineFacts) -> list[Finding]:
    where = (t("doctor.where_host", host=os.environ["DOCKER_HOST"]) if os.environ.get("DOCKER_HOST")
             else t("doctor.where_context", context=facts.context or "default"))
    found = [
        Finding("engine", OK, t("doctor.engine", product=facts.product, version=facts.version, api=facts.api_version,
                                os_arch=facts.os_arch, endpoint=facts.endpoint, where=where)),
        Finding("engine", INFO, t("doctor.local") if facts.local else t("doctor.remote")),
    ]
    if facts.image_store:
        found.append(Finding("image store", INFO, t("doctor.image_store", store=facts.image_store)))
    clis = "; ".join(f"{path} {version or '?'}" for path, version in facts.clis)
    if clis:
        found.append(Finding("docker CLI", INFO, t("doctor.clis", clis=clis)))
    else:
        found.append(Finding("docker CLI", WARN, t("doctor.no_cli"), t("doctor.no_cli_fix")))
    return found


def _builders(facts: EngineFacts) -> list[Finding]:
    names = {"classic": t("doctor.builder_classic"), "buildah": t("doctor.builder_buildah"),
             "buildx": t("doctor.builder_buildx", cli=facts.buildkit_cli),
             "cli-buildkit": t("doctor.builder_cli", cli=facts.buildkit_cli)}
    listed = "; ".join(names.get(name, name) for name in facts.builders)
    if facts.is_podman or facts.buildkit_cli:
        return [Finding("builders", OK, t("doctor.builders", builders=listed))]
    return [Finding("builders", WARN, t("doctor.builders_no_buildkit", builders=listed), t("doctor.buildkit_fix"))]


def _compose(facts: EngineFacts) -> Finding:
    from grader.engine.compose import CHOICE_VARIABLE, compose_choice

    others = [f"{c.command} {c.version}" for c in facts.composes if c != facts.compose_used]
    also = t("doctor.compose_also", others=", ".join(others)) if others else ""
    if facts.compose_used is None:
        return Finding("compose", MISSING, t("doctor.compose_none", problem=facts.compose_problem), t("doctor.compose_fix"))
    try:
        choice = compose_choice()
    except Exception:
        choice = "?"
    used = facts.compose_used
    return Finding("compose", OK, t("doctor.compose", command=used.command, flavour=used.flavour, version=used.version,
                                    variable=CHOICE_VARIABLE, choice=choice, also=also))


def _base_image(name: str, labels: dict[str, str] | None) -> Finding:
    if labels is None:
        return Finding("base image", MISSING, t("doctor.base_missing", image=name), t("doctor.base_fix", image=name))
    if labels.get("org.labkit.standin") == "true":
        return Finding("base image", OK, t("doctor.base_standin", image=name))
    return Finding("base image", OK, t("doctor.base_present", image=name))


def _hadolint() -> Finding:
    from grader.checks.lint import LintUnavailable, hadolint_binary

    try:
        binary = hadolint_binary()
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (LintUnavailable, OSError, subprocess.SubprocessError):
        return Finding("hadolint", MISSING, t("doctor.hadolint_missing"), t("doctor.hadolint_fix"))
    return Finding("hadolint", OK, t("doctor.hadolint", path=binary, version=version or "?"))


def _registry(image_present: bool) -> Finding:
    """exercise-08 starts a private registry per grading: Debian's docker-registry, else the registry:2 image."""
    from grader.engine.registry import registry_program

    program = registry_program()
    if program:
        return Finding("registry", OK, t("doctor.registry_program", path=program))
    if image_present:
        return Finding("registry", OK, t("doctor.registry_image"))
    return Finding("registry", WARN, t("doctor.registry_missing"), t("doctor.registry_fix"))


def _podman_format(facts: EngineFacts) -> Finding:
    if facts.image_format == "docker":
        return Finding("image format", OK, t("doctor.podman_docker_format"))
    if not facts.image_format:
        return Finding("image format", WARN, t("doctor.podman_format_unknown"), t("doctor.podman_format_fix"))
    return Finding("image format", MISSING, t("doctor.podman_oci", format=facts.image_format), t("doctor.podman_format_fix"))


def _disk(facts: EngineFacts) -> Finding:
    if facts.disk_free_bytes is None:
        return Finding("disk", INFO, t("doctor.disk_unknown"))
    free = t("doctor.disk", gb=facts.disk_free_bytes / 1000 ** 3, folder=facts.root_dir)
    if facts.disk_free_bytes < LOW_DISK_BYTES:
        return Finding("disk", MISSING, free, t("doctor.disk_fix"))
    if facts.disk_free_bytes < TIGHT_DISK_BYTES:
        return Finding("disk", WARN, free, t("doctor.disk_fix"))
    return Finding("disk", OK, free)
