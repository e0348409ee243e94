"""Build cache and build context: dependencies installed before the code, nothing stray in the image."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from grader.kinds import register
from grader.checks.image import image_config
from grader.context import Context, copy_submission
from grader.dockerfile import PIP_INSTALL, Instruction, brings, dependency_install, first_code_copy, quote_instruction
from grader.i18n import t
from grader.model import Outcome


def _layout(ctx: Context, params: Mapping[str, Any]) -> tuple[str, str, list[Instruction], Instruction | None]:
    """(app file, requirements file, final-stage instructions, the install step) for these params."""
    requirements = params.get("requirements_file", "requirements.txt")
    stage = ctx.dockerfile.final_stage()
    return params["app_file"], requirements, stage, dependency_install(stage, requirements)


@register("deps_before_code", needs="dockerfile", required_params=("app_file",))
def deps_before_code(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """requirements.txt is copied and installed before the app code is copied (final stage)."""
    app_file, requirements, stage, install = _layout(ctx, params)
    if install is None:
        return Outcome.fail(t("deps_before_code.no_install", requirements=requirements))
    code_copy = first_code_copy(stage, app_file)
    if code_copy is None:
        return Outcome.fail(t("deps_before_code.no_code_copy", app_file=app_file), install.location)
    if code_copy.line < install.line:
        return Outcome.fail(
            t(
                "deps_before_code.code_first",
                copy=quote_instruction(code_copy),
                copy_line=code_copy.line,
                install=quote_instruction(install),
                install_line=install.line,
                requirements=requirements,
            ),
            code_copy.location,
        )
    if not any(brings(ins, requirements) for ins in stage if ins.line < install.line):
        return Outcome.fail(
            t("deps_before_code.no_requirements_copy", install=quote_instruction(install), requirements=requirements),
            install.location,
        )
    return Outcome.ok(
        t("deps_before_code.ok", install_line=install.line, copy_line=code_copy.line), install.location
    )


def history(ctx: Context, image_id: str) -> list[dict]:
    """The image's build steps, oldest first (`docker history`, read only)."""
    return ctx.session.history(image_id)


def pip_history_entry(entries: list[dict], requirements: str) -> dict | None:
    """The history entry of the step that installed the requirements (the last pip step otherwise)."""
    installs = [e for e in entries if PIP_INSTALL.search(e.get("CreatedBy") or "")]
    reading = [e for e in installs if requirements in (e.get("CreatedBy") or "")]
    return (reading or installs or [None])[-1]


def discard_image(ctx: Context, image_id: str | None) -> None:
    """Remove the rebuilt image and its own parents: an edited copy's layers serve no later grading."""
    if image_id:
        ctx.session.discard_image(image_id)


