"""The repository's own invariants: model copies in sync, exercises and solutions side by side, docs complete."""

from __future__ import annotations

import hashlib
from pathlib import Path

from grader import spec
from grader.kinds import registry

REPO = Path(__file__).resolve().parents[2]


def test_every_copy_of_the_served_model_is_the_same_file():
    copies = sorted(REPO.glob("exercises/exercise-*/**/iris_binary_model.pkl")) + sorted(
        REPO.glob("solutions/exercise-*/**/iris_binary_model.pkl")
    )
    assert len(copies) >= 2
    digests = {hashlib.sha256(path.read_bytes()).hexdigest() for path in copies}
    assert len(digests) == 1, "retrain with `python scripts/train_iris_model.py`: it rewrites every copy"


def test_every_exercise_has_a_starter_a_solution_and_two_readmes():
    for exercise in spec.load(REPO / "labs.yaml"):
        starter = REPO / exercise.folder
        assert starter.is_dir(), exercise.id
        assert (REPO / "solutions" / exercise.id).is_dir(), exercise.id
        assert (starter / "README.md").is_file() and (starter / "README.ko.md").is_file(), exercise.id


def test_every_check_kind_is_documented_in_the_schema():
    schema = (REPO / "docs" / "labs-schema.md").read_text(encoding="utf-8")
    missing = [kind for kind in registry() if f"`{kind}`" not in schema]
    assert not missing, f"document these kinds in docs/labs-schema.md: {missing}"


def test_each_exercise_app_is_the_same_in_its_starter_and_its_solution_and_the_lessons_app_is_shared():
    """Every build context holds its own copy of the app (a folder is all a build sees); the copies must agree."""
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    for starter in sorted(REPO.glob("exercises/exercise-*/**/flask_api_v2.py")):
        solution = REPO / "solutions" / starter.relative_to(REPO / "exercises")
        assert digest(starter) == digest(solution), f"{starter.relative_to(REPO)} and its solution differ"
    lesson_app = digest(REPO / "exercises" / "exercise-01" / "flask_api_v2.py")
    for shared in ("exercise-02/flask_api_v2.py", "exercise-06/api/flask_api_v2.py", "exercise-07/flask_api_v2.py", "exercise-08/flask_api_v2.py"):
        assert digest(REPO / "exercises" / shared) == lesson_app, f"exercises/{shared} drifted from exercise-01's app"
