"""Start-up and exit of the grader's short-lived processes (the CLI and a batch's workers):
stop signals that unwind through cleanup, and no garbage collection where it only costs time.

Measured on a 1.9 s grading: the cycle collector spent 15 ms walking objects while ~300 modules
were imported, and the interpreter's final collection at exit took another 45 ms. Modules live
until exit, so nothing in them is garbage: collecting them is time spent for no memory.
"""

from __future__ import annotations

import contextlib
import gc
import signal
from typing import Iterator


@contextlib.contextmanager
def importing() -> Iterator[None]:
    """Import without the cycle collector, then keep what the imports made out of later collections."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.freeze()


def leaving(code: int) -> int:
    """The exit code, after sparing the interpreter a final walk over every object (files are closed already)."""
    gc.freeze()
    return code


def unwind_on_signals() -> None:
    """Make SIGTERM and SIGINT raise KeyboardInterrupt, so every `with Session` removes what it made.

    SIGINT is set even when inherited as ignored: a shell that starts a program as a background
    job hands it down that way, and Ctrl-C must still unwind through cleanup.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
