"""What the built image says about itself (`docker image inspect`): its config, environment, start command, size and layers."""

from __future__ import annotations

from grader.context import Context

MB = 1_000_000


def image_config(ctx: Context) -> dict:
    """The image's Config, empty fields tolerated (newer engines leave them out)."""
    return (ctx.image or {}).get("Config") or {}


def image_environment(ctx: Context) -> dict[str, str]:
    """The image's Config.Env as a mapping (entries without `=` left out)."""
    pairs = (item.split("=", 1) for item in image_config(ctx).get("Env") or [] if "=" in item)
    return {name: value for name, value in pairs}


def start_command(ctx: Context) -> list[str]:
    """What the image runs: ENTRYPOINT followed by CMD, as the engine joins them."""
    config = image_config(ctx)
    return list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])


def size_over_base(ctx: Context) -> int | None:
    """Bytes the learner's image adds over its base image, or None when the base is unknown."""
    if ctx.image is None or ctx.base_image is None:
        return None
    return int(ctx.image.get("Size", 0)) - int(ctx.base_image.get("Size", 0))


def layer_count(image: dict | None) -> int:
    """How many filesystem layers an inspected image has."""
    return len(((image or {}).get("RootFS") or {}).get("Layers") or [])


def layers_added(ctx: Context) -> int | None:
    """How many filesystem layers the learner's image adds over its base."""
    if ctx.image is None or ctx.base_image is None:
        return None
    return layer_count(ctx.image) - layer_count(ctx.base_image)
