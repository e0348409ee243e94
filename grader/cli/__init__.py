"""Command line: `main(argv)` reads the command word and hands the rest to that command's module.

Each command module parses its arguments, calls the library, renders and returns the exit code
(a grading: 0 full marks, 1 points lost, 2 not gradable; 130 interrupted). What several commands
share is in common.py. A grading (no command word) is imported up front: it is the command learners
run, and its imports then happen with the cycle collector off (see grader/startup.py); every other
command is imported when it runs.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

import grader.checks  # noqa: F401  (the check families register their kinds; the layers below never import the checks)
from grader import spec
from grader.cli import grade
from grader.cli.common import EXIT_INTERRUPTED, EXIT_NOT_GRADABLE, DeferredConsole, language_option
from grader.errors import EngineUnavailable
from grader.i18n import set_language, t
from grader.startup import unwind_on_signals

COMMANDS = ("list", "clean", "batch", "hint", "doctor", "starter-kit", "merge")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    err: Any = DeferredConsole(stderr=True, highlight=False, soft_wrap=True)
    if threading_is_main():
        unwind_on_signals()
    language = language_option(argv)
    if language:
        set_language(language)
    try:
        if argv and argv[0] in COMMANDS:
            return run_command(argv[0], argv[1:], err)
        return grade.run(argv, err)
    except spec.SpecError as error:
        err.print(t("cli.labs_invalid", error=error), markup=False)
        return EXIT_NOT_GRADABLE
    except EngineUnavailable as error:
        err.print(t("cli.error", error=error), markup=False)
        return EXIT_NOT_GRADABLE
    except KeyboardInterrupt:
        err.print(t("cli.interrupted"), markup=False)
        return EXIT_INTERRUPTED
    finally:
        if language:
            set_language(None)  # back to the locale: main() may be called again in the same process


def run_command(word: str, argv: list[str], err: DeferredConsole) -> int:
    """Run the command WORD (one of COMMANDS) with its arguments; its module is imported now."""
    if word == "list":
        from grader.cli import list_exercises as command
    elif word == "hint":
        from grader.cli import hint as command
    elif word == "clean":
        from grader.cli import clean as command
    elif word == "doctor":
        from grader.cli import doctor as command
    elif word == "starter-kit":
        from grader.cli import starter_kit as command
    elif word == "merge":
        from grader.cli import merge as command
    elif word == "batch":
        from grader.cli import batch as command
    else:
        raise ValueError(f"unknown command {word!r}")
    return command.run(argv, err.console)  # rich's Console itself: these commands use rich anyway (a batch's progress bar needs it)


def threading_is_main() -> bool:
    """Signal handlers can only be set from the main thread."""
    import threading

    return threading.current_thread() is threading.main_thread()
