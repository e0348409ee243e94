"""Reads a learner's Dockerfile into instructions with 1-based line numbers, comments kept.

Below the parser: what several check families read from the text (shell words, pip installs,
the base image, which COPY brought a file), kept here once so that no check imports another.
"""

from __future__ import annotations

import fnmatch
import io
import json
import posixpath
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from grader.i18n import t
from grader.text import shorten

# A Dockerfile larger than this is not a lab answer; refusing it keeps parsing and linting bounded.
MAX_DOCKERFILE_BYTES = 256 * 1024
MAX_DOCKERFILE_LINES = 1000


class DockerfileError(Exception):
    """The Dockerfile is missing or cannot be read as text."""


@dataclass(frozen=True)
class Instruction:
    """One instruction (or comment) as written, continuation lines joined."""

    keyword: str  # upper case, e.g. "RUN"; "COMMENT" for comment lines
    value: str  # the arguments, continuation lines joined
    line: int  # 1-based first line
    end_line: int  # 1-based last line
    stage: int  # index of the build stage (FROM) it belongs to, -1 before the first FROM

    @property
    def location(self) -> str:
        """Where it is, as learners read it: Dockerfile:LINE."""
        return f"Dockerfile:{self.line}"

    def json_args(self) -> list[str] | None:
        """The arguments as a list when written in exec (JSON) form, else None."""
        text = self.value.strip()
        if not text.startswith("["):
            return None
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
        return None


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: its text, its lines and its instructions in order."""

    path: Path
    text: str
    instructions: tuple[Instruction, ...]

    @property
    def lines(self) -> list[str]:
        """The raw lines, for messages that quote them."""
        return self.text.splitlines()

    def commands(self) -> list[Instruction]:
        """Instructions without comments, in build order (the builder's Step N is index N-1)."""
        return [ins for ins in self.instructions if ins.keyword != "COMMENT"]

    def stage_count(self) -> int:
        """Number of FROM stages."""
        return sum(1 for ins in self.instructions if ins.keyword == "FROM")

    def final_stage(self) -> list[Instruction]:
        """Instructions of the last stage, the one that becomes the image."""
        last = self.stage_count() - 1
        return [ins for ins in self.commands() if ins.stage == last]

    def find(self, keyword: str, stage_only_final: bool = False) -> list[Instruction]:
        """Instructions with this keyword, optionally only in the final stage."""
        pool = self.final_stage() if stage_only_final else self.commands()
        return [ins for ins in pool if ins.keyword == keyword]

    def stage_names(self) -> dict[str, int]:
        """`FROM image AS name` -> stage index, names lower-cased as the builder treats them."""
        names = {}
        for instruction in self.find("FROM"):
            words = instruction.value.split()
            if len(words) >= 3 and words[-2].lower() == "as":
                names[words[-1].lower()] = instruction.stage
        return names

    def stage_parent(self, stage: int) -> int | None:
        """The earlier stage a stage starts FROM, or None when it starts from an image."""
        froms = self.find("FROM")
        if not 0 <= stage < len(froms):
            return None
        parent = self.stage_names().get(image_of(froms[stage].value).lower())
        return parent if parent is not None and parent < stage else None

    def base_of_stage(self, stage: int) -> Instruction | None:
        """The FROM that names the image a stage really starts from, following `FROM <stage>` chains."""
        froms = self.find("FROM")
        if not 0 <= stage < len(froms):
            return None
        while (parent := self.stage_parent(stage)) is not None:
            stage = parent
        return froms[stage]

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, stripped."""
        lines = self.lines
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def image_of(from_value: str) -> str:
    """The image reference of a FROM value (drops --platform and `AS name`)."""
    words = [w for w in from_value.split() if not w.startswith("--")]
    return words[0] if words else ""


def parse_text(text: str, path: Path = Path("Dockerfile")) -> Dockerfile:
    """Parse Dockerfile text."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")), env_replace=False)
    instructions = []
    stage = -1
    for item in parser.structure:
        keyword = item["instruction"].upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(
            Instruction(
                keyword=keyword,
                value=item["value"],
                line=item["startline"] + 1,
                end_line=item["endline"] + 1,
                stage=stage,
            )
        )
    return Dockerfile(path=path, text=text, instructions=tuple(instructions))


