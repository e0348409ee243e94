"""The CLI's start-up and exit helpers: imports without the cycle collector, no final walk at exit."""

from __future__ import annotations

import gc

import pytest

from grader.startup import importing, leaving


@pytest.fixture(autouse=True)
def restore_collector():
    yield
    gc.enable()
    gc.unfreeze()


def test_imports_run_without_the_collector_and_end_frozen():
    with importing():
        assert not gc.isenabled()
        made_while_importing = [[] for _ in range(100)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made_while_importing)


def test_the_collector_comes_back_even_when_an_import_fails():
    with pytest.raises(ImportError):
        with importing():
            import grader.no_such_module  # noqa: F401
    assert gc.isenabled()


def test_leaving_keeps_the_exit_code_and_freezes():
    gc.unfreeze()
    assert leaving(7) == 7
    assert gc.get_freeze_count() > 0
