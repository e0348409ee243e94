"""The GitHub Classroom workflow is what Classroom records points from, and its runner JSON adds up to the gradebook."""

from __future__ import annotations

import base64
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from batch_helpers import grading_of
from unit_helpers import REPO_ROOT
from grader.rows import NOT_GRADABLE, TIMED_OUT
from grader.model import Status
from grader.outputs import github_classroom
from grader.outputs.registry import write_all

import yaml

WORKFLOW = REPO_ROOT / "docs" / "github-classroom-workflow.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def reporter_points(runners: str, env: dict[str, str]) -> tuple[float, float]:
    """What autograding-grading-reporter sums: tests[].score over runners whose JSON has a max_score."""
    total = maximum = 0.0
    for runner in (name.strip() for name in runners.split(",")):
        document = json.loads(base64.b64decode(env[f"{runner.upper()}_RESULTS"]))
        if document.get("max_score"):  # `if (!results.max_score) return acc;` in notify-classroom.js
            total += sum(test["score"] for test in document["tests"])
            maximum += document["max_score"]
    return total, maximum


def test_workflow_is_what_classroom_reads(workflow):
    assert workflow["name"] == "Autograding Tests"
    assert list(workflow["jobs"]) == ["run-autograding-tests"]
    job = workflow["jobs"]["run-autograding-tests"]
    assert job["if"] == "github.actor != 'github-classroom[bot]'"
    assert set(workflow["on"]) == {"push", "repository_dispatch"}
    assert workflow["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    assert "docker" not in job.get("container", "")  # the runner itself has the engine


def test_workflow_grades_with_a_pinned_kit_in_the_class_language(workflow):
    env = workflow["env"]
    assert env["LABKIT_LANG"] in ("en", "ko") and re.fullmatch(r"v\d+\.\d+\.\d+|[0-9a-f]{40}", env["LABKIT_REF"])
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    kit = next(step for step in steps if step.get("with", {}).get("path") == "labkit")
    assert kit["with"]["ref"] == "${{ env.LABKIT_REF }}" and kit["with"]["repository"] == "${{ env.LABKIT_REPOSITORY }}"
    grading = next(step for step in steps if step.get("id") == "dockerlab")
    assert '--lang "$LABKIT_LANG"' in grading["run"] and "python -m grader batch" in grading["run"]
    assert "graded/github-classroom/learner/results.json" in grading["run"] and "GITHUB_OUTPUT" in grading["run"]
    learner = next(step for step in steps if step.get("with", {}).get("path", "").startswith("submissions/"))
    assert learner["with"]["path"] == "submissions/learner"
    reporter = next(step for step in steps if "autograding-grading-reporter" in step.get("uses", ""))
    assert reporter["with"]["runners"] == "dockerlab"
    assert reporter["env"]["DOCKERLAB_RESULTS"] == "${{ steps.dockerlab.outputs.result }}"


def test_runner_points_add_up_to_the_gradebook(tmp_path, exercise):
    standing = {
        "alice": grading_of(exercise, "alice"),
        "bob": grading_of(exercise, "bob", {"expose-port": Status.FAILED, "predictions": Status.BLOCKED}),
        "carol": grading_of(exercise, "carol", {"build": Status.BLOCKED}, state=TIMED_OUT, message="grading exceeded 900 s"),
    }
    write_all(tmp_path, exercise, standing)
    rows = {row["learner"]: row for row in csv.DictReader((tmp_path / "gradebook.csv").open())}
    for learner in standing:
        raw = (tmp_path / "github-classroom" / learner / "results.json").read_text()
        env = {"DOCKERLAB_RESULTS": base64.b64encode(raw.encode()).decode()}
        total, maximum = reporter_points("dockerlab", env)
        assert (total, maximum) == (float(rows[learner]["score"]), float(rows[learner]["max_score"]))
    assert float(rows["bob"]["score"]) < float(rows["alice"]["score"])


def test_a_not_gradable_learner_is_an_error_not_a_silent_zero(exercise):
    document = github_classroom.results(grading_of(exercise, "dave", state=NOT_GRADABLE, message="engine gone"), exercise)
    assert document["status"] == "error" and "engine gone" in document["tests"][0]["message"]
    assert github_classroom.encoded(document) == base64.b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize("name", ["github-classroom-workflow.yml", "instructors-batch-workflow.yml"])
def test_workflows_follow_githubs_workflow_schema(name):
    """SchemaStore's schema as check-jsonschema vendors it (a dev dependency): keys, events, permissions, matrix."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    completed = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(REPO_ROOT / "docs" / name)],
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
