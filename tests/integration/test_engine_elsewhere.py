"""An engine on another machine, on one machine: the grader in a network namespace of its own.

It reaches the engine only through its socket (a file), and the engine's 127.0.0.1 is not its
127.0.0.1: exactly an ssh:// engine or one in a VM. Every solution must get full marks there.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from netns import ip, namespace

# exercise-08 is not here: its registry runs beside the grader, where an engine elsewhere cannot push to it.
EXERCISES = [f"exercise-0{number}" for number in range(1, 8)]


@pytest.fixture(scope="module")
def far():
    """A namespace with nothing but its own loopback: no route to anything the engine publishes."""
    with namespace("far") as name:
        assert ip("route", "show", namespace=name).strip() == ""  # cut off from the host's networks
        yield name


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_a_solution_gets_full_marks_with_the_grader_cut_off_from_the_engines_network(exercise_id, far, repo, engine, no_leftovers):
    completed = subprocess.run(
        ["ip", "netns", "exec", far, sys.executable, "-m", "grader", exercise_id, "--path", f"solutions/{exercise_id}", "--no-record"],
        cwd=repo, capture_output=True, text=True, timeout=900,
    )
    output = completed.stdout + completed.stderr
    score = re.search(r"^Score: (\S+)/(\S+)$", completed.stdout, re.M)
    assert score and score.group(1) == score.group(2), output[-3000:]
    assert completed.returncode == 0, output[-3000:]
