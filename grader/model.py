"""The one result model every renderer reads: check specs, outcomes, results and reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


class Status(str, enum.Enum):
    """How a check ended."""

    PASSED = "passed"
    FAILED = "failed"
    # The check could not run because something it needs failed first
    # (no image because the build failed): 0 points, with the reason.
    BLOCKED = "blocked"


@dataclass(frozen=True)
class CheckSpec:
    """One check of an exercise as labs.yaml declares it."""

    id: str
    kind: str
    points: float
    title: str
    hint: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    # Other languages' title and hint from labs.yaml's `title_<lang>` / `hint_<lang>` keys.
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The hint ladder, nudge first and the exact line last (labs.yaml `hints:`); `hint` is its first level.
    hints: tuple[str, ...] = ()
    ladders: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # `hints_<lang>`
    # teach: the report shows the ladder's first level; answers: its last; exam: no hint at all.
    feedback: str = "teach"

    def title_in(self, language: str) -> str:
        """The title in a language, English when it has none."""
        return self.translations.get(language, {}).get("title") or self.title

    def hint_in(self, language: str) -> str:
        """The hint in a language, English when it has none."""
        return self.translations.get(language, {}).get("hint") or self.hint

    def ladder_in(self, language: str) -> tuple[str, ...]:
        """Every hint level in a language, nudge first and the exact line last (English when it has none)."""
        ladder = self.ladders.get(language) or self.hints
        if ladder:
            return tuple(ladder)
        return (self.hint_in(language),) if self.hint_in(language) else ()

    def report_hint(self, language: str) -> str:
        """The hint a report shows beside a failure, as the feedback policy says: first level, last level, or none."""
        ladder = self.ladder_in(language)
        if self.feedback == "exam" or not ladder:
            return ""
        return ladder[-1] if self.feedback == "answers" else ladder[0]


@dataclass(frozen=True)
class ExerciseSpec:
    """One exercise: where its starter lives and the checks that grade it."""

    id: str
    title: str
    folder: str
    port: int
    checks: tuple[CheckSpec, ...]
    # Files the grader writes into a copy of the build context before building
    # (relative path -> text), to see whether .dockerignore keeps them out.
    plant: Mapping[str, str] = field(default_factory=dict)
    titles: Mapping[str, str] = field(default_factory=dict)  # other languages, from `title_<lang>`
    builder: str = "auto"  # auto | buildkit | classic: the course's choice, from labs.yaml
    # The learner's containers run on a network of their own: "internal" (no route out) unless
    # the exercise needs the outside at run time ("open").
    network: str = "internal"
    feedback: str = "teach"  # teach | answers | exam: how much the report and `hint` give away

    def title_in(self, language: str) -> str:
        """The title in a language, English when it has none."""
        return self.titles.get(language) or self.title

    @property
    def max_score(self) -> float:
        """Sum of the points of every check."""
        return sum(check.points for check in self.checks)

    def params_of(self, kind: str) -> Mapping[str, Any]:
        """The params of the exercise's first check of this kind ({} when it has none): checks that share one
        run (a stack, a replay, a readiness wait) read their settings from the check that declares them."""
        return next((check.params for check in self.checks if check.kind == kind), {})


@dataclass(frozen=True)
class Outcome:
    """What a check function decides: pass or fail, a learner-facing message, where."""

    passed: bool
    message: str
    location: str | None = None  # e.g. "Dockerfile:6"
    detail: str = ""  # longer text for the instructor (log tails, raw findings)

    @classmethod
    def ok(cls, message: str, location: str | None = None, detail: str = "") -> "Outcome":
        """A passing outcome."""
        return cls(True, message, location, detail)

    @classmethod
    def fail(cls, message: str, location: str | None = None, detail: str = "") -> "Outcome":
        """A failing outcome."""
        return cls(False, message, location, detail)


@dataclass(frozen=True)
class CheckResult:
    """A check spec together with how it ended."""

    spec: CheckSpec
    status: Status
    message: str
    location: str | None = None
    detail: str = ""
    duration: float = 0.0

    @property
    def score(self) -> float:
        """Points earned: all of them when passed, none otherwise."""
        return self.spec.points if self.status is Status.PASSED else 0.0

    @property
    def max_score(self) -> float:
        """Points this check is worth."""
        return self.spec.points


@dataclass
class Report:
    """Everything one grading produced; score and maximum are derived, never stored."""

    exercise: ExerciseSpec
    submission: Path
    results: list[CheckResult] = field(default_factory=list)
    duration: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)  # measured figures: image size, layers, build time
    provenance: dict[str, str] = field(default_factory=dict)  # where it was graded: engine, versions, builder, Compose

    @property
    def score(self) -> float:
        """Points earned over all checks."""
        return sum(result.score for result in self.results)

    @property
    def max_score(self) -> float:
        """Points available over all checks."""
        return self.exercise.max_score

    @property
    def full_marks(self) -> bool:
        """True when every point was earned."""
        return self.score >= self.max_score
