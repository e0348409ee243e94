"""Warm grading time of one solution on two engines, interleaved round by round (not a test).

    .venv/bin/python bench/bench_engines.py                       # Docker (default socket) vs Podman, 7 rounds
    .venv/bin/python bench/bench_engines.py --runs 9 --exercise exercise-03 \\
        --engine docker=unix:///var/run/docker.sock --engine podman=unix:///run/labkit-podman/podman.sock

Each round grades the solution once on every engine (`python -m grader EXERCISE --path
solutions/EXERCISE --no-record` with DOCKER_HOST set), after one untimed warm-up each, and stops
when a grading loses points. It prints the median and minimum wall time per engine, and the
median of the per-round ratios to the first engine (back to back, so less moved by a busy machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ENGINES = ["docker=unix:///var/run/docker.sock", "podman=unix:///run/labkit-podman/podman.sock"]


def grade_once(exercise: str, url: str) -> float:
    """Seconds one full-marks grading takes on the engine at URL; exits when it loses points."""
    environment = {**os.environ, "DOCKER_HOST": url, "LABKIT_LANG": "en"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "grader", exercise, "--path", f"solutions/{exercise}", "--no-record"],
        cwd=REPO, env=environment, capture_output=True, text=True,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{url}: the grading did not get full marks (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-1000:]}")
    return seconds


def main() -> int:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--exercise", default="exercise-01")
    parser.add_argument("--engine", action="append", help="NAME=URL (repeat); default: Docker and Podman")
    args = parser.parse_args()
    engines = [spec.split("=", 1) for spec in (args.engine or DEFAULT_ENGINES)]
    for _, url in engines:
        grade_once(args.exercise, url)  # warm-up: the build cache and the layer figures
    times: dict[str, list[float]] = {name: [] for name, _ in engines}
    for round_number in range(1, args.runs + 1):
        line = []
        for name, url in engines:
            times[name].append(grade_once(args.exercise, url))
            line.append(f"{name} {times[name][-1]:.2f} s")
        print(f"round {round_number}: " + ", ".join(line), flush=True)
    first = engines[0][0]
    print(f"\n{args.exercise}, warm, {args.runs} rounds (load average {os.getloadavg()[0]:.1f}):")
    for name, _ in engines:
        ratios = [mine / base for mine, base in zip(times[name], times[first])]
        print(f"  {name:8} median {statistics.median(times[name]):.2f} s  min {min(times[name]):.2f} s"
              f"  ratio to {first}: medians {statistics.median(times[name]) / statistics.median(times[first]):.2f}x,"
              f" per round {statistics.median(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
