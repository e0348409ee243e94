"""Checks on the built image's metadata (`docker image inspect`), as container-structure-test does."""

from __future__ import annotations

from typing import Any, Mapping

from grader.kinds import register
from grader.context import Context
from grader.dockerfile import last_of, location_of, runs_in_shell
from grader.i18n import t
from grader.model import Outcome

MB = 1_000_000


def image_config(ctx: Context) -> dict:
    """The image's Config, empty fields tolerated (newer engines leave them out)."""
    return (ctx.image or {}).get("Config") or {}


@register("image_exposes", needs="image", required_params=("port",))
def image_exposes(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image declares EXPOSE for the app's port."""
    port = int(params["port"])
    exposed = sorted((image_config(ctx).get("ExposedPorts") or {}).keys())
    if f"{port}/tcp" in exposed:
        return Outcome.ok(t("image_exposes.ok", port=port), location_of(ctx.dockerfile, "EXPOSE"))
    if not exposed:
        cmd_line = location_of(ctx.dockerfile, "CMD")
        above = t("image_exposes.above_cmd", location=cmd_line) if cmd_line else ""
        return Outcome.fail(t("image_exposes.none", port=port, above=above))
    return Outcome.fail(t("image_exposes.wrong_port", exposed=", ".join(exposed), port=port), location_of(ctx.dockerfile, "EXPOSE"))


@register("image_exec_form", needs="image")
def image_exec_form(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image starts its process in exec form (Config.Entrypoint/Cmd not wrapped in /bin/sh -c)."""
    config = image_config(ctx)
    start = config.get("Entrypoint") or config.get("Cmd")
    which = "ENTRYPOINT" if config.get("Entrypoint") else "CMD"
    where = location_of(ctx.dockerfile, which)
    if not start:
        return Outcome.fail(t("image_exec_form.none"), where)
    if runs_in_shell(start):
        line = last_of(ctx.dockerfile, which)
        if line is not None and line.json_args() is not None:
            # Written as JSON on purpose (`["sh", "-c", "…"]`): the form is right, the shell in front is not.
            return Outcome.fail(t("image_exec_form.wrapped", command=" ".join(start), which=which, shell=start[0]), where)
        return Outcome.fail(t("image_exec_form.shell", command=" ".join(start), which=which), where)
    return Outcome.ok(t("image_exec_form.ok", start=start), where)


@register("image_workdir", needs="image")
def image_workdir(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image's working directory is the one the exercise asks for."""
    expected = params.get("path", "/app")
    actual = image_config(ctx).get("WorkingDir") or ""
    if actual.rstrip("/") == expected.rstrip("/"):
        return Outcome.ok(t("image_workdir.ok", actual=actual), location_of(ctx.dockerfile, "WORKDIR"))
    if not actual:
        return Outcome.fail(t("image_workdir.none", expected=expected))
    return Outcome.fail(t("image_workdir.wrong", actual=actual, expected=expected), location_of(ctx.dockerfile, "WORKDIR"))


def size_over_base(ctx: Context) -> int | None:
    """Bytes the learner's image adds over its base image, or None when the base is unknown."""
    if ctx.image is None or ctx.base_image is None:
        return None
    return int(ctx.image.get("Size", 0)) - int(ctx.base_image.get("Size", 0))


@register("image_size", needs="image", required_params=("max_added_mb",))
def image_size(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image adds at most a budget of MB over its base image."""
    budget_mb = float(params["max_added_mb"])
    added = size_over_base(ctx)
    total_mb = int(ctx.image.get("Size", 0)) / MB
    if added is None:
        return Outcome.fail(t("image_size.unknown_base", total_mb=total_mb))
    sizes = {"added_mb": added / MB, "budget_mb": budget_mb, "total_mb": total_mb}
    if sizes["added_mb"] <= budget_mb:
        return Outcome.ok(t("image_size.ok", **sizes))
    return Outcome.fail(t("image_size.over", **sizes), location_of(ctx.dockerfile, "RUN"))


def layers_added(ctx: Context) -> int | None:
    """How many filesystem layers the learner's image adds over its base."""
    if ctx.image is None or ctx.base_image is None:
        return None
    own = len((ctx.image.get("RootFS") or {}).get("Layers") or [])
    base = len(((ctx.base_image or {}).get("RootFS") or {}).get("Layers") or [])
    return own - base


@register("image_layers", needs="image")
def image_layers(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Reports the image's layers and passes when it adds no more than the limit."""
    added = layers_added(ctx)
    total = len((ctx.image.get("RootFS") or {}).get("Layers") or [])
    limit = params.get("max_added_layers")
    if added is None:
        return Outcome.ok(t("image_layers.unknown_base", total=total))
    text = t("image_layers.count", total=total, added=added)
    if limit is not None and added > int(limit):
        return Outcome.fail(t("image_layers.too_many", text=text, limit=limit))
    return Outcome.ok(text)