def load(folder: Path, name: str = "Dockerfile") -> Dockerfile:
    """Read and parse FOLDER/NAME, or raise DockerfileError saying what is wrong and how to fix it."""
    path = folder / name
    if not path.is_file():
        raise DockerfileError(t("dockerfile.missing", name=name, folder=folder, path=path))
    size = path.stat().st_size
    if size > MAX_DOCKERFILE_BYTES:
        raise DockerfileError(t("dockerfile.too_big", path=path, size=f"{size:,}"))
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DockerfileError(t("dockerfile.utf16", path=path))
    if b"\x00" in raw:
        raise DockerfileError(t("dockerfile.binary", path=path))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DockerfileError(t("dockerfile.not_utf8", path=path, byte=error.start)) from None
    if not text.strip():
        raise DockerfileError(t("dockerfile.empty", path=path))
    line_count = text.count("\n") + 1
    if line_count > MAX_DOCKERFILE_LINES:
        raise DockerfileError(t("dockerfile.too_many_lines", path=path, lines=f"{line_count:,}", limit=f"{MAX_DOCKERFILE_LINES:,}"))
    return parse_text(text, path)


# -- reading the text: what several check families need --------------------------------------

PIP_INSTALL = re.compile(r"\bpip3?(\.\d+)?\s+install\b|\bpython3?(\.\d+)?\s+-m\s+pip\s+install\b")
OFFICIAL_PYTHON = ("python", "library/python", "docker.io/library/python", "index.docker.io/library/python")
# The shells a start command may be wrapped in (`/bin/sh -c "..."`, what shell-form CMD becomes): the one list.
SHELLS = ("sh", "/bin/sh", "bash", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash", "dash", "/bin/dash")


def runs_in_shell(argv: list[str]) -> bool:
    """True when a start command is a shell running a string (`sh -c ...`): shell form, or a shell written as JSON."""
    return len(argv) >= 2 and argv[0] in SHELLS and argv[1] == "-c"


def shlex_words(text: str) -> list[str]:
    """Shell words of a command, falling back to a plain split on unbalanced quotes."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def quote_instruction(instruction: Instruction, limit: int = 70) -> str:
    """`KEYWORD value` of an instruction, cut to LIMIT characters, to quote it in a message."""
    return shorten(f"{instruction.keyword} {instruction.value}", limit)


def last_of(dockerfile: Dockerfile | None, *keywords: str) -> Instruction | None:
    """The final stage's last instruction of the first of KEYWORDS it holds (e.g. ENTRYPOINT, else CMD), or None."""
    for keyword in keywords if dockerfile is not None else ():
        found = dockerfile.find(keyword, stage_only_final=True)
        if found:
            return found[-1]
    return None


def location_of(dockerfile: Dockerfile | None, *keywords: str) -> str | None:
    """`Dockerfile:N` of last_of(dockerfile, *keywords), None when there is none."""
    instruction = last_of(dockerfile, *keywords)
    return instruction.location if instruction else None


def instruction_naming(dockerfile: Dockerfile | None, keywords: tuple[str, ...], name: str) -> Instruction | None:
    """The final stage's last instruction among KEYWORDS whose text holds NAME (where a setting is made)."""
    if dockerfile is None:
        return None
    found = [ins for ins in dockerfile.final_stage() if ins.keyword in keywords and name in ins.value]
    return found[-1] if found else None


def declared_args(dockerfile: Dockerfile | None) -> dict[str, Instruction]:
    """ARG name -> its (last) declaration."""
    declared: dict[str, Instruction] = {}
    for instruction in dockerfile.find("ARG") if dockerfile else []:
        for word in shlex_words(instruction.value):
            declared[word.split("=", 1)[0]] = instruction
    return declared


# -- the base image ------------------------------------------------------------------------


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


def final_base(dockerfile: Dockerfile) -> Instruction | None:
    """The FROM naming the image the final stage really starts from (stage references followed), or None."""
    return dockerfile.base_of_stage(dockerfile.stage_count() - 1)


def python_version(text: Any) -> tuple[int, int] | None:
    """(3, 11) for `3.11`, `3.11.9-slim-bookworm` or 3.11; None when the text starts with no version."""
    match = re.match(r"^(\d+)\.(\d+)", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def version_text(version: tuple[int, int]) -> str:
    """`3.11` for (3, 11)."""
    return f"{version[0]}.{version[1]}"


def python_version_of_tag(tag: str | None) -> tuple[int, int] | None:
    """(3, 11) for `3.11-slim`, `3.11.9-slim-bookworm`; None when the tag names no version."""
    return python_version(tag)


def base_python_too_old(dockerfile: Dockerfile | None, minimum: Any) -> tuple[str, str] | None:
    """(the base's Python, the minimum) when the final stage's official Python base is older than `minimum`."""
    if dockerfile is None or not minimum:
        return None
    instruction = final_base(dockerfile)
    if instruction is None:
        return None
    repo, tag, _ = split_image_reference(image_of(instruction.value) or "")
    version, wanted = python_version_of_tag(tag), python_version(minimum)
    if repo.lower() in OFFICIAL_PYTHON and version and wanted and version < wanted:
        return version_text(version), version_text(wanted)
    return None


# -- pip installs and copies -----------------------------------------------------------------


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


def pip_installs(instructions: list[Instruction]) -> list[Instruction]:
    """The RUN instructions among these that run `pip install`."""
    return [ins for ins in instructions if ins.keyword == "RUN" and PIP_INSTALL.search(ins.value)]


def dependency_install(instructions: list[Instruction], requirements: str) -> Instruction | None:
    """The RUN that installs the requirements file (the first pip install when none names it)."""
    installs = pip_installs(instructions)
    reading = [ins for ins in installs if reads_requirements(ins.value, requirements)]
    return (reading or installs or [None])[0]


def final_install(dockerfile: Dockerfile, requirements: str) -> tuple[list[Instruction], Instruction | None]:
    """The final stage's instructions, and the RUN among them that installs REQUIREMENTS (see dependency_install)."""
    stage = dockerfile.final_stage()
    return stage, dependency_install(stage, requirements)


def copy_words(instruction: Instruction) -> list[str]:
    """The words of a COPY/ADD: its JSON list, else its shell words."""
    words = instruction.json_args()
    return words if words is not None else shlex_words(instruction.value)


def copy_sources(instruction: Instruction) -> list[str]:
    """The source arguments of a COPY/ADD (flags and destination left out)."""
    return [w for w in copy_words(instruction) if not w.startswith("--")][:-1]


def context_sources(instruction: Instruction) -> list[str] | None:
    """The build-context sources of a COPY/ADD, or None when it copies from a stage or an image."""
    if any(word.startswith("--from") for word in copy_words(instruction)):
        return None
    return copy_sources(instruction)


def copy_from_flag(instruction: Instruction) -> str | None:
    """The `--from=` value of a COPY/ADD, or None."""
    for word in shlex_words(instruction.value):
        if word.startswith("--from="):
            return word.split("=", 1)[1]
        if not word.startswith("--"):
            break
    return None


def stage_index(dockerfile: Dockerfile, reference: str) -> int | None:
    """The stage a `--from=` value names (by name or number), or None for an image."""
    if reference.isdigit():
        number = int(reference)
        return number if number < dockerfile.stage_count() else None
    return dockerfile.stage_names().get(reference.lower())


def brings(instruction: Instruction, filename: str) -> bool:
    """True when a COPY/ADD of the build context puts FILENAME (at the context's root) into the image."""
    if instruction.keyword not in ("COPY", "ADD"):
        return False
    for source in context_sources(instruction) or []:
        cleaned = source.strip()
        while cleaned.startswith("./"):
            cleaned = cleaned[2:]
        cleaned = cleaned.rstrip("/")
        # `.` (or `./`, or `*`) is the whole context, the file included.
        if cleaned in ("", ".") or fnmatch.fnmatchcase(filename, cleaned):
            return True
    return False


def first_code_copy(instructions: list[Instruction], app_file: str) -> Instruction | None:
    """The first COPY/ADD that brings the app's code into the image."""
    return next((ins for ins in instructions if brings(ins, app_file)), None)


def copy_bringing(dockerfile: Dockerfile | None, path: str) -> Instruction | None:
    """The final stage's COPY/ADD that most likely put `path` into the image."""
    if dockerfile is None:
        return None
    base = posixpath.basename(path.rstrip("/"))
    candidates = [ins for ins in dockerfile.final_stage() if ins.keyword in ("COPY", "ADD")]
    for instruction in candidates:
        if any(posixpath.basename(source.rstrip("/")) == base for source in copy_sources(instruction)):
            return instruction
    for instruction in candidates:
        for source in copy_sources(instruction):
            folder = source.rstrip("/") or "/"
            if source in (".", "./") or source.endswith("/") or path.startswith(folder + "/") or "*" in source:
                return instruction
    return None
