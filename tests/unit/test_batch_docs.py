"""The instructors' guide documents every batch option, and the GitHub Classroom workflow is valid and wired."""

from __future__ import annotations

import yaml

from unit_helpers import REPO_ROOT
from grader.batch_cli import parser

DOCS = REPO_ROOT / "docs"


def test_every_batch_option_is_documented():
    guide = (DOCS / "instructors.md").read_text()
    for action in parser()._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert f"`{option}" in guide, f"{option} is not in docs/instructors.md"
    assert "docs/instructors.md" in (REPO_ROOT / "README.md").read_text()


def test_classroom_workflow_grades_and_reports():
    workflow = yaml.safe_load((DOCS / "github-classroom-workflow.yml").read_text())
    steps = workflow["jobs"]["autograding"]["steps"]
    grading = next(step for step in steps if step.get("id") == "dockerlab")
    assert "python -m grader batch" in grading["run"] and "github-classroom/" in grading["run"] and "GITHUB_OUTPUT" in grading["run"]
    reporter = next(step for step in steps if "autograding-grading-reporter" in step.get("uses", ""))
    assert reporter["with"]["runners"] == "dockerlab"
    assert reporter["env"]["DOCKERLAB_RESULTS"] == "${{ steps.dockerlab.outputs.result }}"
