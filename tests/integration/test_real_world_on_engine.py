"""Where the engine decides (issue 10, part 5): a shell-form CMD naming a program the image lacks exits
with code 127, and the feedback says the command is not in the image; a JSON CMD whose one string is a
whole command line cannot start, and the static check says why before the engine refuses it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("no_leftovers")


def grade_with_cmd(repo: Path, tmp_path: Path, cmd_line: str) -> dict:
    """Grade exercise-01's solution with its CMD replaced; the Gradescope JSON, by check id."""
    folder = tmp_path / "submission"
    shutil.copytree(repo / "solutions" / "exercise-01", folder)
    dockerfile = folder / "Dockerfile"
    lines = [cmd_line if line.startswith("CMD ") else line for line in dockerfile.read_text(encoding="utf-8").splitlines()]
    dockerfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "results.json"
    env = {**os.environ, "CI": "true", "LABKIT_LANG": "en"}
    completed = subprocess.run(
        [sys.executable, "-m", "grader", "exercise-01", "--path", str(folder), "--no-record", "--json", str(out)],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 1 and "Traceback" not in completed.stderr, completed.stderr
    return {test["tags"][0]: test for test in json.loads(out.read_text(encoding="utf-8"))["tests"]}


def test_exit_code_127_is_explained_as_a_command_missing_from_the_image(repo, tmp_path, engine):
    tests = grade_with_cmd(repo, tmp_path, "CMD gunicorn --bind 0.0.0.0:5001 flask_api_v2:app")
    ready = tests["container-ready"]["output"]
    assert "exited with code 127" in ready and "not in the image" in ready and "requirements.txt" in ready
    assert "gunicorn: not found" in ready  # the container's own last words


def test_a_json_cmd_holding_a_whole_command_line_fails_before_the_engine_refuses_it(repo, tmp_path, engine):
    tests = grade_with_cmd(repo, tmp_path, 'CMD ["python flask_api_v2.py"]')
    assert tests["cmd-exec-form"]["status"] == "failed"
    assert "looks for a program literally named `python flask_api_v2.py`" in tests["cmd-exec-form"]["output"]
    assert "executable file not found" in tests["container-ready"]["output"]  # what the engine said
