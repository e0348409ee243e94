"""Grade every exercise's solution and starter on one engine configuration and print a table row.

Not a test: a measurement for reports ("which engines do we support, and how well").

    .venv/bin/python bench/engine_matrix.py --label "Docker classic" --builder classic
    .venv/bin/python bench/engine_matrix.py --label "Docker BuildKit" --builder buildkit
    DOCKER_HOST=unix:///run/labkit-podman/podman.sock .venv/bin/python bench/engine_matrix.py --label Podman
    .venv/bin/python bench/engine_matrix.py --label "own netns" --netns   # the grader in a network namespace of its own

Each grading runs `python -m grader EXERCISE --path FOLDER --no-record` as a user would and reads
its last line, `Score: X/Y`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = [f"exercise-0{n}" for n in range(1, 9)]
SCORE = re.compile(r"Score: ([\d.]+)/([\d.]+)")


def grade(exercise: str, folder: Path, builder: str | None, netns: str | None) -> tuple[str, float]:
    """(score text, seconds) of one grading; the score text is the exit code's meaning when no score was printed."""
    command = [sys.executable, "-m", "grader", exercise, "--path", str(folder), "--no-record"]
    if builder:
        command += ["--builder", builder]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    started = time.monotonic()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    found = SCORE.findall(completed.stdout)
    if found:
        return f"{float(found[-1][0]):g}/{float(found[-1][1]):g}", seconds
    return f"exit {completed.returncode}: {(completed.stderr or completed.stdout).strip().splitlines()[-1:]}", seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="the row's name")
    parser.add_argument("--builder", choices=("auto", "buildkit", "classic"))
    parser.add_argument("--netns", action="store_true", help="run the grader in a network namespace of its own (root)")
    parser.add_argument("--exercises", nargs="*", default=EXERCISES)
    args = parser.parse_args()
    netns = None
    if args.netns:
        netns = f"labkit-matrix-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", netns], check=True)
        subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"], check=True)
    cells = []
    try:
        for exercise in args.exercises:
            solution, s_time = grade(exercise, ROOT / "solutions" / exercise, args.builder, netns)
            starter, t_time = grade(exercise, ROOT / "exercises" / exercise, args.builder, netns)
            cells.append(f"{solution} / {starter}")
            print(f"{args.label} {exercise}: solution {solution} ({s_time:.0f} s), starter {starter} ({t_time:.0f} s)",
                  file=sys.stderr, flush=True)
    finally:
        if netns:
            subprocess.run(["ip", "netns", "delete", netns], check=False)
    print(f"| {args.label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LABKIT_LANG", "en")
    sys.exit(main())
