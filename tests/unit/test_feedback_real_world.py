"""Messages right on the mistakes real-world Dockerfiles make (issue 10, part 5): a JSON CMD whose one
string is a whole command line, a shell wrapped in exec form, exit code 127, and a base image whose
Python is too old for the pinned packages or past its end of life, linked to the pip failure it causes."""

from __future__ import annotations

import datetime

import pytest

from feedback_answers import answers_in, solution_answers
from unit_helpers import GOOD_DOCKERFILE, REPO_ROOT, built, spec_of
from grader.checks import dockerfile_text
from grader.kinds import registry
from grader.context import BuildResult, Context
from grader.dockerfile import parse_text
from grader.i18n import set_language
from grader.explain import describe_exit

SOLUTION = (REPO_ROOT / "solutions" / "exercise-01" / "Dockerfile").read_text(encoding="utf-8")
JSON_CMD = 'CMD ["python", "flask_api_v2.py"]'


def check(exercise, kind: str, ctx: Context, **params):
    merged = {**spec_of(exercise, kind).params, **params}
    return registry()[kind].func(ctx, merged)


def dockerfile_ctx(exercise, text: str, **fields) -> Context:
    ctx = Context(exercise=exercise, submission=REPO_ROOT / "nowhere", dockerfile=parse_text(text))
    for name, value in fields.items():
        setattr(ctx, name, value)
    return ctx


# -- a JSON CMD whose single string is the whole command line ------------------------------------


@pytest.mark.parametrize("language", ["en", "ko"])
def test_one_string_json_cmd_fails_exec_form_because_it_cannot_start(exercise, language):
    set_language(language)
    one_string = 'CMD ["python flask_api_v2.py"]'
    text = SOLUTION.replace(JSON_CMD, one_string)
    outcome = check(exercise, "exec_form_cmd", dockerfile_ctx(exercise, text))
    assert not outcome.passed and outcome.location == f"Dockerfile:{text.splitlines().index(one_string) + 1}"
    assert "`python flask_api_v2.py`" in outcome.message  # the program Docker would look for
    assert ("cannot start" in outcome.message) if language == "en" else ("시작되지 못합니다" in outcome.message)
    assert answers_in(outcome.message, solution_answers("exercise-01")) == []


def test_a_program_path_with_a_space_is_not_a_command_line(exercise):
    text = SOLUTION.replace(JSON_CMD, 'CMD ["/opt/my app/run", "--port", "5001"]')
    assert check(exercise, "exec_form_cmd", dockerfile_ctx(exercise, text)).passed


# -- ["sh", "-c", "…"]: JSON already, a shell in front all the same -------------------------------


def test_a_shell_wrapped_in_exec_form_is_json_and_told_so(exercise):
    text = SOLUTION.replace(JSON_CMD, 'CMD ["sh", "-c", "python flask_api_v2.py"]')
    ctx = dockerfile_ctx(exercise, text, build=built())
    ctx.image = {"Config": {"Cmd": ["sh", "-c", "python flask_api_v2.py"]}}
    assert check(exercise, "exec_form_cmd", ctx).passed  # it is exec form: no "write it as JSON" here
    outcome = check(exercise, "image_exec_form", ctx)
    assert not outcome.passed
    assert "shell wrapped in exec form" in outcome.message and "not a missing JSON" in outcome.message
    assert "PID 1" in outcome.message and "SIGTERM" in outcome.message
    assert "Write CMD as a JSON array" not in outcome.message


def test_real_shell_form_still_gets_the_json_advice(exercise):
    text = SOLUTION.replace(JSON_CMD, "CMD python flask_api_v2.py")
    ctx = dockerfile_ctx(exercise, text, build=built())
    ctx.image = {"Config": {"Cmd": ["/bin/sh", "-c", "python flask_api_v2.py"]}}
    outcome = check(exercise, "image_exec_form", ctx)
    assert not outcome.passed and "JSON array" in outcome.message and "wrapped" not in outcome.message


def test_gunicorn_behind_a_json_shell_is_told_to_drop_the_shell(exercise_spec_03):
    from grader.checks.container import shell_written_as_json

    text = (REPO_ROOT / "solutions" / "exercise-03" / "Dockerfile").read_text(encoding="utf-8")
    last = text.splitlines()[-1]
    wrapped = dockerfile_ctx(exercise_spec_03, text.replace(last, 'CMD ["sh", "-c", "gunicorn --bind 0.0.0.0:5001 flask_api_v2:app"]'))
    shell = dockerfile_ctx(exercise_spec_03, text.replace(last, "CMD gunicorn --bind 0.0.0.0:5001 flask_api_v2:app"))
    assert shell_written_as_json(wrapped) and not shell_written_as_json(shell)


