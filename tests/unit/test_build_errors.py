"""The engine's build errors and container exits, explained to a beginner (pure helpers, no engine)."""

from __future__ import annotations

from grader.context import BuildResult
from grader.dockerfile import parse_text
from grader.engine.build_context import instruction_named_by_error
from grader.explain import describe_exit, explain_build_error

DOCKERFILE = parse_text(
    "FROM python:3.11-slim\n"  # 1
    "WORKDIR /app\n"  # 2
    "COPY model.pkl /app/\n"  # 3
    "RUN --mount=type=cache,target=/root/.cache pip install -r requirements.txt\n"  # 4
    "RUN exit 3\n"  # 5
    'CMD ["python", "flask_api_v2.py"]\n'  # 6
)
COMMANDS = DOCKERFILE.commands()

TODO_DOCKERFILE = parse_text("FROM python:3.11-slim\nWORKDIR /app\nTODO: copy the files\nCOPY . /app\n")

HEREDOC_DOCKERFILE = parse_text(
    "FROM python:3.11-slim\n"  # 1
    "WORKDIR /app\n"  # 2
    "COPY . /app\n"  # 3
    "RUN <<EOF\n"  # 4
    "pip install --no-cache-dir -r requirements.txt\n"  # 5
    "EOF\n"  # 6
)


def explain(error: str, step: int | None = None, dockerfile=DOCKERFILE) -> str:
    instruction = dockerfile.commands()[step - 1] if step else None
    return explain_build_error(error, instruction, dockerfile, step, len(dockerfile.commands()))


def test_buildkit_mount_is_explained_with_the_plain_fix():
    text = explain("the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/", step=4)
    assert "BuildKit" in text and "classic builder" in text
    assert "--builder buildkit" in text and "plain `RUN pip install`" in text  # two ways out, the learner picks
    assert "step 4/6" in text and "(Dockerfile:4)" in text


def test_buildkit_mount_without_step():
    text = explain("the --mount option requires BuildKit")
    assert text.startswith("a RUN uses BuildKit-only syntax")


def test_parse_error_on_todo_names_the_line_and_the_todo():
    text = explain("dockerfile parse error line 3: unknown instruction: TODO:", dockerfile=TODO_DOCKERFILE)
    assert "Dockerfile line 3" in text
    assert "`TODO: copy the files`" in text
    assert "unknown instruction: TODO:" in text
    assert "leftover TODO" in text


def test_parse_error_in_current_engine_wording_names_the_line():
    text = explain("dockerfile parse error on line 3: unknown instruction: TODO: (did you mean copy?)", dockerfile=TODO_DOCKERFILE)
    assert "line 3" in text and "leftover TODO" in text


def test_parse_error_location_is_found_in_both_wordings():
    for error in ("dockerfile parse error line 3: unknown instruction: TODO:", "dockerfile parse error on line 3: unknown instruction: TODO:"):
        instruction = instruction_named_by_error(error, TODO_DOCKERFILE)
        assert instruction is not None and instruction.location == "Dockerfile:3"
    assert instruction_named_by_error("no line here", TODO_DOCKERFILE) is None
    assert instruction_named_by_error("parse error line 3: x", None) is None


def test_heredoc_parse_error_on_the_heredoc_line_explains_buildkit():
    text = explain("dockerfile parse error line 4: unknown instruction: <<EOF", dockerfile=HEREDOC_DOCKERFILE)
    assert "Dockerfile line 4" in text and "`RUN <<EOF`" in text
    assert "Heredocs" in text and "BuildKit" in text and "&&" in text


def test_unknown_instruction_without_line_mentions_heredocs():
    text = explain("unknown instruction: PIP")
    assert "`PIP` is not a Dockerfile instruction" in text and "heredoc" in text


def test_heredoc_body_line_error_explains_buildkit():
    text = explain("dockerfile parse error line 5: unknown instruction: PIP", dockerfile=HEREDOC_DOCKERFILE)
    assert "Heredoc" in text or "heredoc" in text


