"""What several commands share: exit codes, the deferred error console, the exercise arguments, and the learner's progress file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import spec
from grader.i18n import available_languages, t
from grader.model import ExerciseSpec
from grader.progress_store import ProgressStore

# rich (~25 ms of imports) is not needed before a grading's build starts: see DeferredConsole.
if TYPE_CHECKING:
    from rich.console import Console

EXIT_FULL, EXIT_POINTS_LOST, EXIT_NOT_GRADABLE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_DONE = 0  # batch and merge: the outputs are written


class DeferredConsole:
    """A rich Console made on first use: a grading that prints plain progress lines makes it only
    after the build has started, instead of importing rich (~25 ms) ahead of everything."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The Console itself (made now if it was not yet)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def exercise_arguments(parser: argparse.ArgumentParser) -> None:
    """EXERCISE, --path, --labs and --lang: what grade and hint share."""
    parser.add_argument("exercise", help=t("cli.help_exercise"))
    parser.add_argument("--path", type=Path, help=t("cli.help_path"))
    parser.add_argument("--labs", type=Path, help=t("cli.help_labs"))
    language_argument(parser)


def language_argument(parser: argparse.ArgumentParser) -> None:
    """--lang, which main() has already applied (help texts are translated too); argparse only validates it."""
    parser.add_argument("--lang", choices=available_languages(), help=t("cli.help_lang"))


def language_option(argv: list[str]) -> str | None:
    """The value of --lang in ARGV when it names a language we have."""
    for index, word in enumerate(argv):
        if word == "--lang" and index + 1 < len(argv):
            value = argv[index + 1]
        elif word.startswith("--lang="):
            value = word.split("=", 1)[1]
        else:
            continue
        return value if value in available_languages() else None
    return None


def resolve(args: argparse.Namespace, err: Console) -> tuple[ExerciseSpec, Path] | int:
    """(exercise, submission folder) the arguments name, or the exit code after saying what is wrong."""
    exercises = spec.load(args.labs)
    exercise = spec.find_exercise(exercises, args.exercise)
    if exercise is None:
        known = ", ".join(e.id for e in exercises)
        err.print(t("cli.unknown_exercise", exercise=args.exercise, known=known), markup=False)
        return EXIT_NOT_GRADABLE
    labs_root = (args.labs.resolve().parent if args.labs else spec.default_labs_path().parent)
    submission = (args.path or labs_root / exercise.folder).resolve()
    if not submission.is_dir():
        err.print(t("cli.no_folder", path=submission), markup=False)
        return EXIT_NOT_GRADABLE
    return exercise, submission


def open_store(err: Console) -> ProgressStore:
    """The learner's progress file, whose problems are warnings on ERR, never failures."""
    return ProgressStore(warn=lambda text: err.print(text, markup=False))


def stdout_console() -> Console:
    """A console for reports; wide enough for logs and CI when not a terminal."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=120)
    return console
