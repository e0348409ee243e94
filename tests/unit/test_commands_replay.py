"""exercise-07's checks without an engine: the static ones on written files, the replay ones on recorded facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.unit_helpers import LABS, REPO_ROOT

from grader import spec
from grader.facts.replay import PLAN_KEY, REPLAY_KEY, plan_of
from grader.context import Context
from grader.grading import run_check, static_report
from grader.i18n import set_language
from grader.model import Status
from grader.engine.replay import Replay, Step

SOLUTION = REPO_ROOT / "solutions" / "exercise-07"
STARTER = REPO_ROOT / "exercises" / "exercise-07"
GOOD = (SOLUTION / "commands.sh").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language(None)


@pytest.fixture(scope="module")
def exercise07():
    found = spec.find_exercise(spec.load(LABS), "exercise-07")
    assert found is not None, "labs.yaml has no exercise-07"
    return found


def check(exercise, check_id: str, ctx: Context):
    return run_check(next(c for c in exercise.checks if c.id == check_id), ctx)


def context(exercise, tmp_path: Path, text: str = GOOD) -> Context:
    (tmp_path / "commands.sh").write_text(text, encoding="utf-8")
    return Context(exercise=exercise, submission=tmp_path)


# -- static checks ------------------------------------------------------------------------------


def test_the_solution_passes_every_static_check_and_the_starter_fails_them(exercise07):
    solution, _ = static_report(exercise07, SOLUTION)
    assert {r.spec.id: r.status for r in solution.results} == dict.fromkeys(
        ["commands-no-todo", "commands-allowed", "lesson-names", "run-detached"], Status.PASSED
    )
    starter, _ = static_report(exercise07, STARTER)
    assert {r.spec.id: r.status for r in starter.results} == {
        "commands-no-todo": Status.FAILED, "commands-allowed": Status.PASSED, "lesson-names": Status.FAILED, "run-detached": Status.FAILED,
    }


def test_a_refused_line_fails_commands_allowed_with_its_line_and_reason(exercise07, tmp_path):
    result = check(exercise07, "commands-allowed", context(exercise07, tmp_path, GOOD.replace("docker ps\n", "docker ps; rm -rf ~\n")))
    assert result.status is Status.FAILED and result.location == "commands.sh:11"
    assert "`;`" in result.message and "never run" in result.message


def test_an_empty_file_is_graded_zero_with_one_sentence(exercise07, tmp_path):
    ctx = context(exercise07, tmp_path, "# nothing yet\n")
    result = check(exercise07, "commands-allowed", ctx)
    assert result.status is Status.FAILED and "no command in it" in result.message
    assert check(exercise07, "lesson-names", ctx).message == result.message
    assert check(exercise07, "commands-no-todo", ctx).message == result.message  # graded 0: even this one


def test_no_commands_file_is_a_failure_not_a_crash(exercise07, tmp_path):
    result = check(exercise07, "commands-allowed", Context(exercise=exercise07, submission=tmp_path))
    assert result.status is Status.FAILED and "there is no commands.sh" in result.message


def test_lesson_names_fail_on_another_name(exercise07, tmp_path):
    result = check(exercise07, "lesson-names", context(exercise07, tmp_path, GOOD.replace("--name my-api-container", "--name api")))
    assert result.status is Status.FAILED and "my-api-container" in result.message and result.location == "commands.sh:10"
    result = check(exercise07, "lesson-names", context(exercise07, tmp_path, GOOD.replace("my-iris-api:v1", "iris:v1")))
    assert result.status is Status.FAILED and "docker build -t my-iris-api:v1" in result.message


def test_run_without_d_fails_run_detached_on_its_line(exercise07, tmp_path):
    result = check(exercise07, "run-detached", context(exercise07, tmp_path, GOOD.replace("docker run -d ", "docker run ")))
    assert result.status is Status.FAILED and result.location == "commands.sh:10" and "-d" in result.message


def test_todo_left_fails_with_its_lines(exercise07, tmp_path):
    result = check(exercise07, "commands-no-todo", context(exercise07, tmp_path, GOOD + "# TODO 7: more\n"))
    assert result.status is Status.FAILED and result.location == f"commands.sh:{len(GOOD.splitlines()) + 1}"


# -- replay checks on recorded facts ---------------------------------------------------------


def good_replay() -> Replay:
    """What the solution's replay records."""
    return Replay(steps=[
        Step(6, "build", True, facts={"tags": {"my-iris-api:v1": True}, "seconds": 0.3}),
        Step(7, "images", True),
        Step(10, "run", True, facts={"name": "my-api-container", "detached": True, "ready": True, "problem": "", "published": [5001], "answers": {5001: True}}),
        Step(11, "ps", True),
        Step(14, "curl", True, facts={"status": 200, "prediction": True, "path": "/predict_iris"}),
        Step(17, "logs", True, facts={"start_line": True, "name": "my-api-container"}),
        Step(20, "stop", True),
        Step(21, "rm", True, facts={"gone": {"my-api-container": True}}),
        Step(22, "rmi", True, facts={"gone": {"my-iris-api:v1": True}}),
    ])


