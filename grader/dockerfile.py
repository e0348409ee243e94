"""Reads a learner's Dockerfile into instructions with 1-based line numbers, comments kept."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser

from grader.i18n import t

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