# -- exit code 127 ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ko"])
def test_exit_code_127_says_the_command_is_not_in_the_image(language):
    set_language(language)
    text = describe_exit({"ExitCode": 127}, "/bin/sh: 1: gunicorn: not found")
    assert "127" in text and "requirements.txt" in text
    assert ("not in the image" in text) if language == "en" else ("이미지에 없습니다" in text)
    assert "gunicorn: not found" in text  # the container's own last words still follow


def test_other_exit_codes_keep_their_plain_wording():
    set_language("en")
    assert "exited with code 3" in describe_exit({"ExitCode": 3}, "")


# -- a base image whose Python is too old, or past its end of life --------------------------------


@pytest.fixture
def on(monkeypatch):
    """Move the calendar the end-of-life check reads."""

    def move(day: str) -> None:
        monkeypatch.setattr(dockerfile_text, "_today", lambda: datetime.date.fromisoformat(day))

    return move


@pytest.mark.parametrize("tag, minimum, day, verdict", [
    ("3.11-slim", "3.11", "2026-12-07", "ok"),
    ("3.12-slim-bookworm", "3.11", "2026-12-07", "ok"),
    ("3.8-slim", "3.11", "2026-12-07", "too old"),  # the pins need 3.11: said before end of life is
    ("3.10-slim", "3.11", "2026-12-07", "too old"),
    ("3.10-slim", None, "2026-12-07", "end of life"),  # 3.10's security fixes ended on 2026-10-31
    ("3.10-slim", None, "2026-06-01", "ok"),
    ("3.11-slim", "3.11", "2027-11-01", "end of life"),
])
def test_base_image_python_too_old_or_past_end_of_life(exercise, on, tag, minimum, day, verdict):
    set_language("en")
    on(day)
    text = GOOD_DOCKERFILE.replace("FROM python:3.11-slim", f"FROM python:{tag}")
    outcome = check(exercise, "base_image", dockerfile_ctx(exercise, text), min_python=minimum)
    if verdict == "ok":
        assert outcome.passed, outcome.message
    elif verdict == "too old":
        assert not outcome.passed and "older than the pinned packages" in outcome.message and "No matching distribution" in outcome.message
    else:
        assert not outcome.passed and "end of life" in outcome.message and "devguide.python.org" in outcome.message


def test_labs_yaml_pins_the_minimum_python_its_requirements_need(exercises):
    for exercise in exercises:
        for check_spec in exercise.checks:
            if check_spec.kind in ("base_image", "build") and exercise.id != "exercise-06":
                assert check_spec.params.get("min_python") == "3.11", (exercise.id, check_spec.id)


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_pip_failure_on_a_too_old_python_names_the_base_image(exercise, language):
    set_language(language)
    text = GOOD_DOCKERFILE.replace("FROM python:3.11-slim", "FROM python:3.8-slim")
    pip_line = next(i for i in parse_text(text).find("RUN") if "pip install" in i.value)
    failed = BuildResult(ok=False, error="step 4/6 `RUN pip install …` (Dockerfile:4) failed with exit code 1", instruction=pip_line)
    outcome = check(exercise, "build", dockerfile_ctx(exercise, text, build=failed))
    assert not outcome.passed and outcome.message.startswith("step 4/6")
    assert "3.8" in outcome.message and "3.11" in outcome.message
    assert ("that is why pip found no matching version" in outcome.message) if language == "en" else ("pip가 맞는 버전을 찾지 못했습니다" in outcome.message)


def test_a_pip_failure_on_a_recent_python_gets_no_such_note(exercise):
    set_language("en")
    pip_line = next(i for i in parse_text(GOOD_DOCKERFILE).find("RUN") if "pip install" in i.value)
    failed = BuildResult(ok=False, error="the build failed", instruction=pip_line)
    outcome = check(exercise, "build", dockerfile_ctx(exercise, GOOD_DOCKERFILE, build=failed))
    assert outcome.message == "the build failed"


@pytest.fixture
def exercise_spec_03(exercises):
    return next(e for e in exercises if e.id == "exercise-03")
