"""Static checks on the Dockerfile text, before anything is built."""

from __future__ import annotations

import re
import shlex
from typing import Any, Mapping

from grader.checks import register
from grader.context import Context
from grader.dockerfile import image_of
from grader.i18n import t
from grader.model import Outcome

TODO_PATTERN = re.compile(r"\bTODO\b")
PIP_INSTALL = re.compile(r"\bpip3?(\.\d+)?\s+install\b|\bpython3?(\.\d+)?\s+-m\s+pip\s+install\b")
OFFICIAL_PYTHON = ("python", "library/python", "docker.io/library/python", "index.docker.io/library/python")


def _lines_list(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


@register("no_todo", needs="dockerfile")
def no_todo(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """No TODO placeholder is left in the Dockerfile."""
    dockerfile = ctx.dockerfile
    todo_lines = [n for n, line in enumerate(dockerfile.lines, start=1) if TODO_PATTERN.search(line)]
    if not todo_lines:
        return Outcome.ok(t("no_todo.ok"))
    return Outcome.fail(
        t("no_todo.left", count=len(todo_lines), lines=_lines_list(todo_lines)), location=f"Dockerfile:{todo_lines[0]}"
    )


def split_image_reference(reference: str) -> tuple[str, str | None, str | None]:
    """Split `repo[:tag][@digest]` into (repo, tag, digest)."""
    digest = None
    if "@" in reference:
        reference, digest = reference.split("@", 1)
    repo, tag = reference, None
    # A colon after the last slash is a tag; one before it belongs to a registry host:port.
    if ":" in reference.rsplit("/", 1)[-1]:
        repo, tag = reference.rsplit(":", 1)
    return repo, tag, digest


def final_base(ctx: Context):
    """The FROM naming the image the final stage really starts from (stage references followed), or None."""
    return ctx.dockerfile.base_of_stage(ctx.dockerfile.stage_count() - 1)


@register("base_image", needs="dockerfile")
def base_image(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The final stage starts FROM an official Python slim image with a pinned tag."""
    instruction = final_base(ctx)
    if instruction is None:
        return Outcome.fail(t("base_image.no_from"))
    reference = image_of(instruction.value)
    repo, tag, digest = split_image_reference(reference)
    where = instruction.location  # the FROM to edit, even when the final stage starts FROM an earlier stage
    if repo.lower() not in OFFICIAL_PYTHON:
        return Outcome.fail(t("base_image.not_official", reference=reference), where)
    if tag is None and digest is None:
        return Outcome.fail(t("base_image.no_tag", reference=reference), where)
    if tag == "latest":
        return Outcome.fail(t("base_image.latest", reference=reference), where)
    pattern = params.get("tag_pattern", r"^3\.\d+(\.\d+)?-slim")
    if tag is not None and not re.search(pattern, tag):
        return Outcome.fail(t("base_image.not_slim", reference=reference, tag=tag), where)
    return Outcome.ok(t("base_image.ok", reference=reference), where)


@register("workdir_before_copy", needs="dockerfile")
def workdir_before_copy(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Each stage sets WORKDIR before it COPYs or ADDs files."""
    workdir_seen: set[int] = set()
    copies = 0
    for instruction in ctx.dockerfile.commands():
        if instruction.keyword == "FROM":
            # `FROM <earlier stage>` inherits that stage's WORKDIR.
            parent = ctx.dockerfile.stage_parent(instruction.stage)
            if parent is not None and parent in workdir_seen:
                workdir_seen.add(instruction.stage)
        elif instruction.keyword == "WORKDIR":
            workdir_seen.add(instruction.stage)
        elif instruction.keyword in ("COPY", "ADD"):
            copies += 1
            if instruction.stage not in workdir_seen:
                destination = instruction.value.split()[-1] if instruction.value.split() else ""
                relative = destination and not destination.startswith(("/", "$"))
                why = (
                    t("workdir_before_copy.relative", destination=destination)
                    if relative
                    else t("workdir_before_copy.no_workdir")
                )
                return Outcome.fail(
                    t("workdir_before_copy.before_workdir", keyword=instruction.keyword, value=instruction.value, why=why),
                    instruction.location,
                )
    if copies == 0:
        return Outcome.fail(t("workdir_before_copy.no_copy"))
    return Outcome.ok(t("workdir_before_copy.ok"))


def _env_disables_pip_cache(ctx: Context, before_line: int) -> bool:
    for instruction in ctx.dockerfile.find("ENV"):
        if instruction.line < before_line and re.search(r"PIP_NO_CACHE_DIR[= ]+(1|true|on|yes)", instruction.value, re.I):
            return True
    return False


def _cache_mounted(command: str) -> bool:
    """True when a BuildKit cache mount holds pip's cache: it stays outside the image, as with --no-cache-dir."""
    for option in re.findall(r"--mount=(\S+)", command):
        fields = dict(part.split("=", 1) for part in option.split(",") if "=" in part)
        target = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
        if fields.get("type") == "cache" and target.rstrip("/").endswith(".cache/pip"):
            return True
    return False


@register("pip_no_cache", needs="dockerfile")
def pip_no_cache(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Every `pip install` runs with --no-cache-dir, so pip's download cache stays out of the image."""
    installs = [ins for ins in ctx.dockerfile.find("RUN") if PIP_INSTALL.search(ins.value)]
    if not installs:
        return Outcome.fail(t("pip_no_cache.no_install"))
    for instruction in installs:
        if not ("--no-cache-dir" in instruction.value or _env_disables_pip_cache(ctx, instruction.line) or _cache_mounted(instruction.value)):
            return Outcome.fail(t("pip_no_cache.keeps_cache", command=instruction.value[:80]), instruction.location)
    requirement = params.get("requirements_file")
    if requirement and not any(reads_requirements(ins.value, requirement) for ins in installs):
        return Outcome.fail(t("pip_no_cache.no_requirements", requirement=requirement), installs[0].location)
    return Outcome.ok(t("pip_no_cache.ok"), installs[0].location)


def reads_requirements(command: str, filename: str) -> bool:
    """True when a pip command installs from FILENAME (`-r F`, `-rF`, `--requirement[=] F`, any folder)."""
    words = shlex_words(command)
    for index, word in enumerate(words):
        if word in ("-r", "--requirement") and index + 1 < len(words):
            target = words[index + 1]
        elif word.startswith("--requirement="):
            target = word.split("=", 1)[1]
        elif word.startswith("-r") and not word.startswith("--") and len(word) > 2:
            target = word[2:]
        else:
            continue
        if target.rstrip("/").rsplit("/", 1)[-1] == filename:
            return True
    return False


def shlex_words(text: str) -> list[str]:
    """Shell words of a command, falling back to a plain split on unbalanced quotes."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


@register("exec_form_cmd", needs="dockerfile")
def exec_form_cmd(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The final stage's CMD (or ENTRYPOINT) is written in exec (JSON) form."""
    starts = ctx.dockerfile.find("ENTRYPOINT", stage_only_final=True) or ctx.dockerfile.find("CMD", stage_only_final=True)
    if not starts:
        return Outcome.fail(t("exec_form_cmd.missing"))
    instruction = starts[-1]
    written = {"keyword": instruction.keyword, "value": instruction.value}
    if instruction.json_args() == []:
        return Outcome.fail(t("exec_form_cmd.empty", **written), instruction.location)
    if instruction.json_args() is None:
        if instruction.value.strip().startswith("["):
            return Outcome.fail(t("exec_form_cmd.bad_json", **written), instruction.location)
        words = shlex_words(instruction.value)
        suggestion = ", ".join(f'"{w}"' for w in words) or '"python", "flask_api_v2.py"'
        return Outcome.fail(t("exec_form_cmd.shell_form", suggestion=suggestion, **written), instruction.location)
    return Outcome.ok(t("exec_form_cmd.ok", **written), instruction.location)
