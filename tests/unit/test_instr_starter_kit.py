"""`python -m grader starter-kit DIR`: the learners' repository, with no solution in it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from unit_helpers import REPO_ROOT
from grader import cli, spec
from grader.checks.image_contents import reference_added_bytes


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kit") / "dockerlab"
    assert cli.main(["starter-kit", str(folder)]) == 0
    return folder


def given_away() -> str:
    """What the learner's own material says: the starters (with READMEs) and labs.yaml's hints."""
    texts = [p.read_text(encoding="utf-8", errors="ignore") for p in (REPO_ROOT / "exercises").rglob("*") if p.is_file()]
    return "\n".join(texts + [(REPO_ROOT / "labs.yaml").read_text()])


def secret_lines() -> set[str]:
    told = given_away()
    lines = set()
    for path in (REPO_ROOT / "solutions").rglob("*"):
        if path.is_file() and path.suffix != ".pkl":
            lines |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    return {line for line in lines if len(line) >= 8 and not line.startswith("#") and line not in told}


def test_no_solution_line_anywhere_in_the_kit(kit):
    secrets = secret_lines()
    # The comparison has teeth: a solution line no starter, README or hint ladder gives away.
    # (A ladder's last level is the exact line, for a learner who asks three times: told, not secret.)
    assert "HEALTHCHECK --interval=2s --timeout=3s --start-period=10s --retries=3 \\" in secrets
    assert not (kit / "solutions").exists()
    for path in kit.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="ignore")
            leaked = {line.strip() for line in text.splitlines()} & secrets
            assert not leaked, f"{path.relative_to(kit)} holds solution lines: {sorted(leaked)[:3]}"


def test_the_kit_has_what_a_learner_needs(kit):
    for name in ("exercises/exercise-01/Dockerfile", "exercises/exercise-06/compose.yaml", "grader/cli/__init__.py", "labs.yaml",
                 "docs/instructors.md", "Makefile", "pyproject.toml", "scripts/setup.sh", "README.md", "tests/unit/unit_helpers.py"):
        assert (kit / name).is_file(), name
    assert not (kit / "tests" / "integration").exists()
    makefile = (kit / "Makefile").read_text()
    assert "solutions" not in makefile and "test-podman" not in makefile
    # No ruff in the kit's `make test`: it would lint the learner's own code in exercises/.
    assert "ruff" not in makefile and not (kit / "tests" / "unit" / "test_code_style.py").exists()
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/unit"],
                               cwd=kit, capture_output=True, text=True)
    assert collected.returncode == 0, collected.stdout[-2000:]


def test_exercise_04_takes_its_size_reference_from_labs_yaml(kit):
    exercise = spec.find_exercise(spec.load(kit / "labs.yaml"), "exercise-04")
    check = next(c for c in exercise.checks if c.kind == "size_vs_reference")
    assert "reference" not in check.params
    declared = yaml.safe_load((REPO_ROOT / "labs.yaml").read_text())
    figure = next(c for e in declared["exercises"] if e["id"] == "exercise-04" for c in e["checks"] if c["kind"] == "size_vs_reference")
    added, how = reference_added_bytes(None, check.params)  # no session: nothing to build, the figure stands
    assert (added, how) == (int(float(figure["params"]["reference_added_mb"]) * 1_000_000), "measured")


def test_the_kits_own_grader_grades_a_starter(kit):
    completed = subprocess.run([sys.executable, "-m", "grader", "exercise-01", "--static-only"], cwd=kit, capture_output=True, text=True,
                               env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent.sock", "LANG": "C.UTF-8"})
    assert completed.returncode == 1, completed.stderr  # the starter's TODOs lose the static points
    assert completed.stdout.strip().splitlines()[-1].startswith("Score: 0/")


def test_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "x").write_text("mine")
    assert cli.main(["starter-kit", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
