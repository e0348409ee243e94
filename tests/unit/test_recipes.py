"""The docs that say how to extend the grader stay true: the table of kinds is the registry's, and the two
recipes (docs/adding-a-check.md, docs/adding-an-exercise.md) name files that exist and functions that import."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from unit_helpers import LABS, REPO_ROOT
from grader import spec
from grader.grading import run_check
from grader.kinds import KINDS_DOC, REGENERATE, REGISTRY, documented_kinds, kinds_markdown, register, registry
from grader.model import CheckSpec, Outcome, Status

DOCS = REPO_ROOT / "docs"
STEP = re.compile(r"^\d+\. `([^`]+)`", re.M)
DOTTED = re.compile(r"`((?:grader|fakes)(?:\.[A-Za-z_]\w*)+)`")
CHECK_FILES = [
    "grader/checks/<family>.py", "grader/locales/en/<family>.yaml", "grader/locales/ko/<family>.yaml", "tests/unit/test_<family>.py",
    "docs/labs-schema.md", "labs.yaml",
]
EXERCISE_FILES = ["labs.yaml", "exercises/<id>/", "solutions/<id>/", "tests/integration/test_exercise_<NN>.py", "README.md"]


def _steps(name: str) -> list[str]:
    return STEP.findall((DOCS / name).read_text(encoding="utf-8"))


def test_the_table_of_kinds_is_the_registrys():
    text = KINDS_DOC.read_text(encoding="utf-8")
    assert documented_kinds(text) == kinds_markdown(), f"docs/labs-schema.md's kinds are stale: run `{REGENERATE}`"


@pytest.mark.parametrize("name", ["adding-a-check.md", "adding-an-exercise.md"])
def test_the_functions_a_recipe_names_exist(name):
    named = DOTTED.findall((DOCS / name).read_text(encoding="utf-8"))
    for dotted in named:
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
            try:
                found = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        assert found is not None, dotted
    assert named or name == "adding-an-exercise.md"


def test_the_check_recipe_lists_the_files_a_new_kind_needs():
    assert _steps("adding-a-check.md") == CHECK_FILES
    for family in {kind.family for kind in registry().values()}:
        for pattern in CHECK_FILES[:3]:
            assert (REPO_ROOT / pattern.replace("<family>", family)).is_file(), pattern.replace("<family>", family)
    assert all((REPO_ROOT / name).is_file() for name in CHECK_FILES[4:])


@pytest.fixture
def new_kind():
    """A kind added the recipe's way: one decorated function in an existing family's module, nothing else."""

    def recipe_example(ctx, params):
        """The example kind of docs/adding-a-check.md."""
        return Outcome.ok("fine") if params["size"] < 10 else Outcome.fail("too big", location="Dockerfile:1")

    recipe_example.__module__ = "grader.checks.lint"
    register("recipe_example", needs="nothing", required_params=("size",))(recipe_example)
    yield REGISTRY["recipe_example"]
    del REGISTRY["recipe_example"]


def test_a_kind_registered_in_its_family_module_is_all_the_code_needs(new_kind, exercise):
    document = {"exercises": [{"id": "ex", "title": "x", "folder": "x", "checks": [
        {"id": "example", "kind": "recipe_example", "points": 5, "title": "x", "params": {"size": 3}}]}]}
    (parsed,) = spec.parse(document)  # labs.yaml accepts it, and asks for its required params
    with pytest.raises(spec.SpecError, match="params.size: required by kind `recipe_example`"):
        spec.parse({"exercises": [{**document["exercises"][0], "checks": [{**document["exercises"][0]["checks"][0], "params": {}}]}]})
    from grader.context import Context

    result = run_check(parsed.checks[0], Context(exercise=exercise, submission=REPO_ROOT))
    assert result.status is Status.PASSED  # the grading runs it
    assert "| `recipe_example` | nothing | `size` | The example kind of docs/adding-a-check.md. |" in kinds_markdown()
    assert run_check(CheckSpec("e", "recipe_example", 5, "x", params={"size": 30}), Context(exercise=exercise, submission=REPO_ROOT)).location == "Dockerfile:1"


def test_the_exercise_recipe_lists_what_every_exercise_has():
    assert _steps("adding-an-exercise.md") == EXERCISE_FILES
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for exercise in spec.load(LABS):
        number = exercise.id.rsplit("-", 1)[-1]
        assert exercise.folder == f"exercises/{exercise.id}"
        assert (REPO_ROOT / exercise.folder / "README.md").is_file() and (REPO_ROOT / exercise.folder / "README.ko.md").is_file()
        assert (REPO_ROOT / "solutions" / exercise.id).is_dir(), exercise.id
        assert list((REPO_ROOT / "tests" / "integration").glob(f"test_exercise*{number}.py")), f"no integration test for {exercise.id}"
        assert f"| {exercise.id} |" in readme, f"README.md's table of exercises has no row for {exercise.id}"


def test_the_schema_points_to_both_recipes():
    text = KINDS_DOC.read_text(encoding="utf-8")
    assert "(adding-a-check.md)" in text and "(adding-an-exercise.md)" in text
    assert Path(DOCS / "adding-a-check.md").is_file() and Path(DOCS / "adding-an-exercise.md").is_file()
