"""`python -m grader merge DIR... --out DIR`: join the gradebooks of `batch --shard K/N` runs into one.

It refuses, with the reason, what does not belong together: shards of different exercises, shards
graded by different grader versions (a different kit, or checks changed in labs.yaml), shards cut
into different numbers of pieces, and a learner graded in two shards. Every row of every shard is
copied (history included), so the merged gradebook renders every output as one batch would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grader.gradebook import FILENAME, Gradebook
from grader.rows import Grading


class MergeError(Exception):
    """The shards cannot be merged; the message says why."""


@dataclass
class Shard:
    """One shard's output folder as read from its gradebook."""

    folder: Path
    meta: dict[str, str]
    rows: list[Grading]

    def exercises(self) -> set[str]:
        """The exercises it graded (its meta, and its rows)."""
        return {g.exercise for g in self.rows} | ({self.meta["exercise"]} if self.meta.get("exercise") else set())

    def versions(self) -> set[str]:
        """The grader versions its learners' current results come from (its meta when it graded none)."""
        found = {g.grader_version for g in self.standing().values() if g.final}
        return found or ({self.meta["grader_version"]} if self.meta.get("grader_version") else set())

    def standing(self) -> dict[str, Grading]:
        """Each learner's latest final grading, else latest not-gradable one."""
        latest: dict[str, Grading] = {}
        for grading in self.rows:
            if grading.final or not (latest.get(grading.learner) and latest[grading.learner].final):
                latest[grading.learner] = grading
        return latest


def read_shard(folder: Path) -> Shard:
    """The gradebook of a shard's --out folder."""
    path = Path(folder) / FILENAME
    if not path.is_file():
        raise MergeError(f"{folder} holds no {FILENAME}: pass the --out folders of `python -m grader batch --shard K/N`")
    book = Gradebook(path)
    try:
        return Shard(Path(folder), book.meta(), book.all())
    finally:
        book.close()


def _listing(values: dict[Path, object]) -> str:
    return "; ".join(f"{folder}: {value}" for folder, value in values.items())


def check(shards: list[Shard]) -> str:
    """The one exercise the shards grade; MergeError naming the shards when they do not belong together."""
    exercises = {shard.folder: ", ".join(sorted(shard.exercises())) or "nothing graded" for shard in shards}
    named = {value for value in exercises.values() if value != "nothing graded"}
    if len(named) != 1 or any("," in value for value in named):
        raise MergeError(f"the shards grade different exercises ({_listing(exercises)}): merge shards of one exercise")
    versions = {shard.folder: ", ".join(sorted(shard.versions())) for shard in shards if shard.versions()}
    if len(set(versions.values())) > 1 or any("," in value for value in versions.values()):
        raise MergeError(
            f"the shards were graded by different grader versions ({_listing(versions)}): grade every shard with the same kit "
            "(one LABKIT_REF) and labs.yaml, or rerun the older shards"
        )
    counts = {shard.folder: shard.meta.get("shard", "").partition("/")[2] for shard in shards if shard.meta.get("shard")}
    if len(set(counts.values())) > 1:
        raise MergeError(f"the shards were cut into different numbers of pieces ({_listing({f: '/' + n for f, n in counts.items()})})")
    sharded = [shard.meta["shard"] for shard in shards if shard.meta.get("shard")]
    if len(set(sharded)) < len(sharded):
        raise MergeError(f"a shard is given twice ({', '.join(sorted(sharded))}): pass each shard's folder once")
    if sharded:
        n = int(sharded[0].partition("/")[2])
        missing = sorted(set(range(1, n + 1)) - {int(piece.partition("/")[0]) for piece in sharded})
        if missing:
            raise MergeError(
                f"shard(s) {', '.join(f'{k}/{n}' for k in missing)} missing: merge every shard of the class"
                " (a failed shard's job can be rerun alone)"
            )
    owner: dict[str, Path] = {}
    for shard in shards:
        for learner in shard.standing():
            if learner in owner:
                raise MergeError(f"learner `{learner}` was graded in two shards, {owner[learner]} and {shard.folder}: each learner belongs to one shard")
            owner[learner] = shard.folder
    return named.pop()


def merge(folders: list[Path], out: Path) -> tuple[str, dict[str, Grading]]:
    """Copy every shard's rows into OUT's new gradebook; returns (exercise id, each learner's standing)."""
    out = Path(out).resolve()
    if any(Path(folder).resolve() == out for folder in folders):
        raise MergeError(f"--out {out} is one of the shards: name a folder of its own")
    shards = [read_shard(folder) for folder in folders]
    exercise = check(shards)
    target = out / FILENAME
    if target.exists():
        previous = read_shard(out)
        if "merged_from" not in previous.meta:
            raise MergeError(f"{out} holds a batch's own gradebook: merge into another folder")
        for suffix in ("", "-wal", "-shm"):  # a merge is rebuilt from its shards, never appended to
            Path(str(target) + suffix).unlink(missing_ok=True)
    book = Gradebook(target)
    try:
        for shard in shards:
            for grading in shard.rows:
                grading.id = None
                book.record(grading)
        versions = set().union(*(shard.versions() for shard in shards))
        book.set_meta({"exercise": exercise, "grader_version": ",".join(sorted(versions)), "shard": "",
                       "merged_from": json.dumps([str(Path(f).resolve()) for f in folders])})
        return exercise, book.current(exercise)
    finally:
        book.close()
