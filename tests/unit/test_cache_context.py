"""exercise-02's checks (grader/checks/dockerfile_text.py, build.py, image_contents.py) without an engine: a fake session and recorded history."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeSession
from unit_helpers import REPO_ROOT, built, spec_of
from grader import spec
from grader.kinds import registry
from grader.checks.image_contents import dockerignore_entry
from grader.dockerfile import brings
from grader.context import BuildResult, Context
from grader.dockerfile import parse_text

SOLUTION = REPO_ROOT / "solutions" / "exercise-02"
FIRST, REBUILT = "sha256:" + "1" * 64, "sha256:" + "2" * 64
SECRET = "labkit-fake-secret-7f3a"

GOOD = """\
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
EXPOSE 5001
CMD ["python", "flask_api_v2.py"]
"""
CODE_FIRST = """\
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -r requirements.txt
EXPOSE 5001
CMD ["python", "flask_api_v2.py"]
"""


# -- a fake engine session ------------------------------------------------------------------


def step(image_id: str, created_by: str, size: int = 0) -> dict:
    """One `docker history` entry."""
    return {"Id": image_id, "CreatedBy": created_by, "Size": size, "Tags": None, "Comment": ""}


def history(pip_id: str, top: str) -> list[dict]:
    """A history as the engine gives it: newest first."""
    return [
        step(top, '/bin/sh -c #(nop)  CMD ["python" "flask_api_v2.py"]'),
        step(top[:-1] + "c", "/bin/sh -c #(nop) COPY dir:abc in . ", 6000),
        step(pip_id, "/bin/sh -c pip install --no-cache-dir -r requirements.txt", 277_000_000),
        step("sha256:" + "a" * 64, "/bin/sh -c #(nop) COPY file:def in . ", 200),
        step("sha256:" + "b" * 64, "/bin/sh -c #(nop) WORKDIR /app"),
        step("sha256:" + "0" * 64, ""),
    ]


@pytest.fixture(scope="module")
def exercise02(exercises):
    found = spec.find_exercise(exercises, "exercise-02")
    assert found is not None
    return found


@pytest.fixture
def ctx_for(exercise02):
    def make(text: str = GOOD, session=None, submission: Path = SOLUTION, image: dict | None = None) -> Context:
        ctx = Context(exercise=exercise02, submission=submission, dockerfile=parse_text(text))
        ctx.session = session
        ctx.build = built()
        ctx.build.image_id = FIRST
        ctx.build_dir = submission
        ctx.image = image if image is not None else {"Config": {"Env": ["PATH=/usr/bin", "LANG=C.UTF-8"]}}
        return ctx

    return make


def run(exercise02, kind: str, ctx: Context, **overrides):
    params = {**spec_of(exercise02, kind).params, **overrides}
    return registry()[kind].func(ctx, params)


# -- which COPY brings what -------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, app, requirements",
    [
        ("COPY . .", True, True),
        ("COPY ./ /app/", True, True),
        ("COPY requirements.txt .", False, True),
        ("COPY requirements*.txt ./", False, True),
        ('COPY ["flask_api_v2.py", "./"]', True, False),
        ("COPY *.py /app/", True, False),
        ("ADD --chown=app:app . /app", True, True),
        ("COPY --from=builder /app /app", False, False),
        ("COPY iris_binary_model.pkl .", False, False),
        ("RUN cp . /app", False, False),
    ],
)
def test_brings_tells_which_files_a_copy_puts_in(line, app, requirements):
    (instruction,) = parse_text(f"FROM python:3.11-slim\n{line}\n").commands()[1:]
    assert brings(instruction, "flask_api_v2.py") is app
    assert brings(instruction, "requirements.txt") is requirements


def test_dockerignore_entry_is_the_name_at_the_context_root():
    assert [dockerignore_entry(p) for p in ("/app/.git", "/app/venv", "/app/__pycache__", "/app/.env")] == [
        ".git", "venv", "__pycache__", ".env",
    ]


# -- deps_before_code ----------------------------------------------------------------------------


def test_deps_before_code_passes_when_requirements_come_first(exercise02, ctx_for):
    outcome = run(exercise02, "deps_before_code", ctx_for(GOOD))
    assert outcome.passed and outcome.location == "Dockerfile:4"


def test_deps_before_code_names_the_copy_that_comes_first(exercise02, ctx_for):
    outcome = run(exercise02, "deps_before_code", ctx_for(CODE_FIRST))
    assert not outcome.passed
    assert outcome.location == "Dockerfile:3"
    assert "`COPY . .` (line 3)" in outcome.message and "line 4" in outcome.message
    assert "reinstall" in outcome.message and "COPY requirements.txt ." not in outcome.message  # a direction, not the line


def test_deps_before_code_only_the_app_file_copied_early_also_fails(exercise02, ctx_for):
    text = GOOD.replace("COPY requirements.txt .\n", "COPY requirements.txt flask_api_v2.py ./\n")
    outcome = run(exercise02, "deps_before_code", ctx_for(text))
    assert not outcome.passed and outcome.location == "Dockerfile:3"


def test_deps_before_code_needs_the_requirements_copied_before_the_install(exercise02, ctx_for):
    text = GOOD.replace("COPY requirements.txt .\n", "")
    outcome = run(exercise02, "deps_before_code", ctx_for(text))
    assert not outcome.passed and outcome.location == "Dockerfile:3"
    assert "above the install" in outcome.message and "COPY requirements.txt ." not in outcome.message


def test_deps_before_code_without_install_or_code(exercise02, ctx_for):
    no_install = run(exercise02, "deps_before_code", ctx_for(GOOD.replace("RUN pip install --no-cache-dir -r requirements.txt\n", "")))
    assert not no_install.passed and "install it with pip" in no_install.message
    no_code = run(exercise02, "deps_before_code", ctx_for(GOOD.replace("COPY . .\n", "")))
    assert not no_code.passed and "flask_api_v2.py" in no_code.message


def test_deps_before_code_reads_only_the_final_stage(exercise02, ctx_for):
    text = "FROM python:3.11-slim AS build\nCOPY . .\nRUN pip install -r requirements.txt\n" + GOOD
    assert run(exercise02, "deps_before_code", ctx_for(text)).passed


# -- rebuild_uses_cache ----------------------------------------------------------------------------


def rebuilt_ok(duration: float = 1.5) -> BuildResult:
    return BuildResult(ok=True, image_id=REBUILT, duration=duration, cached_steps=3, total_steps=6)


def test_rebuild_uses_cache_passes_when_the_pip_step_is_the_same_image(exercise02, ctx_for):
    pip_id = "sha256:" + "9" * 64
    session = FakeSession(histories={FIRST: history(pip_id, FIRST), REBUILT: history(pip_id, REBUILT)}, built=rebuilt_ok())
    ctx = ctx_for(GOOD, session)
    outcome = run(exercise02, "rebuild_uses_cache", ctx)
    assert outcome.passed, outcome.message
    assert outcome.location == "Dockerfile:4"
    assert "first build 12.5 s" in outcome.message and "rebuild 1.5 s" in outcome.message
    assert ctx.facts == {"first_build_seconds": 12.5, "rebuild_seconds": 1.5}
    # The rebuild saw an edited app file, never the learner's own folder changed.
    (edited,) = [build.files["flask_api_v2.py"] for build in session.builds]
    original = (SOLUTION / "flask_api_v2.py").read_text()
    assert edited.startswith(original) and edited != original
    assert (SOLUTION / "flask_api_v2.py").read_text() == original
    # The rebuilt image goes away; the first image stays.
    assert session.discarded == [REBUILT]


def test_each_rebuild_edits_the_app_differently(exercise02, ctx_for):
    pip_id = "sha256:" + "9" * 64
    session = FakeSession(histories={FIRST: history(pip_id, FIRST), REBUILT: history(pip_id, REBUILT)}, built=rebuilt_ok())
    run(exercise02, "rebuild_uses_cache", ctx_for(GOOD, session))
    run(exercise02, "rebuild_uses_cache", ctx_for(GOOD, session))
    first, second = [build.files["flask_api_v2.py"] for build in session.builds]
    assert first != second  # an earlier grading's rebuild can never be taken from the cache


def test_rebuild_uses_cache_fails_naming_the_copy_that_invalidates_it(exercise02, ctx_for):
    session = FakeSession(
        histories={FIRST: history("sha256:" + "9" * 64, FIRST), REBUILT: history("sha256:" + "8" * 64, REBUILT)}, built=rebuilt_ok(40.2)
    )
    ctx = ctx_for(CODE_FIRST, session)
    outcome = run(exercise02, "rebuild_uses_cache", ctx)
    assert not outcome.passed
    assert outcome.location == "Dockerfile:3"
    assert "`COPY . .` (line 3)" in outcome.message and "ran `RUN pip install" in outcome.message
    assert "first build 12.5 s" in outcome.message and "rebuild 40.2 s" in outcome.message
    assert ctx.facts["rebuild_seconds"] == 40.2


def test_rebuild_uses_cache_fails_without_a_culprit_copy(exercise02, ctx_for):
    session = FakeSession(
        histories={FIRST: history("sha256:" + "9" * 64, FIRST), REBUILT: history("sha256:" + "8" * 64, REBUILT)}, built=rebuilt_ok()
    )
    text = GOOD.replace("WORKDIR /app\n", "WORKDIR /app\nRUN date > /built-at\n")
    outcome = run(exercise02, "rebuild_uses_cache", ctx_for(text, session))
    assert not outcome.passed and outcome.location == "Dockerfile:5"
    assert "depends on the code" in outcome.message


def test_rebuild_uses_cache_reports_a_failed_rebuild(exercise02, ctx_for):
    failed = BuildResult(ok=False, duration=3.0, error="step 4/6 failed with exit code 1", log_tail="pip: error")
    session = FakeSession(histories={}, built=failed)
    outcome = run(exercise02, "rebuild_uses_cache", ctx_for(GOOD, session))
    assert not outcome.passed and "exit code 1" in outcome.message and outcome.detail == "pip: error"
    assert session.discarded == []


def test_rebuild_uses_cache_without_pip_step(exercise02, ctx_for):
    plain = [step(FIRST, "/bin/sh -c #(nop) COPY dir:abc in . "), step("sha256:" + "0" * 64, "")]
    session = FakeSession(histories={FIRST: plain, REBUILT: plain}, built=rebuilt_ok())
    outcome = run(exercise02, "rebuild_uses_cache", ctx_for(GOOD, session))
    assert not outcome.passed and "pip install" in outcome.message


def test_a_rebuild_that_returns_the_graded_image_is_not_removed(exercise02, ctx_for):
    pip_id = "sha256:" + "9" * 64
    same = BuildResult(ok=True, image_id=FIRST, duration=0.3)
    session = FakeSession(histories={FIRST: history(pip_id, FIRST)}, built=same)
    outcome = run(exercise02, "rebuild_uses_cache", ctx_for(GOOD, session))
    assert outcome.passed and session.discarded == []


def test_rebuild_uses_cache_needs_the_app_file(exercise02, ctx_for, tmp_path):
    (tmp_path / "Dockerfile").write_text(GOOD)
    outcome = run(exercise02, "rebuild_uses_cache", ctx_for(GOOD, FakeSession(histories={}, built=rebuilt_ok()), submission=tmp_path))
    assert not outcome.passed and "flask_api_v2.py" in outcome.message


# -- planted_files_absent ------------------------------------------------------------------------


def clean_history() -> dict[str, list[dict]]:
    return {FIRST: history("sha256:" + "9" * 64, FIRST)}


def test_planted_files_absent_passes_when_only_the_app_is_there(exercise02, ctx_for):
    session = FakeSession(histories=clean_history(), present={"/app/flask_api_v2.py"})
    outcome = run(exercise02, "planted_files_absent", ctx_for(GOOD, session))
    assert outcome.passed, outcome.message
    assert outcome.location == ".dockerignore"
    assert session.asked == [["/app/.git", "/app/venv", "/app/__pycache__", "/app/.env", "/app/flask_api_v2.py"]]


def test_planted_files_absent_names_what_leaked_and_the_line_to_add(exercise02, ctx_for):
    session = FakeSession(histories=clean_history(), present={"/app/flask_api_v2.py", "/app/.env"})
    outcome = run(exercise02, "planted_files_absent", ctx_for(GOOD, session))
    assert not outcome.passed and outcome.location == ".dockerignore"
    assert "`/app/.env`" in outcome.message and ".dockerignore" in outcome.message and "`.git`" not in outcome.message


def test_planted_files_absent_without_dockerignore_says_create_it(exercise02, ctx_for, tmp_path):
    leaked = {"/app/flask_api_v2.py", "/app/.git", "/app/venv", "/app/__pycache__", "/app/.env"}
    outcome = run(exercise02, "planted_files_absent", ctx_for(GOOD, FakeSession(histories=clean_history(), present=leaked), submission=tmp_path))
    assert not outcome.passed and outcome.location is None
    assert "no .dockerignore" in outcome.message
    for path in ("`/app/.git`", "`/app/venv`", "`/app/__pycache__`", "`/app/.env`"):
        assert path in outcome.message


def test_planted_files_absent_needs_the_app_where_expected(exercise02, ctx_for):
    outcome = run(exercise02, "planted_files_absent", ctx_for(GOOD, FakeSession(histories=clean_history())))
    assert not outcome.passed and "/app/flask_api_v2.py" in outcome.message


def test_planted_secret_in_env_is_found_without_showing_it(exercise02, ctx_for):
    text = GOOD.replace("EXPOSE 5001", f"ENV API_TOKEN={SECRET}\nEXPOSE 5001")
    image = {"Config": {"Env": ["PATH=/usr/bin", f"API_TOKEN={SECRET}"]}}
    session = FakeSession(histories=clean_history(), present={"/app/flask_api_v2.py"})
    outcome = run(exercise02, "planted_files_absent", ctx_for(text, session, image=image))
    assert not outcome.passed and "Config.Env" in outcome.message and SECRET not in outcome.message
    assert outcome.location == "Dockerfile:6"


def test_planted_secret_in_history_is_found(exercise02, ctx_for):
    leaky = history("sha256:" + "9" * 64, FIRST)
    leaky.insert(1, step("sha256:" + "d" * 64, f"/bin/sh -c echo {SECRET} > /tmp/token"))
    session = FakeSession(histories={FIRST: leaky}, present={"/app/flask_api_v2.py"})
    outcome = run(exercise02, "planted_files_absent", ctx_for(GOOD, session))
    assert not outcome.passed and "docker history" in outcome.message


# -- the exercise as labs.yaml declares it ---------------------------------------------------------


def test_exercise_02_totals_100_and_plants_the_files_it_checks(exercise02):
    assert exercise02.max_score == 100
    assert {".git/HEAD", ".git/config", "venv/bin/activate", ".env"} <= set(exercise02.plant)
    assert SECRET in exercise02.plant[".env"]
    params = spec_of(exercise02, "planted_files_absent").params
    assert SECRET in params["secrets"]
    planted_tops = {"/app/" + relative.split("/")[0] for relative in exercise02.plant}
    assert planted_tops == set(params["paths"])


def test_rebuild_never_writes_through_a_linked_app_file(exercise02, ctx_for, tmp_path):
    original = tmp_path / "elsewhere.py"
    original.write_text("print('outside the submission')\n")
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "Dockerfile").write_text(GOOD)
    (folder / "flask_api_v2.py").symlink_to(original)
    pip_id = "sha256:" + "9" * 64
    session = FakeSession(histories={FIRST: history(pip_id, FIRST), REBUILT: history(pip_id, REBUILT)}, built=rebuilt_ok())
    assert run(exercise02, "rebuild_uses_cache", ctx_for(GOOD, session, submission=folder)).passed
    assert original.read_text() == "print('outside the submission')\n"
    assert session.builds[0].files["flask_api_v2.py"].startswith("print('outside the submission')")
