#!/usr/bin/env python3
"""Benchmark: wall time of `python -m grader batch` over a generated class of 20, serially and in parallel, on one and two engines.

    .venv/bin/python bench/bench_batch.py [--engine URL] [--engine URL2] [--quick] [--json FILE]

The class is tests/integration/cohort.py's CLASS_OF_20 (solutions, mistakes, a container that never
answers, one that exits, garbage, empty, a build that sleeps forever), graded with a 30 s readiness
limit and `--timeout 45`; `--quick` swaps the two that hang for solutions, to measure throughput
rather than the time limit of the last hang. Each configuration starts from an empty output folder; the last one is
then rerun with nothing changed, then regraded with 2 workers (`--regrade`: the batch knows each learner's last time and
starts the longest first). With two --engine URLs, the two-engine rows are measured too
(every engine needs python:3.11-slim and, to be fair, the solution's pip layer in its build cache).
This is a script, not a test; every grading cleans up after itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.engine.pool import default_url  # noqa: E402
from tests.integration.cohort import CLASS_OF_20, make_cohort  # noqa: E402


def run_batch(submissions: Path, out: Path, labs: Path, engines: list[str], jobs: int, extra: tuple[str, ...] = ()) -> tuple[float, str]:
    """(wall seconds, summary line) of one batch."""
    command = [
        sys.executable, "-m", "grader", "batch", "exercise-01", str(submissions), "--out", str(out), "--labs", str(labs),
        "-j", str(jobs), "--timeout", "45", *extra,
    ]
    for url in engines:
        command += ["--engine", url]
    env = {**os.environ, "LABKIT_GRADER_VERSION": "bench", "LABKIT_SESSION_PREFIX": "bench-"}
    started = time.monotonic()
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit(f"batch failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return wall, completed.stdout.splitlines()[0]


def prepare_class(work: Path, quick: bool) -> Path:
    """The class of 20 in WORK/submissions and a labs.yaml with a 30 s readiness limit; returns that labs.yaml."""
    document = yaml.safe_load((REPO / "labs.yaml").read_text())
    for exercise in document["exercises"]:
        for check in exercise["checks"]:
            if check["kind"] == "container_ready":
                check.setdefault("params", {})["timeout"] = 30
    labs = work / "labs.yaml"
    labs.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    shutil.copytree(REPO / "exercises", work / "exercises")
    hangs = ("hangs-at-start", "hangs-in-build")
    make_cohort(work / "submissions", [("solution" if quick and v in hangs else v) for v in CLASS_OF_20])
    return labs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", default=[], help="engine URL (default: DOCKER_HOST or the local socket); give two for the two-engine rows")
    parser.add_argument("--quick", action="store_true", help="no hanging submissions: the class is graded as fast as it can be")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    engines = args.engine or [default_url()]
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        labs = prepare_class(work, args.quick)
        configurations = [("1 engine, serial (-j 1)", engines[:1], 1), ("1 engine, 2 workers (-j 2)", engines[:1], 2)]
        if len(engines) > 1:
            configurations += [("2 engines, 1 worker each (-j 1)", engines[:2], 1), ("2 engines, 2 workers each (-j 2)", engines[:2], 2)]
        rows = []
        out = work / "out"
        for name, urls, jobs in configurations:
            shutil.rmtree(out, ignore_errors=True)
            wall, summary = run_batch(work / "submissions", out, labs, urls, jobs)
            rows.append({"configuration": name, "wall_s": round(wall, 1), "summary": summary})
            print(f"{name:36} {wall:7.1f} s   {summary}", flush=True)
        wall, summary = run_batch(work / "submissions", out, labs, configurations[-1][1], configurations[-1][2])
        rows.append({"configuration": "rerun, nothing changed", "wall_s": round(wall, 1), "summary": summary})
        print(f"{'rerun, nothing changed':36} {wall:7.1f} s   {summary}")
        # A regrade knows each learner's last time: the longest start first (a hang no longer last).
        wall, summary = run_batch(work / "submissions", out, labs, engines[:1], 2, ("--regrade",))
        rows.append({"configuration": "regrade, 2 workers (-j 2 --regrade)", "wall_s": round(wall, 1), "summary": summary})
        print(f"{'regrade, 2 workers (-j 2 --regrade)':36} {wall:7.1f} s   {summary}")
        serial = rows[0]["wall_s"]
        print("\n| configuration | wall time | vs serial |\n|---|---|---|")
        for row in rows:
            print(f"| {row['configuration']} | {row['wall_s']:.1f} s | {serial / row['wall_s']:.2f}x |")
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
