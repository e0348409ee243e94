"""The direction of imports below the apps: core <- grading layer (kinds, facts, the runner) <- check families.

Read from every module's imports, lazy ones included (test_engine_layer.imports_of), so that a
shortcut taken in a hurry fails here: no check imports another, the spec imports no check, and
what two families share lives in a core module or in grader/facts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_engine_layer import PACKAGE, imports_of
from test_layers import MODULES, layer_of

# Core: types, parsing, text, catalogs. They import nothing above them. One list of the layers,
# in test_layers.py's LAYERS: this file adds the rules inside the grading and checks layers.
CORE = {name for name in MODULES if layer_of(name) == "core"}
FACTS = PACKAGE / "facts"
CHECKS = PACKAGE / "checks"


def _module(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _grader_modules(path: Path) -> set[str]:
    """The grader modules a file imports, names of imported objects folded into their module."""
    found = set()
    for name in imports_of(path):
        if name != "grader" and not name.startswith("grader."):
            continue
        while name not in KNOWN and "." in name:
            name = name.rsplit(".", 1)[0]
        found.add(name)
    return found


KNOWN = {_module(path) for path in PACKAGE.rglob("*.py")}


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


@pytest.mark.parametrize("path", sorted(path for path in PACKAGE.glob("*.py") if _module(path) in CORE), ids=_name)
def test_core_modules_import_only_core_modules(path):
    wrong = _grader_modules(path) - CORE
    assert not wrong, f"{_name(path)} imports {sorted(wrong)}: a core module knows nothing of the grading, the checks or the engine"


@pytest.mark.parametrize("path", sorted(FACTS.glob("*.py")), ids=_name)
def test_the_shared_facts_import_only_core_and_each_other(path):
    wrong = {name for name in _grader_modules(path) - CORE if not name.startswith("grader.facts")}
    assert not wrong, f"{_name(path)} imports {sorted(wrong)}: grader/facts/ sits below the checks and beside the runner"


@pytest.mark.parametrize("path", sorted(CHECKS.glob("*.py")), ids=_name)
def test_no_check_family_imports_another_or_reaches_above_the_grading_layer(path):
    imported = _grader_modules(path) - {_module(path)}
    if path.name == "__init__.py":
        assert all(name.startswith("grader.checks.") for name in imported), "grader/checks/__init__.py only lists the families"
        return
    siblings = {name for name in imported if name.startswith("grader.checks")}
    assert not siblings, f"{_name(path)} imports {sorted(siblings)}: move what two families share to grader/facts/ or a core module"
    wrong = {name for name in imported - CORE - {"grader.kinds"} if not name.startswith("grader.facts")}
    assert not wrong, f"{_name(path)} imports {sorted(wrong)}: a check reads the Context, the core and grader/facts/ only"


def test_the_registry_imports_only_core_modules():
    imported = _grader_modules(PACKAGE / "kinds.py")
    assert imported <= CORE, "grader/kinds.py imports core modules only: the apps load the families (import grader.checks)"


def test_every_family_is_listed_once_and_registers_a_kind():
    from grader import checks
    from grader.kinds import registry

    families = {path.stem for path in CHECKS.glob("*.py") if path.name != "__init__.py"}
    listed = {name.rsplit(".", 1)[-1] for name in _grader_modules(CHECKS / "__init__.py") if name.startswith("grader.checks.")}
    assert listed == families
    assert {kind.family for kind in registry().values()} == families
    assert checks.__doc__
