"""The CLI's start-up and exit helpers: imports without the cycle collector, no final walk at exit."""

from __future__ import annotations

import gc
import io
import subprocess
import sys

import pytest

from grader import cli
from grader.cli import grade as grade_command
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


# -- what the CLI leaves for later ---------------------------------------------------------------


def test_the_cli_imports_no_renderer_before_grading():
    """rich and the report (~30 ms) are imported while the app starts, not ahead of the build."""
    code = "import sys, grader.cli; print(sorted(m for m in ('rich', 'grader.outputs.terminal', 'grader.engine.compose') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty, environment, plain", [
    (False, {}, True),
    (True, {}, False),
    (False, {"FORCE_TERMINAL": "1"}, False),  # rich decides, as it always did
    (False, {"TTY_COMPATIBLE": "1"}, False),
])
def test_plain_progress_only_where_rich_would_see_no_terminal(tty, environment, plain, monkeypatch):
    for name in ("FORCE_TERMINAL", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert grade_command.plain_progress(_Stream(tty)) is plain


def test_a_closed_stream_gets_plain_progress():
    stream = io.StringIO()
    stream.close()
    assert grade_command.plain_progress(stream) is True


def test_the_deferred_console_is_made_on_first_use():
    target = io.StringIO()
    console = cli.DeferredConsole(file=target, highlight=False, soft_wrap=True)
    assert console._console is None
    console.print("hello [b]there[/b]", markup=False)
    assert target.getvalue() == "hello [b]there[/b]\n"
    assert console.console is console._console is not None
