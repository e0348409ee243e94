"""exercise-08's checks on recorded replay facts (no engine, no registry)."""

from __future__ import annotations

import pytest

from tests.unit.unit_helpers import LABS, REPO_ROOT

from grader import spec
from grader.facts.replay import REPLAY_KEY, plan_of
from grader.context import Context
from grader.grading import run_check, static_report
from grader.i18n import set_language
from grader.model import Status
from grader.engine.replay import Replay, Step

SOLUTION = REPO_ROOT / "solutions" / "exercise-08"
BUILT = "sha256:" + "b" * 64
PUSHED = "sha256:" + "c" * 64
CHECKS = ["oci-labels", "version-tag", "digest-matches", "pulled-by-digest", "runs-by-digest"]


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language(None)


@pytest.fixture(scope="module")
def exercise08():
    found = spec.find_exercise(spec.load(LABS), "exercise-08")
    assert found is not None, "labs.yaml has no exercise-08"
    return found


def good() -> Replay:
    """What the solution's replay records."""
    labels = {"org.opencontainers.image.version": "1.0.0", "org.opencontainers.image.source": "https://example.org/x"}
    return Replay(
        steps=[
            Step(6, "build", True, facts={"tags": {"my-iris-api:1.0.0": True}, "labels": labels}),
            Step(7, "tag", True),
            Step(10, "push", True, facts={"digest": PUSHED, "tag": "1.0.0"}),
            Step(13, "rmi", True),
            Step(16, "pull", True, facts={"present_before": False, "by_digest": True, "image_id": BUILT}),
            Step(17, "run", True, facts={"by_digest": True, "ready": True, "answers": {5001: True}, "published": [5001]}),
            Step(18, "curl", True, facts={"status": 200, "prediction": True}),
        ],
        built_image_id=BUILT,
        registry={"my-iris-api": {"1.0.0": {"digest": PUSHED, "config": BUILT}}},
    )


def graded(exercise, facts: Replay) -> dict[str, object]:
    ctx = Context(exercise=exercise, submission=SOLUTION)
    plan, problem = plan_of(ctx, {})
    ctx.memo[REPLAY_KEY] = (facts, plan, problem)
    return {c.id: run_check(c, ctx) for c in exercise.checks if c.id in CHECKS}


def test_the_solution_passes_the_static_checks(exercise08):
    report, _ = static_report(exercise08, SOLUTION)
    assert all(r.status is Status.PASSED for r in report.results)
    starter, _ = static_report(exercise08, REPO_ROOT / "exercises" / "exercise-08")
    assert {r.spec.id for r in starter.results if r.status is Status.FAILED} == {"dockerfile-no-todo", "publish-no-todo"}


def test_the_solutions_facts_pass_every_registry_check(exercise08):
    assert {k: r.status for k, r in graded(exercise08, good()).items()} == dict.fromkeys(CHECKS, Status.PASSED)


def change(step_verb: str | None = None, **facts):
    replay = good()
    for step in replay.steps:
        if step.verb == step_verb:
            step.facts.update(facts)
    return replay


def only_latest() -> Replay:
    replay = good()
    replay.registry = {"my-iris-api": {"latest": {"digest": PUSHED, "config": BUILT}}}
    return replay


def other_version() -> Replay:
    replay = good()
    replay.registry = {"my-iris-api": {"2.0": {"digest": PUSHED, "config": BUILT}}}
    return replay


def other_image() -> Replay:
    replay = good()
    replay.registry["my-iris-api"]["1.0.0"]["config"] = "sha256:" + "e" * 64
    return replay


def run_by_tag() -> Replay:
    return change("run", by_digest=False)


@pytest.mark.parametrize("facts, failing, words", [
    (change("build", labels={"org.opencontainers.image.version": "1.0.0"}), {"oci-labels"}, "org.opencontainers.image.source"),
    (only_latest(), {"version-tag"}, "only as `latest`"),
    (other_version(), {"version-tag"}, "version label says 1.0.0"),
    (other_image(), {"digest-matches"}, "another image"),
    (change("pull", present_before=True), {"pulled-by-digest"}, "still on the engine"),
    (change("pull", by_digest=False), {"pulled-by-digest"}, "pulls by tag"),
    (run_by_tag(), {"runs-by-digest"}, "started from a tag"),
    (change("run", answers={5001: False}), {"runs-by-digest"}, "did not give an answering container"),
])
def test_each_fact_fails_its_own_check(exercise08, facts, failing, words):
    results = graded(exercise08, facts)
    assert {k for k, r in results.items() if r.status is not Status.PASSED} == failing
    assert any(words in results[k].message for k in failing), {k: results[k].message for k in failing}
