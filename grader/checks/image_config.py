"""Checks on the built image's metadata (`docker image inspect`), as container-structure-test's metadataTest does."""

from __future__ import annotations

from typing import Any, Mapping

from grader.context import Context
from grader.dockerfile import instruction_naming, last_of, location_of, runs_in_shell
from grader.facts.image import MB, image_config, image_environment, layer_count, layers_added, size_over_base
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome


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


@register("image_layers", needs="image")
def image_layers(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Reports the image's layers and passes when it adds no more than the limit."""
    added = layers_added(ctx)
    total = layer_count(ctx.image)
    limit = params.get("max_added_layers")
    if added is None:
        return Outcome.ok(t("image_layers.unknown_base", total=total))
    text = t("image_layers.count", total=total, added=added)
    if limit is not None and added > int(limit):
        return Outcome.fail(t("image_layers.too_many", text=text, limit=limit))
    return Outcome.ok(text)


@register("image_env_settings", needs="image", required_params=("names",))
def image_env_settings(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image's environment (Config.Env) gives each named setting a default."""
    names = [str(name) for name in params["names"]]
    environment = image_environment(ctx)
    missing = [name for name in names if name not in environment]
    if missing:
        return Outcome.fail(
            t("image_env_settings.missing", names=", ".join(missing), example=missing[0]), location_of(ctx.dockerfile, "ENV"),
        )
    shown = ", ".join(f"{name}={environment[name]}" for name in names)
    where = instruction_naming(ctx.dockerfile, ("ENV",), names[0])
    return Outcome.ok(t("image_env_settings.ok", settings=shown), where.location if where else None)
