#!/usr/bin/env python3
"""Benchmark: bench_batch.py's class of 20 graded as one batch (-j 2) against 2 shards (-j 1 each, run at once) plus `merge`.

    .venv/bin/python bench/bench_shards.py [--quick] [--rounds N] [--json FILE]

On one machine the two shards share its engine and cores, as two jobs of one batch do: what this
measures is the cost of sharding (two grader processes, two gradebooks, the merge), not the gain of
a second machine, which on GitHub's runners is each shard running alone. Also checks that the merged
gradebook gives every learner the score the single batch gave. This is a script, not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_batch import prepare_class  # noqa: E402

ENV = {**os.environ, "LABKIT_GRADER_VERSION": "bench", "LABKIT_SESSION_PREFIX": "bench-shards-", "LABKIT_LANG": "en"}


def grader(*args: str) -> subprocess.Popen:
    """`python -m grader ARGS` started in the background."""
    return subprocess.Popen([sys.executable, "-m", "grader", *args], cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> str:
    """Its stdout, once it ended with 0."""
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{process.args[3:5]} failed ({process.returncode}): {err[-2000:]}")
    return out


def scores(folder: Path) -> dict[str, str]:
    """learner -> score in the folder's gradebook.csv."""
    with (folder / "gradebook.csv").open(newline="") as handle:
        return {row["learner"]: row["score"] for row in csv.DictReader(handle)}


def one_round(work: Path, labs: Path, submissions: Path) -> dict[str, float]:
    """Wall times of one batch and of two shards + merge, from empty output folders."""
    for name in ("one", "shard-1", "shard-2", "merged"):
        shutil.rmtree(work / name, ignore_errors=True)
    common = ["exercise-01", str(submissions), "--labs", str(labs), "--timeout", "45"]
    started = time.monotonic()
    finish(grader("batch", *common, "--out", str(work / "one"), "-j", "2"))
    single = time.monotonic() - started
    started = time.monotonic()
    shards = [grader("batch", *common, "--out", str(work / f"shard-{k}"), "-j", "1", "--shard", f"{k}/2") for k in (1, 2)]
    ends = []
    for process in shards:
        finish(process)
        ends.append(time.monotonic() - started)
    merge_started = time.monotonic()
    finish(grader("merge", str(work / "shard-1"), str(work / "shard-2"), "--out", str(work / "merged"), "--labs", str(labs)))
    merge = time.monotonic() - merge_started
    merged, alone = scores(work / "merged"), scores(work / "one")
    differ = {learner: (alone.get(learner), merged.get(learner)) for learner in set(merged) | set(alone) if merged.get(learner) != alone.get(learner)}
    sizes = [len(scores(work / f"shard-{k}")) for k in (1, 2)]
    return {"one_batch_s": round(single, 1), "shard_1_s": round(ends[0], 1), "shard_2_s": round(ends[1], 1),
            "merge_s": round(merge, 2), "shards_plus_merge_s": round(max(ends) + merge, 1), "shard_sizes": sizes,
            "scores_that_differ": differ}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="no hanging submissions (as bench_batch.py --quick)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    try:
        labs = prepare_class(work, args.quick)
        rows = []
        for n in range(args.rounds):
            load = os.getloadavg()[0]
            row = {**one_round(work, labs, work / "submissions"), "load_before": round(load, 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
