"""Checks on the built image's metadata (`docker image inspect`), as container-structure-test does."""

from __future__ import annotations

from typing import Any, Mapping

from grader.checks import register
from grader.context import Context
from grader.model import Outcome

MB = 1_000_000


def image_config(ctx: Context) -> dict:
    """The image's Config, empty fields tolerated (newer engines leave them out)."""
    return (ctx.image or {}).get("Config") or {}


def _dockerfile_line(ctx: Context, keyword: str) -> str | None:
    found = ctx.dockerfile.find(keyword, stage_only_final=True) if ctx.dockerfile else []
    return found[-1].location if found else None


@register("image_exposes", needs="image", required_params=("port",))
def image_exposes(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image declares EXPOSE for the app's port."""
    port = int(params["port"])
    exposed = sorted((image_config(ctx).get("ExposedPorts") or {}).keys())
    if f"{port}/tcp" in exposed:
        return Outcome.ok(f"the image exposes {port}/tcp", _dockerfile_line(ctx, "EXPOSE"))
    if not exposed:
        cmd_line = _dockerfile_line(ctx, "CMD")
        above = f" above the CMD ({cmd_line})" if cmd_line else ""
        return Outcome.fail(
            f"the image exposes no port: add `EXPOSE {port}`{above}; it documents the port, `docker run -p` publishes it",
        )
    return Outcome.fail(
        f"the image exposes {', '.join(exposed)} but the app listens on {port}: write `EXPOSE {port}`",
        _dockerfile_line(ctx, "EXPOSE"),
    )


@register("image_exec_form", needs="image")
def image_exec_form(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image starts its process in exec form (Config.Entrypoint/Cmd not wrapped in /bin/sh -c)."""
    config = image_config(ctx)
    start = config.get("Entrypoint") or config.get("Cmd")
    which = "ENTRYPOINT" if config.get("Entrypoint") else "CMD"
    where = _dockerfile_line(ctx, which)
    if not start:
        return Outcome.fail('the image has no start command: add `CMD ["python", "flask_api_v2.py"]`', where)
    if len(start) >= 2 and start[0] in ("/bin/sh", "sh", "/bin/bash") and start[1] == "-c":
        return Outcome.fail(
            f"the image starts `{' '.join(start)}`: a shell is PID 1 and swallows signals. "
            f"Write {which} in JSON form, e.g. `CMD [\"python\", \"flask_api_v2.py\"]`",
            where,
        )
    return Outcome.ok(f"the image starts {start} directly", where)


@register("image_workdir", needs="image")
def image_workdir(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image's working directory is the one the exercise asks for."""
    expected = params.get("path", "/app")
    actual = image_config(ctx).get("WorkingDir") or ""
    if actual.rstrip("/") == expected.rstrip("/"):
        return Outcome.ok(f"working directory {actual}", _dockerfile_line(ctx, "WORKDIR"))
    if not actual:
        return Outcome.fail(f"the image has no working directory: add `WORKDIR {expected}` before the COPY")
    return Outcome.fail(
        f"the working directory is `{actual}`, expected `{expected}`: write `WORKDIR {expected}`",
        _dockerfile_line(ctx, "WORKDIR"),
    )


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
        return Outcome.fail(f"the base image could not be inspected, so the size over it is unknown (image: {total_mb:.0f} MB)")
    added_mb = added / MB
    if added_mb <= budget_mb:
        return Outcome.ok(f"{added_mb:.0f} MB over the base image (budget {budget_mb:.0f} MB; total {total_mb:.0f} MB)")
    return Outcome.fail(
        f"the image adds {added_mb:.0f} MB over its base, more than the {budget_mb:.0f} MB budget: "
        "use `--no-cache-dir`, a slim base, a .dockerignore, and install only what requirements.txt lists",
        _dockerfile_line(ctx, "RUN"),
    )


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
        return Outcome.ok(f"{total} layers (the base image could not be inspected, so the added ones are unknown)")
    text = f"{total} layers, {added} added over the base image"
    if limit is not None and added > int(limit):
        return Outcome.fail(
            f"{text}; at most {limit} expected: each RUN/COPY/ADD adds one — join related RUN commands with `&&`"
        )
    return Outcome.ok(text)
