"""The rows a batch's outputs render: `Grading` (one learner's grading, and how it ended) and `Pair` (two alike Dockerfiles).

Core, so that the gradebook (which stores them), the batch (which makes them) and every renderer
(which reads them) share one definition and none of them imports another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.model import Report, Status

# How a grading ended. The first three are final: the learner has a result.
GRADED = "graded"
TIMED_OUT = "timed_out"  # the per-submission limit cut it: checks not reached are blocked with the reason
GRADER_ERROR = "grader_error"  # the grading process itself crashed on this submission
NOT_GRADABLE = "not_gradable"  # infrastructure (engine gone, out of disk): no score, retried later
FINAL_STATES = (GRADED, TIMED_OUT, GRADER_ERROR)
STATE_LABELS = {GRADED: "graded", TIMED_OUT: "timed out", GRADER_ERROR: "grader error", NOT_GRADABLE: "not gradable"}


@dataclass
class Grading:
    """One grading of one learner's submission, with where and how it was graded."""

    learner: str
    exercise: str
    state: str
    report: Report | None = None  # None only when not gradable
    message: str = ""  # what the batch adds: time limit hit, crash, infrastructure problem
    duration: float = 0.0
    content_hash: str = ""
    grader_version: str = ""
    engine: str = ""
    engine_version: str = ""
    base_image_id: str = ""
    submission: str = ""
    attempt: int = 1
    batch: str = ""
    finished_at: str = ""
    id: int | None = None

    @property
    def final(self) -> bool:
        """True when the learner has a result (not an infrastructure failure)."""
        return self.state in FINAL_STATES

    @property
    def score(self) -> float | None:
        """Points earned, or None when not gradable."""
        return self.report.score if self.report is not None and self.final else None

    @property
    def max_score(self) -> float | None:
        """Points available, when known."""
        return self.report.max_score if self.report is not None else None

    def check_statuses(self) -> dict[str, Status]:
        """Check id -> status."""
        return {r.spec.id: r.status for r in self.report.results} if self.report else {}


@dataclass(frozen=True)
class Pair:
    """Two learners whose Dockerfiles look alike."""

    a: str
    b: str
    score: float  # weighted overlap, 0..1
    shared: int  # normalised lines both have
    lines_a: int
    lines_b: int
    rare: tuple[str, ...] = field(default=())  # shared lines few others wrote, rarest first
    identical: bool = False  # the same after normalisation
