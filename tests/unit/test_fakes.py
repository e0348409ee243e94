"""The engine session as checks see it: one Protocol (grader.context.EngineSession), the real Session and the
unit tests' one fake (tests/unit/fakes.py) both implement it, and the checks ask nothing else of it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from fakes import FakeSession
from unit_helpers import REPO_ROOT
from grader.context import EngineSession
from grader.engine.session import Session

METHODS = sorted(name for name, member in vars(EngineSession).items() if inspect.isfunction(member) and not name.startswith("_"))
ATTRIBUTES = sorted(name for name in getattr(EngineSession, "__annotations__", {}))


def _accepts(wanted: inspect.Signature, actual: inspect.Signature) -> list[str]:
    """What is wrong when ACTUAL cannot be called every way WANTED can (same names, kinds and order; extras need a default)."""
    problems = []
    given = list(actual.parameters.values())
    for index, parameter in enumerate(wanted.parameters.values()):
        match = actual.parameters.get(parameter.name)
        if match is None:
            if not any(p.kind is p.VAR_KEYWORD for p in given) or parameter.kind is parameter.VAR_KEYWORD:
                problems.append(f"no parameter `{parameter.name}`")
            continue
        if match.kind is not parameter.kind and not (parameter.kind is parameter.POSITIONAL_OR_KEYWORD and match.kind is match.POSITIONAL_OR_KEYWORD):
            problems.append(f"`{parameter.name}` is {match.kind.description}, not {parameter.kind.description}")
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and given.index(match) != index:
            problems.append(f"`{parameter.name}` is not parameter {index + 1}")
        if parameter.default is not parameter.empty and match.default is match.empty:
            problems.append(f"`{parameter.name}` has no default")
    for extra in given:
        if extra.name not in wanted.parameters and extra.kind not in (extra.VAR_POSITIONAL, extra.VAR_KEYWORD) and extra.default is extra.empty:
            problems.append(f"`{extra.name}` is required but the Protocol never passes it")
    return problems


@pytest.mark.parametrize("implementation", [Session, FakeSession], ids=lambda cls: cls.__module__ + "." + cls.__name__)
@pytest.mark.parametrize("method", METHODS)
def test_the_session_and_the_fake_take_what_the_protocol_passes(implementation, method):
    assert callable(getattr(implementation, method, None)), f"{implementation.__name__} has no `{method}`"
    problems = _accepts(inspect.signature(getattr(EngineSession, method)), inspect.signature(getattr(implementation, method)))
    assert problems == [], f"{implementation.__name__}.{method}: {problems}"


def test_the_fake_is_an_engine_session():
    assert isinstance(FakeSession(), EngineSession)
    assert all(hasattr(FakeSession(), name) for name in ATTRIBUTES) and all(hasattr(Session, name) for name in ATTRIBUTES)


def test_something_that_lacks_a_method_is_not_one():
    class Partial:
        probe_lost = False

        def engine_alive(self):
            return True

    assert not isinstance(Partial(), EngineSession)


def _asked_of_the_session(path: Path) -> set[str]:
    """The attributes read on `ctx.session` in a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "session":
            if isinstance(node.value.value, ast.Name) and node.value.value.id == "ctx":
                found.add(node.attr)
    return found


def test_checks_ask_the_session_only_what_the_protocol_names():
    folders = [REPO_ROOT / "grader" / "checks", REPO_ROOT / "grader" / "facts"]
    asked = {path.relative_to(REPO_ROOT).as_posix(): sorted(_asked_of_the_session(path)) for folder in folders for path in sorted(folder.glob("*.py"))}
    beyond = {path: sorted(set(names) - set(METHODS) - set(ATTRIBUTES)) for path, names in asked.items()}
    assert {path: names for path, names in beyond.items() if names} == {}
    assert set().union(*map(set, asked.values())) == set(METHODS) - {"engine_alive"}  # each one asked somewhere (the runner asks engine_alive)
