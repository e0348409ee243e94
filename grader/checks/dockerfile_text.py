"""Checks on the Dockerfile as written, before anything is built: placeholders, the base image, the order of steps, the forms."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any, Mapping

from grader.context import Context
from grader.dockerfile import (
    OFFICIAL_PYTHON, Dockerfile, brings, copy_from_flag, final_base, final_install, first_code_copy, image_of, pip_installs,
    python_version, python_version_of_tag, quote_instruction, reads_requirements, shlex_words, split_image_reference, stage_index,
    version_text,
)
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome
from grader.text import todo_lines

# When each CPython minor version stops getting security fixes (https://devguide.python.org/versions/).
PYTHON_END_OF_LIFE = {
    (3, 6): datetime.date(2021, 12, 23), (3, 7): datetime.date(2023, 6, 27), (3, 8): datetime.date(2024, 10, 7),
    (3, 9): datetime.date(2025, 10, 31), (3, 10): datetime.date(2026, 10, 31), (3, 11): datetime.date(2027, 10, 31),
    (3, 12): datetime.date(2028, 10, 31), (3, 13): datetime.date(2029, 10, 31), (3, 14): datetime.date(2030, 10, 31),
}


def _lines_list(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


@register("no_todo", needs="dockerfile")
def no_todo(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """No TODO placeholder is left in the Dockerfile."""
    lines = todo_lines(ctx.dockerfile.text)
    if not lines:
        return Outcome.ok(t("no_todo.ok"))
    return Outcome.fail(t("no_todo.left", count=len(lines), lines=_lines_list(lines)), location=f"Dockerfile:{lines[0]}")


@register("base_image", needs="dockerfile")
def base_image(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The final stage starts FROM an official Python slim image with a pinned tag."""
    instruction = final_base(ctx.dockerfile)
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
    version = python_version_of_tag(tag)
    minimum = python_version(params.get("min_python"))
    if version and minimum and version < minimum:
        # The pinned packages publish no wheel (and no source release) for this Python: pip fails in the build.
        return Outcome.fail(t("base_image.too_old", reference=reference, version=version_text(version), minimum=version_text(minimum)), where)
    end = PYTHON_END_OF_LIFE.get(version) if version else None
    if end and end < _today():
        return Outcome.fail(t("base_image.end_of_life", reference=reference, version=version_text(version), date=end.isoformat()), where)
    return Outcome.ok(t("base_image.ok", reference=reference), where)


def _today() -> datetime.date:
    """Today's date; a function so that tests can move the calendar."""
    return datetime.date.today()


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
    installs = pip_installs(ctx.dockerfile.commands())
    if not installs:
        return Outcome.fail(t("pip_no_cache.no_install"))
    for instruction in installs:
        if not ("--no-cache-dir" in instruction.value or _env_disables_pip_cache(ctx, instruction.line) or _cache_mounted(instruction.value)):
            return Outcome.fail(t("pip_no_cache.keeps_cache", command=instruction.value[:80]), instruction.location)
    requirement = params.get("requirements_file")
    if requirement and not any(reads_requirements(ins.value, requirement) for ins in installs):
        return Outcome.fail(t("pip_no_cache.no_requirements", requirement=requirement), installs[0].location)
    return Outcome.ok(t("pip_no_cache.ok"), installs[0].location)


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
    arguments = instruction.json_args()
    if arguments and " " in arguments[0].strip() and not arguments[0].startswith("/"):
        # `["python app.py"]` is valid JSON, but Docker looks for a program named "python app.py".
        return Outcome.fail(t("exec_form_cmd.one_string", program=arguments[0], **written), instruction.location)
    if arguments is None:
        if instruction.value.strip().startswith("["):
            return Outcome.fail(t("exec_form_cmd.bad_json", **written), instruction.location)
        words = shlex_words(instruction.value)
        suggestion = ", ".join(f'"{w}"' for w in words) or '"python", "flask_api_v2.py"'
        return Outcome.fail(t("exec_form_cmd.shell_form", suggestion=suggestion, **written), instruction.location)
    return Outcome.ok(t("exec_form_cmd.ok", **written), instruction.location)


# -- the build cache: dependencies installed before the code is copied --------------------------


