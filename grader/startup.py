"""Start-up and exit of the grader's short-lived processes: the CLI and a batch's workers.

Measured on a 1.9 s grading: the cycle collector spent 15 ms walking objects while ~300 modules
were imported, and the interpreter's final collection at exit took another 45 ms. Modules live
until exit, so nothing in them is garbage: collecting them is time spent for no memory.
"""

from __future__ import annotations

import contextlib
import gc
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
