"""BuildKit's plain progress read into build facts, and the choice of builder, without an engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.engine import buildkit
from grader.engine.buildkit import ProgressReader, choose_builder, error_text, failing_base, match_instruction, needs_buildkit
from grader.dockerfile import parse_text
from grader.errors import BuilderUnavailable
from grader.explain import explain_build_error

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "buildkit"  # recorded from Debian's 20.10 CLI

MULTI_STAGE = parse_text(
    "FROM python:3.11-slim AS builder\n"  # 1
    "WORKDIR /app\n"  # 2
    "COPY a b ./\n"  # 3
    "RUN --mount=type=cache,target=/root/.cache/pip echo hi && ls\n"  # 4
    "FROM python:3.11-slim\n"  # 5
    "COPY --from=builder /app /app\n"  # 6
    'RUN echo "line one" && \\\n'  # 7
    "    exit 3\n"  # 8
    'CMD ["python3"]\n'  # 9
)
SINGLE = parse_text('FROM python:3.11-slim\nWORKDIR /app\nCOPY a b ./\nRUN echo built > /built\nCMD ["python3"]\n')


def read(name: str, dockerfile) -> ProgressReader:
    reader = ProgressReader(dockerfile)
    for line in (FIXTURES / f"{name}.txt").read_text().splitlines():
        reader.feed(line)
    return reader


def explain(reader: ProgressReader, dockerfile) -> str:
    failed = reader.failed()
    instruction = failed.instruction if failed else None
    raw = error_text(reader)
    instruction = instruction or failing_base(dockerfile, raw)
    return explain_build_error(raw, instruction, dockerfile, None, len(dockerfile.commands()))


def test_failing_run_step_is_found_on_its_line_in_the_right_stage():
    reader = read("run_fails", MULTI_STAGE)
    failed = reader.failed()
    assert failed.instruction.line == 7 and failed.instruction.stage == 1
    assert "exit code: 3" in failed.error
    assert "line one" in "\n".join(reader.tail)  # the step's own output, without BuildKit's timing
    assert "returned a non-zero code: 3" in error_text(reader)
    assert "code 3" in explain(reader, MULTI_STAGE)


def test_steps_of_both_stages_map_to_their_lines():
    reader = read("run_fails", MULTI_STAGE)
    lines = [v.instruction.line for v in reader.steps() if v.instruction]
    assert {2, 3, 4, 6, 7} <= set(lines)


def test_cached_steps_are_known_by_line_and_from_is_not_counted():
    first, again = read("success_first", SINGLE), read("success_cached", SINGLE)
    assert 4 not in {v.instruction.line for v in first.cached()}  # the RUN step ran
    assert {v.instruction.line for v in again.cached()} == {2, 3, 4}
    assert not any(v.text.startswith("FROM") for v in again.cached())


def test_missing_copy_source_is_named():
    text = explain(read("copy_missing", SINGLE), SINGLE)
    assert "missing.txt" in text


def test_parse_error_names_the_line():
    todo = parse_text('FROM python:3.11-slim\nTODO: copy the files\nCMD ["python3"]\n')
    text = explain(read("parse_error", todo), todo)
    assert "line 2" in text and "TODO" in text


def test_missing_base_image_is_named_from_the_from_line():
    missing = parse_text('FROM labkit-no-such-image:1.0\nCMD ["python3"]\n')
    text = explain(read("no_base", missing), missing)
    assert "labkit-no-such-image:1.0" in text and "could not be pulled" in text


def test_match_instruction_needs_the_text_when_a_stage_has_several_of_a_kind():
    assert match_instruction(MULTI_STAGE, "builder", "RUN --mount=type=cache,target=/root/.cache/pip echo hi && ls").line == 4
    assert match_instruction(MULTI_STAGE, "stage-1", 'RUN echo "line one" &&     exit 3').line == 7
    assert match_instruction(MULTI_STAGE, None, "RUN nothing like it") is None


@pytest.mark.parametrize("text, needed", [
    ("FROM python:3.11-slim\nRUN --mount=type=cache,target=/root/.cache/pip pip install flask\n", True),
    ("FROM python:3.11-slim\nCOPY a b c .\n", True),
    ("FROM python:3.11-slim\nRUN <<EOF\necho hi\nEOF\n", True),
    ("# syntax=docker/dockerfile:1\nFROM python:3.11-slim\n", True),
    ("FROM python:3.11-slim\nCOPY a b c ./\nCOPY . .\nRUN pip install --no-cache-dir flask\n", False),
])
def test_needs_buildkit(text, needed):
    assert needs_buildkit(parse_text(text)) is needed


class Engine:
    """A connected client as grader.engine.session.connect leaves it: its /_ping said whether it is Podman."""

    def __init__(self, podman: bool):
        self._labkit_podman = podman


DOCKER, PODMAN = Engine(False), Engine(True)
CLI = buildkit.BuildkitCli(("/usr/bin/docker", "build"), (("DOCKER_BUILDKIT", "1"),))


def test_auto_follows_buildx_and_the_dockerfile(monkeypatch):
    plain, mount = SINGLE, parse_text("FROM python:3.11-slim\nRUN --mount=type=cache,target=/root/.cache/pip true\n")
    monkeypatch.setattr(buildkit, "find_buildkit_cli", lambda: CLI)
    monkeypatch.setattr(buildkit, "buildx_plugin", lambda: None)
    assert choose_builder("auto", plain, DOCKER) == "classic"  # as this machine's own `docker build`
    assert choose_builder("auto", mount, DOCKER) == "buildkit"  # the Dockerfile needs it and it is here
    assert choose_builder("auto", mount, PODMAN) == "classic"  # Podman's API has no BuildKit
    monkeypatch.setattr(buildkit, "buildx_plugin", lambda: Path("/usr/libexec/docker/cli-plugins/docker-buildx"))
    assert choose_builder("auto", plain, DOCKER) == "buildkit"  # Docker 23+: docker build is BuildKit
    assert choose_builder("classic", mount, DOCKER) == "classic"


def test_buildkit_asked_for_but_absent_is_not_gradable(monkeypatch):
    monkeypatch.setattr(buildkit, "find_buildkit_cli", lambda: None)
    with pytest.raises(BuilderUnavailable, match="--builder classic"):
        choose_builder("buildkit", SINGLE, DOCKER)
