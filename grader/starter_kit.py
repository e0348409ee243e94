"""`python -m grader starter-kit DIR`: the repository an instructor hands out, without any solution.

It holds the exercises' starters, the grader, labs.yaml, docs, scripts, the Makefile and the unit
tests that make sense without solutions. Nothing of solutions/ goes in: no folder, no file, and no
line that a solution has and its starter lacks (a test file with one is left out, and any other
file with one stops the copy). Checks that compare with a solution read their reference figure
from labs.yaml (exercise-04's `reference_added_mb`) instead of building solutions/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COPIED = ("exercises", "grader", "docs", "scripts", "labs.yaml", "pyproject.toml", "tests/conftest.py", "tests/fixtures")
HELPERS = ("conftest.py", "unit_helpers.py", "batch_helpers.py", "fakes.py")  # shared by the unit tests: always copied
# ruff over the whole tree would lint the learner's own code in exercises/: the kit's `make test` runs
# the grader's tests only, so neither the test that runs ruff nor the Makefile's ruff line goes in.
NOT_IN_KIT = ("test_code_style.py",)
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")
README_TEMPLATE = Path(__file__).resolve().parent / "data" / "starter-kit-README.md"
MIN_LINE = 8  # shorter lines ("EXPOSE 80", "})") say nothing of a solution


class StarterKitError(Exception):
    """The kit cannot be written (DIR not empty, or a solution's line would leak)."""


def _lines(path: Path) -> set[str]:
    try:
        return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    except (UnicodeDecodeError, OSError):
        return set()  # binary files (the model) are compared whole elsewhere: none is copied from solutions/


def _files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]


def solution_lines(repo: Path = REPO_ROOT) -> set[str]:
    """Lines the solutions have that the learner's own material does not already say (the starters,
    their READMEs, labs.yaml's hints, where `COPY . /app` is told): what must not reach learners."""
    told = "\n".join(path.read_text(encoding="utf-8", errors="ignore") for path in _files(repo / "exercises"))
    told += "\n" + (repo / "labs.yaml").read_text(encoding="utf-8")
    found: set[str] = set()
    for path in _files(repo / "solutions"):
        found |= {line for line in _lines(path) if len(line) >= MIN_LINE and not line.startswith("#")}
    return {line for line in found if line not in told}


def kit_labs_yaml(text: str) -> str:
    """labs.yaml without parameters that point into solutions/ (their labs.yaml figure stands in)."""
    return re.sub(r"(?m)^[ \t]+[A-Za-z_]+:[ \t]*['\"]?solutions/\S*[ \t]*\n", "", text)


def kit_makefile(text: str) -> str:
    """The Makefile without what needs solutions/ or the integration tests: `make demo` grades the learner's exercise-01."""
    edits = (
        ("demo: setup ## grade the reference solution of exercise 01", "demo: setup ## grade your exercise 01 as it stands"),
        ("\t$(PYTHON) -m grader exercise-01 --path solutions/exercise-01", "\t-$(PYTHON) -m grader exercise-01"),
        ("\t$(PYTHON) -m ruff check .\n", ""),
        ("\t$(PYTHON) -m pytest -q -ra tests\n\t@$(MAKE) --no-print-directory test-podman", "\t$(PYTHON) -m pytest -q -ra tests"),
        ("## run the test suite (pytest), then the exercises' tests on Podman", "## run the grader's unit tests"),
    )
    for old, new in edits:
        if old not in text:
            raise StarterKitError(f"the Makefile changed: `{old.strip()}` is gone; update grader/starter_kit.py")
        text = text.replace(old, new)
    text = re.sub(r"(?ms)^test-podman:.*?(?=^\S|\Z)", "", text).replace(" test-podman", "")
    return text


def unit_tests(repo: Path, leaked: set[str]) -> list[Path]:
    """The unit test files that need no solution: none names solutions/ or holds a solution's line."""
    chosen = []
    for path in sorted((repo / "tests" / "unit").glob("*.py")):
        if path.name in NOT_IN_KIT:
            continue
        text = path.read_text(encoding="utf-8")
        needs_solution = "SOLUTION" in text or "solutions" in text or _lines(path) & leaked
        if path.name in HELPERS or not needs_solution:
            chosen.append(path)
    return chosen


def write(target: Path, repo: Path = REPO_ROOT) -> list[Path]:
    """Write the learner's repository into TARGET (missing or empty); returns the files written."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise StarterKitError(f"{target} is not empty: name a new folder")
    leaked = solution_lines(repo)
    for name in COPIED:
        source, destination = repo / name, target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=IGNORED, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, destination)
    (target / "tests" / "unit").mkdir(parents=True, exist_ok=True)
    for path in unit_tests(repo, leaked):
        shutil.copy2(path, target / "tests" / "unit" / path.name)
    (target / "labs.yaml").write_text(kit_labs_yaml((repo / "labs.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    (target / "Makefile").write_text(kit_makefile((repo / "Makefile").read_text(encoding="utf-8")), encoding="utf-8")
    shutil.copy2(README_TEMPLATE, target / "README.md")
    (target / ".gitignore").write_text(".venv/\n__pycache__/\n*.egg-info/\n.pytest_cache/\n", encoding="utf-8")
    written = _files(target)
    for path in written:
        if _lines(path) & leaked:
            raise StarterKitError(f"{path.relative_to(target)} holds a line of a solution; nothing may carry one")
    return written
