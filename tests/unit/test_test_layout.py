"""The test tree itself: `pytest tests` collects unit and integration tests in one run.

Test folders have no __init__.py, so pytest imports each test file by its bare name; two files
with one name in different folders stop the whole run at collection (CI failed so once).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_name_is_unique_across_folders():
    """No two test files share a file name, so one `pytest tests` run can import them all."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if "__pycache__" not in path.parts:
            by_name[path.name].append(str(path.relative_to(TESTS)))
    shared = {name: paths for name, paths in by_name.items() if len(paths) > 1 and name != "conftest.py"}
    assert not shared, f"rename one of each: {shared}"
