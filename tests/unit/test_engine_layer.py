"""One engine layer: grader/engine/ is the only code that talks to an engine, and it holds no learner text.

Read from every module's imports, lazy ones (inside functions) included, so a shortcut taken
in a hurry fails here rather than in a review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grader.grading_sources import imported_names

PACKAGE = Path(__file__).resolve().parents[2] / "grader"
ENGINE = PACKAGE / "engine"

# What the engine layer may import of the grader: core modules only (types, parsing, limits of
# what a container returns, errors named by key). Never the catalogs, the checks or the apps.
ENGINE_MAY_IMPORT = {
    "grader", "grader.context", "grader.dockerfile", "grader.errors", "grader.compose_facts", "grader.listeners",
    "grader.model", "grader.commands",
}
# The SDK and the engine's CLIs belong to the engine layer alone.
ENGINE_LIBRARIES = ("docker",)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside functions (`from a import b` gives a and a.b).

    The grader version's reader (grader/grading_sources.py): one definition of "imports" for every layer test."""
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts) if PACKAGE in path.parents else path.stem
    return imported_names(path, name.removesuffix(".__init__"))


def modules(folder: Path) -> list[Path]:
    """The Python files under a folder."""
    return sorted(folder.rglob("*.py"))


def outside_engine() -> list[Path]:
    """Every grader module that is not part of the engine layer."""
    return [path for path in modules(PACKAGE) if ENGINE not in path.parents]


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


@pytest.mark.parametrize("path", modules(ENGINE), ids=_name)
def test_the_engine_layer_imports_only_core_modules(path):
    grader_imports = {name for name in imports_of(path) if name == "grader" or name.startswith("grader.")}
    wrong = {
        name for name in grader_imports
        if not name.startswith("grader.engine") and name not in ENGINE_MAY_IMPORT
        and not any(name.startswith(allowed + ".") for allowed in ENGINE_MAY_IMPORT if allowed != "grader")
    }
    assert not wrong, f"{_name(path)} imports {sorted(wrong)}: the engine layer returns facts; text and checks live above it"


@pytest.mark.parametrize("path", modules(ENGINE), ids=_name)
def test_the_engine_layer_makes_no_sentences(path):
    calls = [
        node.lineno for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t"
    ]
    assert not calls, f"{_name(path)} renders catalog text on lines {calls}: raise with a key and facts instead"


@pytest.mark.parametrize("path", outside_engine(), ids=_name)
def test_nothing_outside_the_engine_layer_talks_to_an_engine(path):
    direct = {name for name in imports_of(path) if name.split(".")[0] in ENGINE_LIBRARIES}
    assert not direct, f"{_name(path)} imports {sorted(direct)}: only grader/engine/ may use the SDK"


@pytest.mark.parametrize("path", modules(PACKAGE / "checks"), ids=_name)
def test_checks_never_reach_into_the_engine_layer(path):
    engine = {name for name in imports_of(path) if name.startswith("grader.engine")}
    assert not engine, f"{_name(path)} imports {sorted(engine)}: checks read facts and ask ctx.session"


def test_the_layer_test_sees_lazy_imports(tmp_path):
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from grader.checks.runtime import parse_listeners\n    import docker.errors\n")
    assert {"grader.checks.runtime", "docker.errors"} <= imports_of(module)
