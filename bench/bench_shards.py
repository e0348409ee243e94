#!/usr/bin/env python3
"""Benchmark: bench_batch.py's class of 20 graded as one batch (-j 2) against 2 shards plus `merge`.

    .venv/bin/python bench/bench_shards.py [--quick] [--rounds N] [--json FILE]

Shards are timed twice: at once on this machine (-j 1 each: they share its engine and cores as the
two workers of one batch do), and one after the other (-j 2 each, each alone on the machine, as each
would be on a GitHub runner of its own: the slower one plus the merge estimates two runners). Also checks that the merged
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


def wait_all(processes: list[subprocess.Popen], started: float) -> list[float]:
    """Seconds from STARTED at which each process ended (each checked for exit code 0)."""
    ends: list[float | None] = [None] * len(processes)
    while None in ends:
        for n, process in enumerate(processes):
            if ends[n] is None and process.poll() is not None:
                ends[n] = time.monotonic() - started
        time.sleep(0.1)
    for process in processes:
        finish(process)
    return [float(end) for end in ends]


def merged(work: Path, labs: Path, shards: list[Path]) -> float:
    """Seconds `merge` takes over SHARDS into WORK/merged."""
    shutil.rmtree(work / "merged", ignore_errors=True)
    started = time.monotonic()
    finish(grader("merge", *map(str, shards), "--out", str(work / "merged"), "--labs", str(labs)))
    return time.monotonic() - started


def one_round(work: Path, labs: Path, submissions: Path) -> dict[str, object]:
    """One batch (-j 2); two shards at once (-j 1 each) + merge; two shards one after the other (-j 2 each,
    each alone on the machine as on a runner of its own) + merge. Every configuration from empty folders."""
    def fresh(name: str) -> Path:
        shutil.rmtree(work / name, ignore_errors=True)
        return work / name

    common = ["exercise-01", str(submissions), "--labs", str(labs), "--timeout", "45"]
    started = time.monotonic()
    finish(grader("batch", *common, "--out", str(fresh("one")), "-j", "2"))
    single = time.monotonic() - started
    row: dict[str, object] = {"one_batch_j2_s": round(single, 1)}
    shards = [fresh(f"together-{k}") for k in (1, 2)]
    started = time.monotonic()
    ends = wait_all([grader("batch", *common, "--out", str(shards[k - 1]), "-j", "1", "--shard", f"{k}/2") for k in (1, 2)], started)
    merge = merged(work, labs, shards)
    row.update(together_shard_s=[round(e, 1) for e in ends], together_merge_s=round(merge, 2), together_total_s=round(max(ends) + merge, 1))
    alone_shards, alone = [fresh(f"alone-{k}") for k in (1, 2)], []
    for k in (1, 2):
        started = time.monotonic()
        finish(grader("batch", *common, "--out", str(alone_shards[k - 1]), "-j", "2", "--shard", f"{k}/2"))
        alone.append(time.monotonic() - started)
    merge = merged(work, labs, alone_shards)
    row.update(alone_shard_s=[round(a, 1) for a in alone], alone_merge_s=round(merge, 2),
               two_runners_estimate_s=round(max(alone) + merge, 1), one_machine_sequential_s=round(sum(alone) + merge, 1))
    one, both = scores(work / "one"), scores(work / "merged")
    row["shard_sizes"] = [len(scores(folder)) for folder in alone_shards]
    row["scores_that_differ"] = {learner: (one.get(learner), both.get(learner)) for learner in set(one) | set(both) if one.get(learner) != both.get(learner)}
    return row


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
