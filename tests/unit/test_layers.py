"""The grader's layers, read from every module's imports: no cycle, and every import points down.

    core  <-  engine  <-  grading  <-  checks  <-  apps
      ^                                             |
      +------  render (outputs/)  <-----------------+
      +------  store (gradebook, progress)  <-------+

`A <- B`: B may import A (and whatever A may import); a layer may import itself. render and store read
only core, and only apps read them. The modules of each layer are listed below: a new module must be
placed in one, or test_every_module_has_a_layer fails.

Imports are read with `ast`, lazy ones (inside functions) included: a shortcut taken in a hurry fails
here rather than in a review. Imports under `if TYPE_CHECKING:` are left out: they never run, so they
can neither make an import cycle nor drag a layer in at run time; a type named for a checker only is
the way a lower layer may mention a higher one (engine/replay.py names the Session that calls it).
A package's __init__.py is a module of its own (`grader.outputs`), and `from a import b` imports a.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading_sources import imported_names

PACKAGE = Path(__file__).resolve().parents[2] / "grader"

# A name ending in `.*` is a package and everything in it; any other name is that one module.
LAYERS: dict[str, tuple[str, ...]] = {
    "core": (
        "grader", "grader.model", "grader.rows", "grader.codec", "grader.errors", "grader.i18n", "grader.spec", "grader.dockerfile",
        "grader.context", "grader.commands", "grader.compose_facts", "grader.listeners", "grader.explain", "grader.text",
    ),
    "engine": ("grader.engine.*",),
    "grading": ("grader.grading.*", "grader.static_only", "grader.kinds", "grader.facts.*"),
    "checks": ("grader.checks.*",),
    "render": ("grader.outputs.*",),
    "store": ("grader.gradebook", "grader.progress_store"),
    "apps": (
        "grader.__main__", "grader.cli.*", "grader.batch", "grader.worker", "grader.merge", "grader.similarity", "grader.doctor",
        "grader.starter_kit", "grader.watch", "grader.startup", "grader.grading_sources", "grader.submissions",
    ),
}
MAY_IMPORT: dict[str, set[str]] = {
    "core": {"core"},
    "engine": {"core", "engine"},
    "grading": {"core", "engine", "grading"},
    "checks": {"core", "engine", "grading", "checks"},
    "render": {"core", "render"},
    "store": {"core", "store"},
    "apps": set(LAYERS),
}

def module_name(path: Path) -> str:
    """grader/outputs/junit.py -> grader.outputs.junit; grader/outputs/__init__.py -> grader.outputs."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """The grader modules a file imports, at its top or inside functions; not those under `if TYPE_CHECKING:`.

    Read by the same reader that computes the grader version (grader/grading_sources.py): one
    definition of "imports" for both."""
    name = module_name(path) if PACKAGE in path.parents else path.stem
    return {imported for imported in imported_names(path, name) if imported in MODULES}


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def layer_of(name: str) -> str | None:
    """The layer a module belongs to, or None when LAYERS does not place it."""
    for layer, members in LAYERS.items():
        for member in members:
            if name == member or member.endswith(".*") and (name == member[:-2] or name.startswith(member[:-1])):
                return layer
    return None


def cycles() -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm), i.e. every import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(GRAPH[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return found


def test_every_module_has_a_layer():
    unplaced = sorted(name for name in MODULES if layer_of(name) is None)
    assert not unplaced, f"{unplaced}: add each to LAYERS in {Path(__file__).name}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module):
    layer = layer_of(module)
    allowed = MAY_IMPORT.get(layer, set())  # an unplaced module fails here too, after test_every_module_has_a_layer
    wrong = sorted(f"{imported} ({layer_of(imported)})" for imported in GRAPH[module] if layer_of(imported) not in allowed)
    assert not wrong, f"{module} ({layer}) imports {wrong}; {layer} may import only {sorted(allowed)}"


@pytest.mark.parametrize("layer", list(LAYERS))
def test_no_import_cycle(layer):
    touching = [sorted(cycle) for cycle in cycles() if any(layer_of(member) == layer for member in cycle)]
    assert not touching, f"import cycles through {layer}: {touching}"


def test_render_and_store_read_only_core():
    """The rule in one place: a renderer or a store that needs a row type finds it in core (grader/rows.py, grader/codec.py)."""
    reads = {name: {layer_of(imported) for imported in GRAPH[name]} - {layer_of(name)} for name in MODULES if layer_of(name) in ("render", "store")}
    assert reads and all(layers <= {"core"} for layers in reads.values()), {name: layers for name, layers in reads.items() if layers - {"core"}}


def test_the_reader_sees_lazy_imports_and_skips_type_checking_ones(tmp_path):
    module = tmp_path / "lazy.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from grader.engine.session import Session\n"
        "def f():\n    from grader.outputs import junit\n    import grader.rows\n"
    )
    assert imports_of(module) == {"grader.outputs", "grader.outputs.junit", "grader.rows"}


def test_the_cycle_finder_finds_a_package_and_its_module():
    GRAPH["grader.fake"], GRAPH["grader.fake.part"] = {"grader.fake.part"}, {"grader.fake"}
    try:
        assert {"grader.fake", "grader.fake.part"} in cycles()
    finally:
        del GRAPH["grader.fake"], GRAPH["grader.fake.part"]
