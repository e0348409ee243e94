"""labs.yaml: the real one loads; invalid ones report every error at once with its YAML path."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from unit_helpers import LABS, REPO_ROOT
from grader import spec
from grader.kinds import registry
from grader.spec import SpecError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labs.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(document, path: Path = Path("labs.yaml")) -> list[str]:
    with pytest.raises(SpecError) as caught:
        spec.parse(document, path)
    return caught.value.errors


def good_check(**overrides):
    check = {"id": "no-todo", "kind": "no_todo", "points": 5, "title": "No TODO left"}
    check.update(overrides)
    return check


def good_exercise(**overrides):
    exercise = {"id": "ex-1", "title": "One", "folder": "exercises/ex-1", "checks": [good_check()]}
    exercise.update(overrides)
    return exercise


# -- the real labs.yaml --------------------------------------------------------------------


def test_repository_labs_yaml_loads(exercises):
    assert exercises, "labs.yaml declares no exercise"
    for exercise in exercises:
        assert exercise.max_score > 0, exercise.id
        assert exercise.checks
        assert (REPO_ROOT / exercise.folder).is_dir(), exercise.folder
        assert all(check.kind in registry() for check in exercise.checks)
        assert len({check.id for check in exercise.checks}) == len(exercise.checks)


def test_exercise_01_is_worth_100_points_on_port_5001(exercise):
    assert exercise.port == 5001
    assert exercise.max_score == 100
    assert {"no_todo", "base_image", "hadolint", "build", "predictions"} <= {c.kind for c in exercise.checks}


def test_load_without_path_finds_the_repository_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no labs.yaml here: falls back to the one beside the package
    assert spec.default_labs_path() == LABS
    assert [e.id for e in spec.load()] == [e.id for e in spec.load(LABS)]


# -- the kinds are given to the spec, never imported by it -------------------------------------


def test_the_spec_validates_against_the_kinds_it_is_given():
    own = {"my_kind": SimpleNamespace(required_params=("size",))}
    document = {"exercises": [good_exercise(checks=[good_check(kind="my_kind", params={"size": 1})])]}
    (exercise,) = spec.parse(document, kinds=own)
    assert exercise.checks[0].kind == "my_kind"
    with pytest.raises(SpecError) as caught:
        spec.parse({"exercises": [good_exercise()]}, kinds=own)  # no_todo is not one of the given kinds
    assert caught.value.errors == ["exercises[0].checks[0].kind: unknown kind `no_todo`; known kinds: my_kind"]
    with pytest.raises(SpecError) as caught:
        spec.parse({"exercises": [good_exercise(checks=[good_check(kind="my_kind")])]}, kinds=own)
    assert caught.value.errors == ["exercises[0].checks[0].params.size: required by kind `my_kind`"]


def test_without_kinds_the_spec_uses_the_grading_layers_registry():
    assert spec.load(LABS) == spec.load(LABS, kinds=registry())


def test_a_spec_given_no_kinds_at_all_says_how_to_give_them(monkeypatch):
    monkeypatch.setattr(spec, "_default_kinds", None)
    with pytest.raises(RuntimeError, match="kinds=grader.kinds.registry()"):
        spec.parse({"exercises": [good_exercise()]})


def test_the_spec_imports_neither_the_checks_nor_the_grading_layer():
    from test_engine_layer import imports_of

    imported = {name for name in imports_of(REPO_ROOT / "grader" / "spec.py") if name.startswith("grader.")}
    assert not {name for name in imported if name.startswith(("grader.checks", "grader.kinds", "grader.grading"))}, imported


def test_minimal_document_parses_with_defaults():
    (exercise,) = spec.parse({"exercises": [good_exercise()]})
    assert exercise.port == 5001
    assert exercise.network == "internal"  # no route out at run time unless the exercise opens it
    (check,) = exercise.checks
    assert check.points == 5.0 and check.hint == "" and dict(check.params) == {}


# -- YAML syntax ---------------------------------------------------------------------------


def test_bad_yaml_reports_line_and_column(tmp_path):
    path = write(
        tmp_path,
        """\
        exercises:
          - id: ex-1
            title: "unclosed
            folder: x
        """,
    )
    with pytest.raises(SpecError) as caught:
        spec.load(path)
    (error,) = caught.value.errors
    assert "not valid YAML at line" in error and "column" in error
    assert str(path) in str(caught.value)


def test_bad_indentation_reports_its_line(tmp_path):
    path = write(tmp_path, "exercises:\n  - id: ex-1\n   title: bad indent\n")
    with pytest.raises(SpecError) as caught:
        spec.load(path)
    assert "line 3, column" in caught.value.errors[0]


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(SpecError) as caught:
        spec.load(tmp_path / "nope.yaml")
    assert "cannot read the file" in caught.value.errors[0] and "--labs" in caught.value.errors[0]


# -- every error at once, with its path ----------------------------------------------------


def test_every_error_is_reported_at_once_with_its_path(tmp_path):
    path = write(
        tmp_path,
        """\
        exercises:
          - id: ex-1
            title: Broken
            folder: exercises/ex-1
            checks:
              - {id: a, kind: no_such_kind, points: 5, title: Unknown kind}
              - {id: b, kind: no_todo, points: -3, title: Negative points}
              - {id: c, kind: no_todo, title: Missing points}
              - {id: a, kind: no_todo, points: 1, title: Duplicate id}
              - {id: e, kind: no_todo, points: 1}
              - {id: f, kind: base_image, points: 1, title: Params list, params: [1, 2]}
              - {id: g, kind: image_exposes, points: 1, title: No port, params: {}}
              - {id: h, kind: no_todo, points: 1, title: Typo, hnit: oops}
        """,
    )
    with pytest.raises(SpecError) as caught:
        spec.load(path)
    errors = caught.value.errors
    expected = {
        "exercises[0].checks[0].kind": "unknown kind `no_such_kind`",
        "exercises[0].checks[1].points": "negative",
        "exercises[0].checks[2].points": "missing",
        "exercises[0].checks[3].id": "used twice",
        "exercises[0].checks[4].title": "missing",
        "exercises[0].checks[5].params": "must be a mapping",
        "exercises[0].checks[6].params.port": "required by kind `image_exposes`",
        "exercises[0].checks[7].hnit": "unknown key",
    }
    for where, says in expected.items():
        matching = [e for e in errors if e.startswith(where + ":")]
        assert matching, f"no error for {where} in {errors}"
        assert says in matching[0], matching[0]
    assert len(errors) == len(expected), errors
    message = str(caught.value)
    assert f"{len(expected)} error(s)" in message and str(path) in message
    assert "no_todo" in next(e for e in errors if "unknown kind" in e)  # lists the known kinds


@pytest.mark.parametrize(
    "check, where, says",
    [
        (good_check(points="ten"), "exercises[0].checks[0].points", "not a number"),
        (good_check(points=True), "exercises[0].checks[0].points", "not a number"),
        (good_check(id="Bad ID"), "exercises[0].checks[0].id", "lower-case"),
        (good_check(hint=["a"]), "exercises[0].checks[0].hint", "must be text"),
        (good_check(kind=""), "exercises[0].checks[0].kind", "missing"),
        ("no_todo", "exercises[0].checks[0]", "must be a mapping"),
    ],
)
def test_single_check_errors(check, where, says):
    errors = errors_of({"exercises": [good_exercise(checks=[check])]})
    assert any(e.startswith(where + ":") and says in e for e in errors), errors


@pytest.mark.parametrize(
    "exercise, where, says",
    [
        (good_exercise(id=None), "exercises[0].id", "missing"),
        (good_exercise(title=""), "exercises[0].title", "missing"),
        (good_exercise(folder=3), "exercises[0].folder", "not text"),
        (good_exercise(port="5001"), "exercises[0].port", "not a TCP port"),
        (good_exercise(port=70000), "exercises[0].port", "not a TCP port"),
        (good_exercise(checks=[]), "exercises[0].checks", "missing or empty"),
        (good_exercise(id="Exercise 1"), "exercises[0].id", "lower-case"),
        (good_exercise(network="closed"), "exercises[0].network", "network: open"),
    ],
)
def test_single_exercise_errors(exercise, where, says):
    errors = errors_of({"exercises": [exercise]})
    assert any(e.startswith(where + ":") and says in e for e in errors), errors


def test_an_exercise_may_open_its_network():
    (exercise,) = spec.parse({"exercises": [good_exercise(network="open")]})
    assert exercise.network == "open"


def test_errors_in_several_exercises_are_all_reported():
    errors = errors_of({"exercises": [good_exercise(title=None), "oops", good_exercise(id="ex-3", checks=[good_check(points=-1)])]})
    assert any(e.startswith("exercises[0].title:") for e in errors)
    assert any(e.startswith("exercises[1]:") and "must be a mapping" in e for e in errors)
    assert any(e.startswith("exercises[2].checks[0].points:") for e in errors)


@pytest.mark.parametrize("document", [None, [], "exercises", {"exercise": []}, {"exercises": {"id": "x"}}])
def test_top_level_must_be_a_mapping_with_an_exercises_list(document):
    errors = errors_of(document)
    assert len(errors) == 1 and "top level must be a mapping" in errors[0] and "exercises:" in errors[0]


def test_top_level_list_in_a_file(tmp_path):
    with pytest.raises(SpecError) as caught:
        spec.load(write(tmp_path, "- id: ex-1\n  title: x\n"))
    assert "top level must be a mapping" in caught.value.errors[0]


def test_duplicate_exercise_ids():
    errors = errors_of({"exercises": [good_exercise(), good_exercise(title="Again")]})
    assert errors == [next(e for e in errors if e.startswith("exercises[1].id:"))]
    assert "`ex-1` is used twice" in errors[0]


def test_same_check_id_in_two_exercises_is_fine():
    exercises = spec.parse({"exercises": [good_exercise(), good_exercise(id="ex-2")]})
    assert [e.id for e in exercises] == ["ex-1", "ex-2"]
    assert spec.find_exercise(exercises, "ex-2").id == "ex-2"
    assert spec.find_exercise(exercises, "ex-3") is None


def test_real_labs_with_one_broken_check_names_its_path(tmp_path):
    document = yaml.safe_load(LABS.read_text(encoding="utf-8"))
    document["exercises"][0]["checks"][1]["points"] = -5
    errors = errors_of(document)
    assert len(errors) == 1 and errors[0].startswith("exercises[0].checks[1].points:")


def test_unknown_exercise_key_is_reported():
    errors = errors_of({"exercises": [good_exercise(prot=5002)]})
    assert any(e.startswith("exercises[0].prot:") for e in errors)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_points_are_rejected(value):
    errors_of({"exercises": [good_exercise(checks=[good_check(points=value)])]})