def replayed(exercise, tmp_path, facts: Replay, text: str = GOOD) -> Context:
    ctx = context(exercise, tmp_path, text)
    plan, problem = plan_of(ctx, {})
    ctx.memo[REPLAY_KEY] = (facts, plan, problem)
    return ctx


REPLAY_CHECKS = ["image-built", "app-answers", "curl-prediction", "logs-start-line", "container-removed", "image-removed"]


def test_the_solutions_facts_pass_every_replay_check(exercise07, tmp_path):
    ctx = replayed(exercise07, tmp_path, good_replay())
    results = {check_id: check(exercise07, check_id, ctx) for check_id in REPLAY_CHECKS}
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(REPLAY_CHECKS, Status.PASSED)


def _with(step_line: int, **changes) -> Replay:
    facts = good_replay()
    for step in facts.steps:
        if step.line == step_line:
            for key, value in changes.items():
                if key in ("ok", "error"):
                    setattr(step, key, value)
                else:
                    step.facts[key] = value
    return facts


@pytest.mark.parametrize("check_id, facts, text_change, words", [
    ("image-built", _with(6, ok=False, error="COPY failed"), None, "COPY failed"),
    ("image-built", _with(6, tags={"my-iris-api:v1": False}), None, "no tag"),
    ("app-answers", _with(10, answers={5000: False}, published=[5000]),
     ("-p 5001:5001", "-p 5001:5000"), "after the colon must be 5001"),
    ("app-answers", _with(10, ready=False, problem="it exited with code 1", answers={}), None, "exited with code 1"),
    ("app-answers", _with(10, ok=False, error="Unable to find image", answers={}), None, "Unable to find image"),
    ("curl-prediction", _with(14, ok=False, error="curl: (7) Failed to connect to localhost port 5001"),
     ("-p 5001:5001", "-p 5000:5001"), "first number is the one curl uses"),
    ("curl-prediction", _with(14, prediction=False, status=405), None, "HTTP 405"),
    ("logs-start-line", _with(17, ok=False, error="Error: No such container: my-container"),
     ("docker logs my-api-container", "docker logs my-container"), "no container of that name"),
    ("logs-start-line", _with(17, start_line=False), None, "start line"),
    ("container-removed", _with(21, ok=False, error="You cannot remove a running container"), None, "cannot remove a running container"),
    ("image-removed", _with(22, ok=False, error="conflict: unable to remove repository reference"), None, "conflict"),
])
def test_each_replay_check_fails_on_its_own_fact(exercise07, tmp_path, check_id, facts, text_change, words):
    text = GOOD.replace(*text_change) if text_change else GOOD
    ctx = replayed(exercise07, tmp_path, facts, text)
    result = check(exercise07, check_id, ctx)
    assert result.status is Status.FAILED and words in result.message, result.message
    others = [c for c in REPLAY_CHECKS if c != check_id and check(exercise07, c, ctx).status is not Status.PASSED]
    assert others == []  # a fact fails its own check only


def test_leftovers_fail_the_removal_checks(exercise07, tmp_path):
    facts = good_replay()
    facts.containers_left, facts.images_left = ["my-api-container"], ["my-iris-api:v1"]
    ctx = replayed(exercise07, tmp_path, facts)
    assert "my-api-container" in check(exercise07, "container-removed", ctx).message
    assert "my-iris-api:v1" in check(exercise07, "image-removed", ctx).message


def test_missing_commands_fail_their_checks(exercise07, tmp_path):
    ctx = replayed(exercise07, tmp_path, Replay(steps=good_replay().steps[:1]))
    for check_id in REPLAY_CHECKS[1:]:
        result = check(exercise07, check_id, ctx)
        assert result.status is Status.FAILED and "could be replayed" in result.message


def test_a_fatal_file_is_not_replayed_and_every_replay_check_says_why(exercise07, tmp_path):
    ctx = context(exercise07, tmp_path, "")
    ctx.session = object()  # never used: nothing is replayed
    for check_id in REPLAY_CHECKS:
        result = check(exercise07, check_id, ctx)
        assert result.status is Status.FAILED and result.message.startswith("nothing was replayed")
    assert PLAN_KEY in ctx.memo


def test_doctor_names_the_registry_exercise_08_will_use(monkeypatch):
    from grader import doctor
    from grader.engine import registry

    monkeypatch.setattr(registry, "registry_program", lambda: "/usr/bin/docker-registry")
    assert doctor._registry(image_present=False).status == doctor.OK
    monkeypatch.setattr(registry, "registry_program", lambda: None)
    assert doctor._registry(image_present=True).status == doctor.OK
    missing = doctor._registry(image_present=False)
    assert missing.status == doctor.WARN and "docker pull registry:2" in missing.fix
