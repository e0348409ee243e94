"""The machine's failures (no engine, no builder, a full disk), named by catalog key and facts.

The engine layer raises them with a key of the catalogs and the facts it knows; they become a
sentence in the learner's language only when shown, so the engine layer holds no text.
"""

from __future__ import annotations

from grader.i18n import DEFAULT_LANGUAGE, catalog, t


class Message:
    """A catalog key with its facts; rendered when turned into text (nested messages too)."""

    def __init__(self, key: str, **params: object):
        self.key = key
        self.params = params

    def __str__(self) -> str:
        return t(self.key, **{name: str(value) if isinstance(value, Message) else value for name, value in self.params.items()})

    def __repr__(self) -> str:
        return f"Message({self.key!r}, {self.params!r})"


class EngineUnavailable(Exception):
    """No Docker engine answered, or it went away mid-grading: nothing can be graded.

    Raised with a catalog key and its facts (the engine layer), or with a sentence already
    made (callers above it that pass another error's words on).
    """

    def __init__(self, key_or_text: str, **params: object):
        super().__init__(key_or_text)
        known = key_or_text in catalog(DEFAULT_LANGUAGE)
        self.message: Message | str = Message(key_or_text, **params) if known else key_or_text

    def __str__(self) -> str:
        return str(self.message)


class BuilderUnavailable(EngineUnavailable):
    """The engine answers, but the builder the grading asks for is not on this machine."""


class EngineDiskFull(EngineUnavailable):
    """The engine ran out of disk: the machine's problem, not the learner's."""

    def __init__(self, detail: str, address: object):
        super().__init__("engine.disk_full", address=address, detail=detail.strip()[:160])


class ComposeUnavailable(EngineUnavailable):
    """Neither `docker compose` nor `docker-compose` answers `version` on this machine."""


class ContainerRefused(Exception):
    """The engine refused to create or start a learner's container (the image's fault: a bad CMD, a bad user, ...)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail  # the engine's own words
