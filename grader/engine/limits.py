"""What the grader puts on and allows the things it makes: labels, limits, and the probe's image."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from grader import context


# Every engine resource the grader makes carries SESSION_LABEL, valued with the grading's id:
# sweeping by the key finds all of them, by key=value one grading's.
# Built images carry that one label only: the classic builder commits one step per label,
# and the parent kept as build cache would otherwise carry a grader label too.
SESSION_LABEL = "org.labkit.session"


EXERCISE_LABEL = "org.labkit.exercise"


LOG_TAIL_LINES = 25


MAX_CONTEXT_BYTES = 500_000_000  # a lab's build context is a few MB; refuse gigabytes before sending them


MAX_STEP_WRITE_BYTES = 2_000_000_000  # what one build step may write before the grader stops it


BUILD_MEMORY_BYTES = 2 * 1024 ** 3  # a RUN step's memory (installing scikit-learn needs a few hundred MB)


DISK_LOOK_SECONDS = 2.0


# A write that fails for a full disk ends the step: its message is among the step's last lines
# (dd and head print a few after it). Earlier lines are the learner's, whatever they say.
DISK_FULL_TAIL_LINES = 6


BUILD_WIND_DOWN_SECONDS = 5.0  # how long an abandoned build may take to end by itself before its stream is cut


MAX_RESPONSE_BYTES = context.MAX_RESPONSE_BYTES  # what a Container promises the checks (grader/context.py)


# The grader's probe: a helper container on the grading's network, from an image every exercise
# builds FROM and setup provides. Little is needed to relay HTTP requests, so little is given.
PROBE_IMAGE_VARIABLE = "LABKIT_PROBE_IMAGE"


# "auto": requests go from the grader's own process when the grading's network is on-link here,
# else from the helper container; "container": always the helper container.
PROBE_VARIABLE = "LABKIT_PROBE"


DEFAULT_PROBE_IMAGE = "python:3.11-slim"


PROBE_MEMORY = "64m"


PROBE_PIDS = 16


def probe_image() -> str:
    """The image the probe container runs (LABKIT_PROBE_IMAGE, else the exercises' base image)."""
    return os.environ.get(PROBE_IMAGE_VARIABLE) or DEFAULT_PROBE_IMAGE


PODMAN_CACHE_REPOSITORY = "localhost/labkit-cache"  # Podman: tags that keep the build cache of graded images


@dataclass
class RunLimits:
    """What a learner's container may use: untrusted code gets little."""

    memory: str = "512m"
    # CPU is shared by weight, not capped: a 1-CPU quota made the app start 0.1-0.25 s later
    # (measured: its start-up runs on both cores) for nothing on an idle machine. All containers
    # together weigh as much as one host process under contention, so the grader and the engine
    # keep their share; half the default weight makes a busy app yield to builds and other gradings.
    cpu_shares: int = 512
    cpus: float | None = None  # a hard quota on top, for whoever wants one
    pids: int = 128
    log_max_size: str = "1m"

    def compose_service(self) -> dict[str, Any]:
        """The same limits as the keys of a Compose service: every service of a graded stack gets them."""
        keys: dict[str, Any] = {
            "mem_limit": self.memory,
            "memswap_limit": self.memory,
            "cpu_shares": self.cpu_shares,
            "pids_limit": self.pids,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "logging": {"driver": "json-file", "options": {"max-size": self.log_max_size, "max-file": "1"}},
        }
        if self.cpus:
            keys["cpus"] = self.cpus
        return keys
