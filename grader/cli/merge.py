"""`python -m grader merge DIR... --out DIR`: join the gradebooks of `batch --shard K/N` runs into one and write every output."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from grader import spec
from grader.cli.class_outputs import print_roster_summary, template_dockerfile
from grader.cli.common import EXIT_DONE, EXIT_NOT_GRADABLE
from grader.gradebook import FILENAME
from grader.i18n import available_languages, set_language, t
from grader.merge import MergeError, merge
from grader.outputs.common import state_label
from grader.outputs.lms import RosterError, load_roster
from grader.outputs.registry import write_all
from grader.rows import STATE_LABELS
from grader.similarity import DEFAULT_THRESHOLD, similar_pairs


def parser() -> argparse.ArgumentParser:
    """The merge command's arguments (help in the current language)."""
    p = argparse.ArgumentParser(prog="python -m grader merge", description=t("merge.description"), epilog=t("merge.epilog"))
    p.add_argument("shards", type=Path, nargs="+", metavar="DIR", help=t("merge.help_shards"))
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help=t("batch.help_out"))
    p.add_argument("--similarity", type=float, default=DEFAULT_THRESHOLD, metavar="SCORE", help=t("batch.help_similarity", default=DEFAULT_THRESHOLD))
    p.add_argument("--roster", type=Path, metavar="FILE", help=t("batch.help_roster"))
    p.add_argument("--assignment", metavar="TITLE", help=t("batch.help_assignment"))
    p.add_argument("--labs", type=Path, help=t("cli.help_labs"))
    p.add_argument("--lang", choices=available_languages(), help=t("batch.help_lang"))
    return p


def run(argv: list[str], err: Console) -> int:
    """Run `python -m grader merge`; returns the exit code (0 merged, 2 refused)."""
    args = parser().parse_args(argv)
    if args.lang:
        set_language(args.lang)
    try:
        roster = load_roster(args.roster) if args.roster else None
        exercise_id, standing = merge(args.shards, args.out)
    except (MergeError, RosterError) as error:
        err.print(t("cli.error", error=error), markup=False)
        return EXIT_NOT_GRADABLE
    exercise = spec.find_exercise(spec.load(args.labs), exercise_id)
    if exercise is None:
        err.print(t("merge.unknown_exercise", exercise=exercise_id), markup=False)
        return EXIT_NOT_GRADABLE
    texts = {}
    for learner, grading in standing.items():
        try:
            texts[learner] = (Path(grading.submission) / "Dockerfile").read_text(encoding="utf-8", errors="replace")[:200_000]
        except OSError:
            pass  # that shard's submissions are not on this machine: no similarity for this learner
    pairs = similar_pairs(texts, template_dockerfile(args.labs, exercise), args.similarity)
    write_all(args.out.resolve(), exercise, standing, pairs, roster, args.assignment)
    out = Console(highlight=False, soft_wrap=True)
    states = ", ".join(f"{sum(1 for g in standing.values() if g.state == s)} {state_label(s)}" for s in STATE_LABELS)
    out.print(t("merge.summary", exercise=exercise.id, shards=len(args.shards), learners=len(standing), states=states), markup=False)
    if len(texts) < len(standing):
        out.print(t("merge.alike_partial", compared=len(texts), learners=len(standing)), markup=False)
    if roster is not None:
        print_roster_summary(out, roster, standing)
    out.print(t("batch.outputs", out=args.out.resolve(), gradebook=FILENAME), markup=False)
    return EXIT_DONE