@register("deps_before_code", needs="dockerfile", required_params=("app_file",))
def deps_before_code(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """requirements.txt is copied and installed before the app code is copied (final stage)."""
    app_file, requirements = params["app_file"], params.get("requirements_file", "requirements.txt")
    stage, install = final_install(ctx.dockerfile, requirements)
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


# -- stages --------------------------------------------------------------------------------------


def _earlier(stage: int | None, final: int) -> bool:
    return stage is not None and stage < final


def _stage_label(dockerfile: Dockerfile, stage: int) -> str:
    names = {index: name for name, index in dockerfile.stage_names().items()}
    return names.get(stage, str(stage))


@register("multi_stage", needs="dockerfile")
def multi_stage(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Two or more stages, the final one starting from a clean base and copying from an earlier stage."""
    dockerfile = ctx.dockerfile
    froms = dockerfile.find("FROM")
    if not froms:
        return Outcome.fail(t("multi_stage.no_from"))
    final = len(froms) - 1
    if final == 0:
        return Outcome.fail(t("multi_stage.one_stage", image=image_of(froms[0].value)), froms[0].location)
    parent = dockerfile.stage_parent(final)
    if parent is not None:
        return Outcome.fail(
            t("multi_stage.final_from_builder", stage=_stage_label(dockerfile, parent)), froms[final].location
        )
    copies = [
        ins for ins in dockerfile.final_stage()
        if ins.keyword in ("COPY", "ADD") and copy_from_flag(ins) is not None
    ]
    from_stage = [ins for ins in copies if _earlier(stage_index(dockerfile, copy_from_flag(ins)), final)]
    if not from_stage:
        return Outcome.fail(t("multi_stage.no_copy_from", line=froms[final].line), froms[final].location)
    runs = params.get("builder_runs")
    if runs:
        in_final = [ins for ins in dockerfile.final_stage() if ins.keyword == "RUN" and runs in ins.value]
        if in_final:
            return Outcome.fail(t("multi_stage.runs_in_final", what=runs), in_final[0].location)
        in_builder = [ins for ins in dockerfile.commands() if ins.keyword == "RUN" and ins.stage < final and runs in ins.value]
        if not in_builder:
            return Outcome.fail(t("multi_stage.builder_does_not_run", what=runs), froms[0].location)
    first = from_stage[0]
    return Outcome.ok(
        t("multi_stage.ok", stages=len(froms), copy=f"{first.keyword} {first.value}"[:90], line=first.line),
        first.location,
    )


# -- ENTRYPOINT + CMD --------------------------------------------------------------------------


def _json_list(words: list[str]) -> str:
    return "[" + ", ".join(json.dumps(word) for word in words) + "]"


@register("entrypoint_with_default_args", needs="dockerfile")
def entrypoint_with_default_args(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The final stage has an exec-form ENTRYPOINT that starts the server and an exec-form CMD of default arguments."""
    dockerfile = ctx.dockerfile
    entrypoints = dockerfile.find("ENTRYPOINT", stage_only_final=True)
    cmds = dockerfile.find("CMD", stage_only_final=True)
    if not entrypoints:
        where = cmds[-1].location if cmds else None
        return Outcome.fail(t("entrypoint_with_default_args.no_entrypoint"), where)
    entrypoint = entrypoints[-1]
    program = entrypoint.json_args()
    if program is None:
        return Outcome.fail(
            t("entrypoint_with_default_args.shell_form", value=entrypoint.value, fix=_json_list(shlex_words(entrypoint.value))),
            entrypoint.location,
        )
    if not program:
        return Outcome.fail(t("entrypoint_with_default_args.empty"), entrypoint.location)
    if not cmds:
        return Outcome.fail(t("entrypoint_with_default_args.no_cmd"), entrypoint.location)
    cmd = cmds[-1]
    arguments = cmd.json_args()
    if arguments is None:
        return Outcome.fail(
            t("entrypoint_with_default_args.cmd_shell_form", value=cmd.value, fix=_json_list(shlex_words(cmd.value))),
            cmd.location,
        )
    if arguments and program and arguments[0] == program[0]:
        return Outcome.fail(
            t("entrypoint_with_default_args.cmd_repeats_program", program=_json_list(program), cmd=_json_list(arguments)),
            cmd.location,
        )
    return Outcome.ok(
        t("entrypoint_with_default_args.ok", program=_json_list(program), arguments=_json_list(arguments)),
        entrypoint.location,
    )