@register("rebuild_uses_cache", needs="image", required_params=("app_file",))
def rebuild_uses_cache(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """After an edit to the app code only, a rebuild takes the pip install step from the cache."""
    app_file, requirements, stage, install = _layout(ctx, params)
    install_where = install.location if install else None
    first_seconds = ctx.build.duration
    ctx.facts["first_build_seconds"] = round(first_seconds, 2)
    with tempfile.TemporaryDirectory(prefix="labkit-rebuild-") as scratch:
        folder = copy_submission(ctx.build_dir or ctx.submission, Path(scratch) / "context")
        target = folder / app_file
        if not target.is_file():
            return Outcome.fail(t("rebuild_uses_cache.no_app_file", app_file=app_file))
        if target.is_symlink():  # the copy keeps links: appending must not write through to the original
            text = target.read_bytes()
            target.unlink()
            target.write_bytes(text)
        # A comment unique to this grading: an earlier grading's rebuild must not be in the cache.
        with target.open("a", encoding="utf-8") as handle:
            handle.write(f"\n# edited by the grader to test the build cache ({uuid.uuid4().hex})\n")
        rebuilt = ctx.session.build(folder, ctx.dockerfile, ctx.build_timeout)
    try:
        if not rebuilt.ok:
            return Outcome.fail(
                t("rebuild_uses_cache.rebuild_failed", app_file=app_file, error=rebuilt.error),
                rebuilt.instruction.location if rebuilt.instruction else None,
                detail=rebuilt.log_tail,
            )
        ctx.facts["rebuild_seconds"] = round(rebuilt.duration, 2)
        times = dict(first=f"{first_seconds:.1f}", rebuild=f"{rebuilt.duration:.1f}", app_file=app_file)
        # Compare the two images' build histories rather than RootFS.Layers: the classic builder
        # commits every step as an image, and a step taken from the cache reuses that very image,
        # so the pip step has the same history id in both builds exactly when the rebuild did not
        # run pip again. (A re-run would also change the layer digest, since file times differ,
        # but locating "the pip layer" in RootFS.Layers needs the empty-layer bookkeeping that
        # the history already does.)
        before = pip_history_entry(history(ctx, ctx.build.image_id), requirements)
        after = pip_history_entry(history(ctx, rebuilt.image_id), requirements)
        if before is None or after is None:
            return Outcome.fail(t("rebuild_uses_cache.no_install", requirements=requirements, **times))
        step = quote_instruction(install) if install else (before.get("CreatedBy") or "pip install")[-70:]
        if _install_from_cache(rebuilt, install, before, after):
            return Outcome.ok(t("rebuild_uses_cache.ok", step=step, **times), install_where)
        culprit = first_code_copy(stage, app_file)
        if culprit is not None and install is not None and culprit.line < install.line:
            return Outcome.fail(
                t("rebuild_uses_cache.invalidated_by", step=step, copy=quote_instruction(culprit), copy_line=culprit.line, **times),
                culprit.location,
            )
        return Outcome.fail(t("rebuild_uses_cache.rebuilt", step=step, **times), install_where)
    finally:
        if rebuilt.image_id != ctx.build.image_id:  # a rebuild wholly from cache IS the graded image
            discard_image(ctx, rebuilt.image_id)


def _install_from_cache(rebuilt, install, before: dict, after: dict) -> bool:
    """True when the rebuild took the pip install step from the cache.

    Both builders say which steps came from the cache (BuildKit keeps no history ids, so this is
    the one fact that works for both); when the builder named no cached step at all, the pip
    step's history id is compared.
    """
    if install is not None and rebuilt.cached_lines:
        return install.line in rebuilt.cached_lines
    return before.get("Id") == after.get("Id") and before.get("Id") not in (None, "", "<missing>")


def dockerignore_entry(path: str) -> str:
    """The .dockerignore line that keeps a path out: its name relative to the context root."""
    return PurePosixPath(path).name


def _find_secret(ctx: Context, secrets: list[str]) -> tuple[str, str] | None:
    """(secret, where it shows) for the first planted secret in the image's Env, labels or history."""
    config = image_config(ctx)
    places = [("Config.Env", value) for value in config.get("Env") or []]
    places += [("Config.Labels", f"{k}={v}") for k, v in (config.get("Labels") or {}).items()]
    places += [("docker history", entry.get("CreatedBy") or "") for entry in history(ctx, ctx.build.image_id)]
    for secret in secrets:
        for where, text in places:
            if secret and secret in text:
                return secret, where
    return None


def _secret_line(ctx: Context, secret: str) -> str | None:
    for number, line in enumerate(ctx.dockerfile.lines, start=1):
        if secret in line:
            return f"Dockerfile:{number}"
    return None


@register("planted_files_absent", needs="image", required_params=("paths",))
def planted_files_absent(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Files planted in the build context (.git, venv, __pycache__, .env) do not reach the image."""
    paths = [str(p) for p in params["paths"]]
    anchor = params.get("anchor")
    found = ctx.session.paths_in_image(ctx.build.image_id, paths + ([anchor] if anchor else []))
    if anchor and not found.get(anchor):
        return Outcome.fail(t("planted_files_absent.no_anchor", anchor=anchor))
    leaked = [path for path in paths if found.get(path)]
    has_ignore_file = (ctx.submission / ".dockerignore").is_file()
    if leaked:
        names = ", ".join(f"`{path}`" for path in leaked)
        lines = ", ".join(f"`{dockerignore_entry(path)}`" for path in leaked)
        if not has_ignore_file:
            return Outcome.fail(t("planted_files_absent.no_dockerignore", paths=names, lines=lines))
        return Outcome.fail(t("planted_files_absent.leaked", paths=names, lines=lines), ".dockerignore")
    secret = _find_secret(ctx, [str(s) for s in params.get("secrets") or []])
    if secret is not None:
        value, where = secret
        return Outcome.fail(t("planted_files_absent.secret", where=where), _secret_line(ctx, value))
    shown = ", ".join(f"`{path}`" for path in paths)
    return Outcome.ok(t("planted_files_absent.ok", paths=shown), ".dockerignore" if has_ignore_file else None)
