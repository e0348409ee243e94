"""Static Dockerfile checks: every kind passes and fails, failures name the line and the fix."""

from __future__ import annotations

import pytest

from unit_helpers import GOOD_DOCKERFILE, SOLUTION, STARTER
from grader.kinds import registry
from grader.dockerfile import split_image_reference
from grader.dockerfile import parse_text

STATIC_KINDS = ("no_todo", "base_image", "workdir_before_copy", "pip_no_cache", "exec_form_cmd")
DIGEST = "sha256:" + "0123456789abcdef" * 4


def dockerfile(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_every_static_kind_is_registered_and_reads_only_the_dockerfile():
    kinds = registry()
    for kind in STATIC_KINDS:
        assert kind in kinds, kind
        assert kinds[kind].needs == "dockerfile"
        assert kinds[kind].summary, f"{kind} has no docstring summary"


# -- the real files ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", STATIC_KINDS)
def test_solution_dockerfile_passes(kind, make_ctx, run_kind):
    ctx = make_ctx((SOLUTION / "Dockerfile").read_text(encoding="utf-8"))
    outcome = run_kind(kind, ctx)
    assert outcome.passed, outcome.message


def test_starter_fails_no_todo_on_its_first_todo_line(make_ctx, run_kind):
    text = (STARTER / "Dockerfile").read_text(encoding="utf-8")
    todo_lines = [n for n, line in enumerate(text.splitlines(), start=1) if "TODO" in line]
    assert todo_lines, "the starter should hold TODOs"
    first_todo = todo_lines[0]
    outcome = run_kind("no_todo", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == f"Dockerfile:{first_todo}"
    assert f"{len(todo_lines)} TODO line(s)" in outcome.message
    assert ", ".join(map(str, todo_lines)) in outcome.message
    assert "delete the TODO" in outcome.message  # the fix


def test_starter_has_no_instructions_so_other_checks_fail_with_a_direction_not_the_line(make_ctx, run_kind):
    ctx = make_ctx((STARTER / "Dockerfile").read_text(encoding="utf-8"))
    base = run_kind("base_image", ctx)
    assert not base.passed and "no FROM" in base.message and "FROM python:3.11-slim" not in base.message
    cmd = run_kind("exec_form_cmd", ctx)
    assert not cmd.passed and "exec (JSON) form" in cmd.message and '["python", "flask_api_v2.py"]' not in cmd.message
    pip = run_kind("pip_no_cache", ctx)
    assert not pip.passed and "installs the requirements" in pip.message and "pip install --no-cache-dir" not in pip.message
    workdir = run_kind("workdir_before_copy", ctx)
    assert not workdir.passed and "no COPY" in workdir.message and "COPY . /app" not in workdir.message


# -- no_todo -------------------------------------------------------------------------------


def test_no_todo_passes_without_todo(make_ctx, run_kind):
    assert run_kind("no_todo", make_ctx(GOOD_DOCKERFILE)).passed


def test_no_todo_fails_and_names_every_line(make_ctx, run_kind):
    text = dockerfile(
        "FROM python:3.11-slim",
        "WORKDIR /app",
        "# TODO 3: copy the files",
        "COPY . /app",
        "RUN pip install --no-cache-dir -r requirements.txt  # TODO: pin",
    )
    outcome = run_kind("no_todo", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:3"
    assert "2 TODO line(s)" in outcome.message
    assert "line(s) 3, 5" in outcome.message
    assert "delete the TODO" in outcome.message


def test_no_todo_matches_the_word_only(make_ctx, run_kind):
    # "TODOS" or "mastodon" are not placeholders.
    text = dockerfile("FROM python:3.11-slim", "# see TODOS.md and mastodon", "LABEL a=b")
    assert run_kind("no_todo", make_ctx(text)).passed


# -- base_image ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "python:3.11-slim",
        "python:3.12-slim-bookworm",
        "python:3.11.9-slim",
        "docker.io/library/python:3.11-slim",
        f"python:3.11-slim@{DIGEST}",
    ],
)
def test_base_image_passes(reference, make_ctx, run_kind):
    outcome = run_kind("base_image", make_ctx(dockerfile("# base", f"FROM {reference}", "CMD [\"python\"]")))
    assert outcome.passed, outcome.message
    assert outcome.location == "Dockerfile:2"


def test_base_image_passes_with_platform_flag(make_ctx, run_kind):
    outcome = run_kind("base_image", make_ctx(dockerfile("FROM --platform=linux/amd64 python:3.11-slim")))
    assert outcome.passed, outcome.message
    assert "--platform" not in outcome.message


@pytest.mark.parametrize(
    "reference, says",
    [
        ("python", "has no tag"),
        ("python:latest", "uses `latest`"),
        ("python:3.11", "not a slim Python 3 image"),
        ("python:3.11-alpine", "not a slim Python 3 image"),
        ("python:2.7-slim", "not a slim Python 3 image"),
        ("ubuntu:22.04", "not the official `python` image"),
        ("myuser/python:3.11-slim", "not the official `python` image"),
        ("localhost:5000/python:3.11-slim", "not the official `python` image"),
    ],
)
def test_base_image_fails(reference, says, make_ctx, run_kind):
    text = dockerfile("# comment", "", f"FROM {reference}", "WORKDIR /app")
    outcome = run_kind("base_image", make_ctx(text))
    assert not outcome.passed
    assert says in outcome.message
    assert outcome.location == "Dockerfile:3"
    assert "pin" in outcome.message.lower() or "slim" in outcome.message  # the direction
    assert "FROM python:3.11-slim" not in outcome.message  # not the line


def test_base_image_without_from_fails_with_the_fix(make_ctx, run_kind):
    outcome = run_kind("base_image", make_ctx(dockerfile("# nothing yet", "WORKDIR /app")))
    assert not outcome.passed
    assert "no FROM" in outcome.message and "base image" in outcome.message and "FROM python:3.11-slim" not in outcome.message


def test_base_image_tag_pattern_param_is_honoured(make_ctx, run_kind):
    ctx = make_ctx(dockerfile("FROM python:3.11-bookworm"))
    assert not run_kind("base_image", ctx).passed
    assert run_kind("base_image", ctx, tag_pattern=r"^3\.11-").passed


def test_base_image_multi_stage_final_stage_from_build_stage_passes(make_ctx, run_kind):
    text = dockerfile(
        "FROM python:3.11-slim AS build",
        "WORKDIR /app",
        "COPY . /app",
        "FROM build",
        'CMD ["python", "flask_api_v2.py"]',
    )
    outcome = run_kind("base_image", make_ctx(text))
    assert outcome.passed, outcome.message
    assert "python:3.11-slim" in outcome.message


def test_base_image_judges_only_the_final_stage(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11 AS builder", "RUN echo", "FROM python:3.11-slim", "COPY --from=builder /x /x")
    assert run_kind("base_image", make_ctx(text)).passed
    text = dockerfile("FROM python:3.11-slim AS builder", "RUN echo", "FROM ubuntu:22.04")
    outcome = run_kind("base_image", make_ctx(text))
    assert not outcome.passed and outcome.location == "Dockerfile:3"


def test_base_image_multi_stage_resolves_build_stage_to_its_bad_image(make_ctx, run_kind):
    text = dockerfile("FROM python:latest AS build", "RUN echo hi", "FROM build")
    outcome = run_kind("base_image", make_ctx(text))
    assert not outcome.passed
    assert "python:latest" in outcome.message


def test_base_image_multi_stage_failure_points_at_the_stage_line(make_ctx, run_kind):
    text = dockerfile("FROM python:latest AS build", "RUN echo hi", "FROM build")
    outcome = run_kind("base_image", make_ctx(text))
    assert outcome.location == "Dockerfile:1"


def test_base_image_follows_a_chain_of_stages(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim AS a", "FROM a AS b", "FROM b")
    assert run_kind("base_image", make_ctx(text)).passed


def test_base_image_digest_only_reference_is_accepted():
    # Documents the current policy: a digest pins the image even without a tag.
    assert split_image_reference(f"python@{DIGEST}") == ("python", None, DIGEST)


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("python", ("python", None, None)),
        ("python:3.11-slim", ("python", "3.11-slim", None)),
        (f"python:3.11-slim@{DIGEST}", ("python", "3.11-slim", DIGEST)),
        ("localhost:5000/python", ("localhost:5000/python", None, None)),
        ("localhost:5000/python:3.11-slim", ("localhost:5000/python", "3.11-slim", None)),
    ],
)
def test_split_image_reference(reference, expected):
    assert split_image_reference(reference) == expected


# -- workdir_before_copy -------------------------------------------------------------------


def test_workdir_before_copy_passes(make_ctx, run_kind):
    outcome = run_kind("workdir_before_copy", make_ctx(GOOD_DOCKERFILE))
    assert outcome.passed, outcome.message


def test_workdir_after_copy_fails_on_the_copy_line_relative_destination(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "COPY . .", "WORKDIR /app")
    outcome = run_kind("workdir_before_copy", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:2"
    assert "relative" in outcome.message and "land in `/`" in outcome.message
    assert "working directory first" in outcome.message and "WORKDIR /app" not in outcome.message


def test_workdir_missing_with_absolute_destination_fails(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "", "ADD . /app")
    outcome = run_kind("workdir_before_copy", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:3"
    assert "`ADD . /app` comes before any WORKDIR" in outcome.message
    assert "CMD will run from `/`" in outcome.message


def test_workdir_without_any_copy_fails(make_ctx, run_kind):
    outcome = run_kind("workdir_before_copy", make_ctx(dockerfile("FROM python:3.11-slim", "WORKDIR /app")))
    assert not outcome.passed
    assert outcome.location is None
    assert "no COPY" in outcome.message and "COPY . /app" not in outcome.message


def test_workdir_is_per_stage(make_ctx, run_kind):
    text = dockerfile(
        "FROM python:3.11-slim AS build",
        "WORKDIR /src",
        "COPY . .",
        "FROM python:3.11-slim",
        "COPY --from=build /src /app",
    )
    outcome = run_kind("workdir_before_copy", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:5"


def test_workdir_inherited_from_build_stage(make_ctx, run_kind):
    text = dockerfile(
        "FROM python:3.11-slim AS build",
        "WORKDIR /app",
        "COPY . /app",
        "FROM build",
        "COPY extra.py .",
    )
    assert run_kind("workdir_before_copy", make_ctx(text)).passed


# -- pip_no_cache --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        ["RUN pip install --no-cache-dir -r requirements.txt"],
        ["RUN pip3 install --no-cache-dir -r requirements.txt"],
        ["RUN python -m pip install --no-cache-dir -r requirements.txt"],
        ["ENV PIP_NO_CACHE_DIR=1", "RUN pip install -r requirements.txt"],
        ["ENV PIP_NO_CACHE_DIR=true", "RUN python -m pip install -r requirements.txt"],
        ["RUN pip install \\", "    --no-cache-dir \\", "    -r requirements.txt"],
        ["RUN pip install --no-cache-dir --requirement requirements.txt"],
        ["RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt"],  # BuildKit: cache outside the image
    ],
)
def test_pip_no_cache_passes(lines, make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", *lines)
    outcome = run_kind("pip_no_cache", make_ctx(text))
    assert outcome.passed, outcome.message
    run_line = next(n for n, line in enumerate(text.splitlines(), start=1) if line.startswith("RUN"))
    assert outcome.location == f"Dockerfile:{run_line}"


@pytest.mark.parametrize(
    "lines, line",
    [
        (["RUN pip install -r requirements.txt"], 4),
        (["RUN python -m pip install -r requirements.txt"], 4),
        (["RUN python3.11 -m pip install -r requirements.txt"], 4),
        (["RUN pip install \\", "    -r requirements.txt"], 4),
        (["RUN pip install -r requirements.txt", "ENV PIP_NO_CACHE_DIR=1"], 4),  # ENV after pip does not count
        (["ENV PIP_NO_CACHE_DIR=0", "RUN pip install -r requirements.txt"], 5),
        (["RUN pip install --no-cache-dir -r requirements.txt", "RUN pip install gunicorn"], 5),
        (["RUN --mount=type=cache,target=/tmp/other pip install -r requirements.txt"], 4),  # not pip's cache
    ],
)
def test_pip_no_cache_fails_naming_the_run_line(lines, line, make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", *lines)
    outcome = run_kind("pip_no_cache", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == f"Dockerfile:{line}"
    assert "keeps pip's download cache" in outcome.message and "option that turns the cache off" in outcome.message


def test_pip_no_cache_without_pip_install_fails_with_the_fix(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "RUN echo pip", 'CMD ["python"]')
    outcome = run_kind("pip_no_cache", make_ctx(text))
    assert not outcome.passed
    assert "installs the requirements" in outcome.message and "RUN pip install" not in outcome.message


def test_pip_no_cache_requires_the_requirements_file(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "RUN pip install --no-cache-dir flask scikit-learn")
    outcome = run_kind("pip_no_cache", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:2"
    assert "-r requirements.txt" in outcome.message
    # without the param the same Dockerfile passes
    assert run_kind("pip_no_cache", make_ctx(text), params={}).passed


@pytest.mark.parametrize(
    "argument", ["-r /app/requirements.txt", "-r ./requirements.txt", "--requirement=requirements.txt", "-rrequirements.txt"]
)
def test_pip_no_cache_accepts_other_spellings_of_the_requirements_file(argument, make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "WORKDIR /app", "COPY . /app", f"RUN pip install --no-cache-dir {argument}")
    assert run_kind("pip_no_cache", make_ctx(text)).passed


# -- exec_form_cmd -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        ['CMD ["python", "flask_api_v2.py"]'],
        ['ENTRYPOINT ["python", "flask_api_v2.py"]'],
        ['ENTRYPOINT ["python"]', 'CMD ["flask_api_v2.py"]'],
        ['CMD ["python", \\', '     "flask_api_v2.py"]'],
    ],
)
def test_exec_form_cmd_passes(lines, make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "WORKDIR /app", *lines)
    outcome = run_kind("exec_form_cmd", make_ctx(text))
    assert outcome.passed, outcome.message
    assert outcome.location.startswith("Dockerfile:")


def test_exec_form_cmd_shell_form_fails_with_the_json_fix(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "WORKDIR /app", "CMD python flask_api_v2.py")
    outcome = run_kind("exec_form_cmd", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:3"
    assert "shell form" in outcome.message and "JSON array" in outcome.message
    assert '["python", "flask_api_v2.py"]' not in outcome.message


def test_exec_form_cmd_single_quoted_json_fails(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", "CMD ['python', 'x.py']")
    outcome = run_kind("exec_form_cmd", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:2"
    assert "not valid JSON" in outcome.message
    assert "double quotes" in outcome.message


def test_exec_form_cmd_missing_comma_fails(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", 'CMD ["python" "x.py"]')
    outcome = run_kind("exec_form_cmd", make_ctx(text))
    assert not outcome.passed and "not valid JSON" in outcome.message


def test_exec_form_cmd_shell_form_entrypoint_fails(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", 'CMD ["--port", "5001"]', "ENTRYPOINT python flask_api_v2.py")
    outcome = run_kind("exec_form_cmd", make_ctx(text))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:3"
    assert "`ENTRYPOINT python flask_api_v2.py` is shell form" in outcome.message


def test_exec_form_cmd_last_cmd_counts(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim", 'CMD ["python", "a.py"]', "CMD python b.py")
    outcome = run_kind("exec_form_cmd", make_ctx(text))
    assert not outcome.passed and outcome.location == "Dockerfile:3"


def test_exec_form_cmd_only_the_final_stage_counts(make_ctx, run_kind):
    text = dockerfile("FROM python:3.11-slim AS build", 'CMD ["python", "x.py"]', "FROM python:3.11-slim")
    outcome = run_kind("exec_form_cmd", make_ctx(text))
    assert not outcome.passed
    assert "no CMD" in outcome.message


def test_exec_form_cmd_missing_fails_with_the_fix(make_ctx, run_kind):
    outcome = run_kind("exec_form_cmd", make_ctx(dockerfile("FROM python:3.11-slim")))
    assert not outcome.passed
    assert "no CMD" in outcome.message and '["python", "flask_api_v2.py"]' not in outcome.message


# -- parsing details the checks rely on ----------------------------------------------------


def test_continuation_lines_are_joined_with_first_and_last_line():
    parsed = parse_text(dockerfile("FROM python:3.11-slim", "RUN pip install \\", "    --no-cache-dir \\", "    -r requirements.txt", "EXPOSE 5001"))
    run = parsed.find("RUN")[0]
    assert (run.line, run.end_line) == (2, 4)
    assert "--no-cache-dir" in run.value and "-r requirements.txt" in run.value
    assert parsed.find("EXPOSE")[0].location == "Dockerfile:5"


def test_stages_and_comments_are_tracked():
    parsed = parse_text(dockerfile("# c", "ARG V=1", "FROM python:3.11-slim AS build", "RUN x", "FROM build", "CMD [\"y\"]"))
    assert parsed.stage_count() == 2
    assert [i.keyword for i in parsed.final_stage()] == ["FROM", "CMD"]
    assert parsed.instructions[0].keyword == "COMMENT" and parsed.instructions[0].stage == -1
    assert parsed.find("ARG")[0].stage == -1
    assert parsed.find("CMD")[0].json_args() == ["y"]
