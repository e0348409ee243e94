"""`python -m grader clean`: remove every container, image, network and volume the grader labelled, e.g. after a killed run."""

from __future__ import annotations

import argparse

from rich.console import Console

from grader.cli.common import language_argument
from grader.engine.compose import sweep_compose
from grader.engine.connect import connect
from grader.engine.registry import sweep_registries
from grader.engine.sweep import sweep
from grader.i18n import t


def parser() -> argparse.ArgumentParser:
    """The clean command's arguments (help in the current language)."""
    parser = argparse.ArgumentParser(prog="python -m grader clean", description=t("cli.clean_description"))
    parser.add_argument("--cache", action="store_true", help=t("cli.help_cache"))
    language_argument(parser)
    return parser


def run(argv: list[str], err: Console) -> int:
    """Remove what the grader labelled (with --cache, the dangling build cache too) and say how much went."""
    args = parser().parse_args(argv)
    client = connect()
    # Compose projects first: their volumes carry no session label.
    stacks = sweep_compose(client)
    containers, images, networks = sweep(client, prune_cache=args.cache)
    containers += stacks["containers"]
    stacks["networks"] += networks
    pruned = t("cli.clean_stacks", networks=stacks["networks"], volumes=stacks["volumes"]) if stacks["networks"] or stacks["volumes"] else ""
    registries = sweep_registries()  # exercise-08's registries, after a killed grading
    if registries:
        pruned += t("cli.clean_registries", count=registries)
    if args.cache:
        result = client.images.prune(filters={"dangling": True})
        pruned += t("cli.clean_pruned", count=len(result.get("ImagesDeleted") or []))
    Console(highlight=False, soft_wrap=True).print(
        t("cli.clean_done", containers=containers, images=images, pruned=pruned), markup=False
    )
    return 0
