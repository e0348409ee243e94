"""The grader's files that can change a grade, read from the imports of the grading's entry points.

A batch regrades a learner when the grader version changes, and that version hashes these files
(grader/batch.py). They are found, not listed: every grader module `grader.grading` and
`grader.worker` import, lazy imports inside functions included, then what those import, and so on,
with the packages that Python runs on the way (`import grader.checks.lint` runs grader/checks/__init__.py).
A renderer, a store or a command is never reached from there, so changing one re-renders without a
regrade. Imports under `if TYPE_CHECKING:` are left out: they never run, so they cannot change a grade.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ENTRY_POINTS = ("grader.grading", "grader.worker")  # a grading in the CLI, and a batch's grading process
# Files a grading reads rather than imports, whose bytes still decide results: the probe's agent
# (sent into a helper container as source text by grader/engine/probe.py).
READ_AS_DATA = ("engine/probe_agent.py",)


def modules_of(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its __init__.py)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _under_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(path: Path, name: str) -> set[str]:
    """The dotted names a module imports, at its top or inside functions (`from a import b` gives a and a.b); not TYPE_CHECKING ones."""
    return set(_imported_names(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"))


@functools.lru_cache(maxsize=None)
def _imported_names(source: str, name: str, is_package: bool) -> frozenset[str]:
    # Cached by source text: parsing the package takes ~0.5 s, and a file seen once need not be parsed again.
    tree = ast.parse(source)
    skipped = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If) and _under_type_checking(node)
               for statement in node.body for inner in ast.walk(statement)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package, up one more per extra dot
                base = name.split(".") if is_package else name.split(".")[:-1]
                module = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _with_packages(name: str) -> list[str]:
    """`grader.checks.lint` -> grader, grader.checks, grader.checks.lint: what importing it runs."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def grading_sources(package: Path = PACKAGE) -> list[Path]:
    """The files that can change a grade, sorted: the modules the entry points reach, and READ_AS_DATA."""
    modules = modules_of(package)
    reached: set[str] = set()
    todo = [name for entry in ENTRY_POINTS for name in _with_packages(entry)]
    while todo:
        name = todo.pop()
        if name in reached or name not in modules:
            continue
        reached.add(name)
        for imported in imported_names(modules[name], name):
            todo += [step for step in _with_packages(imported) if step in modules]
    files = {modules[name] for name in reached} | {package / name for name in READ_AS_DATA if (package / name).is_file()}
    return sorted(files)
