"""The grader's builds of the Dockerfile: did it build, and what do rebuilds show (an edited app file, a build argument)?

The rebuilds go through ctx.session, which labels their images; a rebuild no later grading can
reuse is discarded at once.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any, Mapping

from grader.context import BuildResult, Context, copy_submission
from grader.dockerfile import PIP_INSTALL, base_python_too_old, declared_args, final_install, first_code_copy, quote_instruction
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome
from grader.text import sentences


@register("build", needs="build")
def build(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image builds with the classic builder within the time limit."""
    result = ctx.build
    if result is None:
        return Outcome.fail(t("build.not_built"))
    if result.ok:
        cached = t("build.cached", cached=result.cached_steps, total=result.total_steps) if result.total_steps else ""
        return Outcome.ok(t("build.ok", seconds=result.duration, cached=cached))
    location = result.instruction.location if result.instruction else None
    message = result.error
    failed_step = result.instruction.value if result.instruction else ""
    too_old = base_python_too_old(ctx.dockerfile, params.get("min_python")) if PIP_INSTALL.search(failed_step or "") else None
    if too_old:
        # pip's own words ("No matching distribution found") never name the cause: the base image's Python.
        message += t("build.python_too_old", version=too_old[0], minimum=too_old[1])
    return Outcome.fail(message, location=location, detail=result.log_tail)


# -- a rebuild after an edit to the app code: the build cache ----------------------------------


def pip_history_entry(entries: list[dict], requirements: str) -> dict | None:
    """The history entry of the step that installed the requirements (the last pip step otherwise)."""
    installs = [e for e in entries if PIP_INSTALL.search(e.get("CreatedBy") or "")]
    reading = [e for e in installs if requirements in (e.get("CreatedBy") or "")]
    return (reading or installs or [None])[-1]


def _rebuild_with_edited_app(ctx: Context, app_file: str) -> BuildResult | None:
    """Rebuild a copy of the built folder whose app file got one more line; None when there is no such file."""
    with tempfile.TemporaryDirectory(prefix="labkit-rebuild-") as scratch:
        folder = copy_submission(ctx.build_dir or ctx.submission, Path(scratch) / "context")
        target = folder / app_file
        if not target.is_file():
            return None
        if target.is_symlink():  # the copy keeps links: appending must not write through to the original
            text = target.read_bytes()
            target.unlink()
            target.write_bytes(text)
        # A comment unique to this grading: an earlier grading's rebuild must not be in the cache.
        with target.open("a", encoding="utf-8") as handle:
            handle.write(f"\n# edited by the grader to test the build cache ({uuid.uuid4().hex})\n")
        return ctx.session.build(folder, ctx.dockerfile, ctx.build_timeout)


@register("rebuild_uses_cache", needs="image", required_params=("app_file",))
def rebuild_uses_cache(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """After an edit to the app code only, a rebuild takes the pip install step from the cache."""
    app_file, requirements = params["app_file"], params.get("requirements_file", "requirements.txt")
    stage, install = final_install(ctx.dockerfile, requirements)
    install_where = install.location if install else None
    first_seconds = ctx.build.duration
    ctx.facts["first_build_seconds"] = round(first_seconds, 2)
    rebuilt = _rebuild_with_edited_app(ctx, app_file)
    if rebuilt is None:
        return Outcome.fail(t("rebuild_uses_cache.no_app_file", app_file=app_file))
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
        before = pip_history_entry(ctx.session.history(ctx.build.image_id), requirements)
        after = pip_history_entry(ctx.session.history(rebuilt.image_id), requirements)
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
        if rebuilt.image_id and rebuilt.image_id != ctx.build.image_id:  # a rebuild wholly from cache IS the graded image
            ctx.session.discard_image(rebuilt.image_id)  # an edited copy's layers serve no later grading


def _install_from_cache(rebuilt, install, before: dict, after: dict) -> bool:
    """True when the rebuild took the pip install step from the cache.

    Both builders say which steps came from the cache (BuildKit keeps no history ids, so this is
    the one fact that works for both); when the builder named no cached step at all, the pip
    step's history id is compared.
    """
    if install is not None and rebuilt.cached_lines:
        return install.line in rebuilt.cached_lines
    return before.get("Id") == after.get("Id") and before.get("Id") not in (None, "", "<missing>")


# -- a rebuild with a build argument ---------------------------------------------------------


@register("build_arg_changes_build", needs="image", required_params=("arg",))
def build_arg_changes_build(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Building again with `--build-arg ARG=<value>` puts the value into the image (Config.Env or a label)."""
    name = str(params["arg"])
    declaration = declared_args(ctx.dockerfile).get(name)
    if declaration is None:
        return Outcome.fail(t("build_arg_changes_build.not_declared", arg=name))
    value = f"{params.get('prefix', 'graded-')}{uuid.uuid4().hex[:8]}"
    built = ctx.session.build(ctx.build_dir or ctx.submission, ctx.dockerfile, ctx.build_timeout, buildargs={name: value})
    if not built.ok:
        return Outcome.fail(t("build_arg_changes_build.build_failed", arg=name, value=value, error=built.error), declaration.location)
    image = ctx.session.inspect_image(built.image_id) or {}
    config = image.get("Config") or {}
    places = [f"ENV {item.split('=', 1)[0]}" for item in config.get("Env") or [] if value in item]
    places += [f"LABEL {key}" for key, text in (config.get("Labels") or {}).items() if value in str(text)]
    if not places:
        return Outcome.fail(t("build_arg_changes_build.not_in_image", arg=name, value=value, line=declaration.line), declaration.location)
    rebuilt = max(built.total_steps - built.cached_steps, 0)
    message = t("build_arg_changes_build.ok", arg=name, value=value, places=", ".join(places), rebuilt=rebuilt, total=built.total_steps)
    installs_after = [
        ins for ins in ctx.dockerfile.commands()
        if ins.keyword == "RUN" and ins.stage == declaration.stage and ins.line > declaration.line and "install" in ins.value
    ]
    if installs_after:
        message = sentences(message, t("build_arg_changes_build.before_install", line=installs_after[0].line))
    return Outcome.ok(message, declaration.location)
