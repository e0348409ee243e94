"""The registry of check kinds (grading layer): each family module under grader/checks/ registers its kinds here.

labs.yaml is validated against these kinds (grader.spec receives them: the spec itself imports
no check), and the grading runs them. `registry()` is the one place that loads the family
modules, by importing grader.checks, whose __init__ lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from grader import spec
from grader.context import NEEDS, Context
from grader.model import Outcome

CheckFunction = Callable[[Context, Mapping[str, Any]], Outcome]


@dataclass(frozen=True)
class CheckKind:
    """A kind of check: its function, what it needs first and which params labs.yaml must give."""

    kind: str
    func: CheckFunction
    needs: str
    required_params: tuple[str, ...] = ()
    summary: str = ""
    # True for checks that drive the engine themselves through ctx.session without
    # needing the Dockerfile build (a Compose stack): they never run as static checks.
    uses_engine: bool = False
    # True for slow image checks that only read the image (no container, no build, nothing to
    # clean up): they run on a thread while the learner's app starts, instead of before it.
    while_app_starts: bool = False

    @property
    def family(self) -> str:
        """The family module that holds it, e.g. `dockerfile_text` for grader/checks/dockerfile_text.py."""
        return self.func.__module__.rsplit(".", 1)[-1]


REGISTRY: dict[str, CheckKind] = {}


def register(
    kind: str, needs: str, required_params: tuple[str, ...] = (), uses_engine: bool = False, while_app_starts: bool = False
) -> Callable[[CheckFunction], CheckFunction]:
    """Decorator: make a function the implementation of a check kind (uses_engine: needs ctx.session)."""
    if needs not in NEEDS:
        raise ValueError(f"unknown need {needs!r}")

    def decorate(func: CheckFunction) -> CheckFunction:
        if kind in REGISTRY:
            raise ValueError(f"check kind {kind!r} registered twice")
        summary = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
        if while_app_starts and needs != "image":
            raise ValueError(f"check kind {kind!r}: only an image check can run while the app starts")
        REGISTRY[kind] = CheckKind(kind, func, needs, tuple(required_params), summary, uses_engine, while_app_starts)
        return func

    return decorate


def registry() -> dict[str, CheckKind]:
    """Every check kind, importing each family module once (grader/checks/__init__.py lists them)."""
    import grader.checks  # noqa: F401  (the family modules register their kinds when imported)

    return REGISTRY


# labs.yaml read without naming the kinds (spec.load(path)) is checked against this registry.
spec.use_kinds(registry)
