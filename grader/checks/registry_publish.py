"""Checks on sharing an image through a registry (exercise-08): publish.sh replayed against the grading's own registry.

They read the facts of the one replay that grader/facts/replay.py makes (with a private
registry from grader/engine/registry.py started for it): the built image's labels, what the registry
holds, what was pulled back and what the answering container was started from.
"""

from __future__ import annotations

from typing import Any, Mapping

from grader.kinds import register
from grader.context import Context
from grader.facts.replay import commands_file, replay_of, replayed_steps, step_error
from grader.i18n import t
from grader.model import Outcome

VERSION_LABEL = "org.opencontainers.image.version"
SOURCE_LABEL = "org.opencontainers.image.source"


def _built_labels(facts: Any) -> dict[str, str] | None:
    """The labels of the image the replayed build made, None when nothing was built."""
    build = next((s for s in facts.of("build") if s.ok), None)
    return dict(build.facts.get("labels") or {}) if build else None


def _version_tags(facts: Any) -> list[tuple[str, str, dict]]:
    """(repository, tag, what the registry holds for it) of every tag pushed that is not `latest`."""
    return [(repo, tag, held) for repo, tags in facts.registry.items() for tag, held in sorted(tags.items()) if tag != "latest"]


@register("registry_labels", needs="nothing", uses_engine=True)
def registry_labels(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The built image carries the OCI labels org.opencontainers.image.version and .source, not empty."""
    facts, _, problem = replay_of(ctx, params)
    if problem is not None:
        return problem
    labels = _built_labels(facts)
    if labels is None:
        return Outcome.fail(t("registry.not_built"))
    missing = [name for name in params.get("labels", (VERSION_LABEL, SOURCE_LABEL)) if not str(labels.get(name, "")).strip()]
    if missing:
        return Outcome.fail(t("registry_labels.missing", labels=", ".join(f"`{m}`" for m in missing)), location="Dockerfile")
    return Outcome.ok(t("registry_labels.ok", version=labels.get(VERSION_LABEL, ""), source=labels.get(SOURCE_LABEL, "")))


@register("registry_version_tag", needs="nothing", uses_engine=True)
def registry_version_tag(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The registry holds the image under a version tag (not only `latest`), the one its version label says."""
    facts, _, problem = replay_of(ctx, params)
    if problem is not None:
        return problem
    failed = next((s for s in facts.of("push") if not s.ok), None)
    if not facts.registry:
        if failed is not None:
            return Outcome.fail(t("registry.push_failed", line=failed.line, error=step_error(failed)))
        return Outcome.fail(t("commands.no_verb", subcommand="docker push", name=commands_file(ctx, params)))
    versions = _version_tags(facts)
    if not versions:
        return Outcome.fail(t("registry_version_tag.only_latest", repositories=", ".join(facts.registry)))
    label = str((_built_labels(facts) or {}).get(VERSION_LABEL, "")).strip()
    if label and label not in {tag for _, tag, _ in versions}:
        return Outcome.fail(t("registry_version_tag.not_the_label", tags=", ".join(tag for _, tag, _ in versions), label=label))
    repository, tag, _ = versions[0]
    return Outcome.ok(t("registry_version_tag.ok", repository=repository, tag=tag))


@register("registry_digest_matches", needs="nothing", uses_engine=True)
def registry_digest_matches(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image the registry holds under the version tag is the built one (its config digest is the built image's id)."""
    facts, _, problem = replay_of(ctx, params)
    if problem is not None:
        return problem
    # Every tag counts here, `latest` too: whether it is a version tag is version-tag's question.
    pushed = [(repo, tag, held) for repo, tags in facts.registry.items() for tag, held in sorted(tags.items())]
    if not pushed or not facts.built_image_id:
        return Outcome.fail(t("registry_digest_matches.nothing", what="docker build" if not facts.built_image_id else "docker push"))
    for repository, tag, held in pushed:
        if held.get("config") == facts.built_image_id:
            return Outcome.ok(t("registry_digest_matches.ok", repository=repository, tag=tag, digest=str(held.get("digest"))[:19]))
    repository, tag, held = pushed[0]
    return Outcome.fail(t("registry_digest_matches.other", repository=repository, tag=tag, held=str(held.get("config"))[:19], built=facts.built_image_id[:19]))


@register("registry_pulled_by_digest", needs="nothing", uses_engine=True)
def registry_pulled_by_digest(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """After the local copy was removed, `docker pull NAME@sha256:…` brought the same image back from the registry."""
    facts, _, pulls, problem = replayed_steps(ctx, params, "pull", "docker pull")
    if problem is not None:
        return problem
    good = next((s for s in pulls if s.ok and s.facts.get("by_digest")), None)
    if good is None:
        step = pulls[0]
        if not step.ok:
            return Outcome.fail(t("registry_pulled_by_digest.failed", line=step.line, error=step_error(step)))
        return Outcome.fail(t("registry_pulled_by_digest.by_tag", line=step.line))
    if good.facts.get("present_before"):
        return Outcome.fail(t("registry_pulled_by_digest.still_local", line=good.line))
    if good.facts.get("image_id") != facts.built_image_id:
        return Outcome.fail(t("registry_pulled_by_digest.other_image", line=good.line))
    return Outcome.ok(t("registry_pulled_by_digest.ok", line=good.line))


@register("registry_runs_by_digest", needs="nothing", uses_engine=True)
def registry_runs_by_digest(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The container that answers a prediction was started from `NAME@sha256:…`, the pushed digest."""
    facts, _, runs, problem = replayed_steps(ctx, params, "run", "docker run")
    if problem is not None:
        return problem
    answering = [s for s in runs if any((s.facts.get("answers") or {}).values())]
    by_digest = next((s for s in answering if s.facts.get("by_digest")), None)
    if by_digest is not None:
        return Outcome.ok(t("registry_runs_by_digest.ok", line=by_digest.line))
    if answering:
        return Outcome.fail(t("registry_runs_by_digest.by_tag", line=answering[0].line))
    step = runs[0]
    reason = step_error(step) if not step.ok else step.facts.get("problem") or t("registry_runs_by_digest.no_answer_reason")
    return Outcome.fail(t("registry_runs_by_digest.no_answer", line=step.line, reason=reason))