def test_pull_access_denied_names_the_image_and_the_fix():
    dockerfile = parse_text("FROM nosuchimage\nWORKDIR /app\n")
    error = "pull access denied for nosuchimage, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
    text = explain(error, step=1, dockerfile=dockerfile)
    assert "base image `nosuchimage`" in text
    assert "docker pull nosuchimage" in text
    assert "pull access denied" in text


def test_pull_access_denied_without_step_still_names_the_image():
    text = explain("pull access denied for nosuchimage, repository does not exist or may require 'docker login'")
    assert "docker pull nosuchimage" in text


def test_copy_missing_file_names_the_file_and_dockerignore():
    error = "COPY failed: file not found in build context or excluded by .dockerignore: stat model.pkl: file does not exist"
    text = explain(error, step=3)
    assert "cannot find `model.pkl`" in text
    assert ".dockerignore" in text
    assert "step 3/6 `COPY model.pkl /app/` (Dockerfile:3)" in text


def test_copy_missing_without_step():
    error = "COPY failed: file not found in build context or excluded by .dockerignore: stat model.pkl: file does not exist"
    assert explain(error).startswith("a COPY cannot find `model.pkl`")


def test_non_zero_exit_names_the_step_and_code():
    text = explain("The command '/bin/sh -c exit 3' returned a non-zero code: 3", step=5)
    assert "exit code 3" in text
    assert "step 5/6 `RUN exit 3` (Dockerfile:5)" in text
    assert "read the last lines of its output" in text


def test_unrecognised_error_is_passed_through():
    text = explain("no space left on device", step=5)
    assert text.startswith("the build failed at step 5/6")
    assert "no space left on device" in text


# -- the build check reads the BuildResult -------------------------------------------------


def test_build_check_reports_failure_at_the_step(make_ctx, run_kind):
    failure = BuildResult(
        ok=False, error="step 5/6 `RUN exit 3` (Dockerfile:5) failed with exit code 3", step=5,
        instruction=COMMANDS[4], log_tail="Step 5/6 : RUN exit 3\n ---> Running in 1a2b",
    )
    outcome = run_kind("build", make_ctx(build=failure))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:5"
    assert "exit code 3" in outcome.message and "Step 5/6" in outcome.detail


def test_build_check_passes_with_cache_summary(make_ctx, run_kind):
    outcome = run_kind("build", make_ctx(build=BuildResult(ok=True, image_id="sha256:x", duration=12.34, cached_steps=4, total_steps=6)))
    assert outcome.passed and "12.3 s" in outcome.message and "4/6 steps from cache" in outcome.message


# -- describe_exit -------------------------------------------------------------------------


def test_describe_exit_oom():
    text = describe_exit({"ExitCode": 137, "OOMKilled": True, "Running": False}, "")
    assert "OOM-killed" in text and "more memory than allowed" in text
    assert "printed nothing" in text


def test_describe_exit_code_1_with_logs():
    logs = 'Traceback (most recent call last):\n  File "/app/flask_api_v2.py", line 33\nFileNotFoundError: iris_binary_model.pkl'
    text = describe_exit({"ExitCode": 1, "OOMKilled": False}, logs)
    assert "exited with code 1" in text
    assert text.endswith("last log lines:\n" + logs)


def test_describe_exit_137_without_oom():
    text = describe_exit({"ExitCode": 137, "OOMKilled": False}, "")
    assert "killed (exit code 137)" in text and "OOM" not in text


def test_describe_exit_includes_engine_error():
    text = describe_exit({"ExitCode": 127, "Error": 'exec: "pyhton": executable file not found in $PATH'}, "")
    assert "exited with code 127" in text and "pyhton" in text


def test_several_copy_sources_without_a_slash_name_both_ways_out():
    dockerfile = parse_text("FROM python:3.11-slim\nCOPY a b .\n")
    text = explain("When using COPY with more than one source file, the destination must be a directory and end with a /", step=2, dockerfile=dockerfile)
    assert "`/`" in text and "--builder buildkit" in text and "(Dockerfile:2)" in text
