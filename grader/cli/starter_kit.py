"""`python -m grader starter-kit DIR`: write the learners' repository (no solution) into a new folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from grader.cli.common import EXIT_NOT_GRADABLE, language_argument
from grader.i18n import t
from grader.starter_kit import StarterKitError, write


def parser() -> argparse.ArgumentParser:
    """The starter-kit command's arguments (help in the current language)."""
    parser = argparse.ArgumentParser(prog="python -m grader starter-kit", description=t("cli.starter_kit_description"))
    parser.add_argument("dir", type=Path, help=t("cli.help_starter_kit_dir"))
    language_argument(parser)
    return parser


def run(argv: list[str], err: Console) -> int:
    """Write the kit, or say why not (the folder is not empty, a solution's line would leak)."""
    args = parser().parse_args(argv)
    try:
        written = write(args.dir)
    except StarterKitError as error:
        err.print(t("starter_kit.error", error=error), markup=False)
        return EXIT_NOT_GRADABLE
    print(t("starter_kit.done", path=args.dir, files=len(written)))
    return 0
