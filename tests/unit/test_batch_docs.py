"""The instructors' guide documents every batch option (the Classroom workflow: test_instr_classroom.py)."""

from __future__ import annotations

from unit_helpers import REPO_ROOT
from grader.cli.batch import parser

DOCS = REPO_ROOT / "docs"


def test_every_batch_option_is_documented():
    guide = (DOCS / "instructors.md").read_text()
    for action in parser()._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert f"`{option}" in guide, f"{option} is not in docs/instructors.md"
    assert "docs/instructors.md" in (REPO_ROOT / "README.md").read_text()

