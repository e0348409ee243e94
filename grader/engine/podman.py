"""Podman: the facts its Docker API leaves out, and the work it leaves undone."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import tempfile
import time
from typing import Any

from grader.engine.limits import PODMAN_CACHE_REPOSITORY


def podman_complete_inspect(api: Any, attrs: dict) -> None:
    """Add to a Podman image inspect what its Docker API leaves out (4.3: the HEALTHCHECK).

    Podman's compat inspect fills only some Config fields; its own endpoint has the healthcheck
    (durations in ns, Docker's shape) and the manifest type: an OCI image has no HEALTHCHECK.
    """
    config = attrs.setdefault("Config", {}) or {}
    try:
        response = api._get(api._url("/libpod/images/{0}/json", attrs.get("Id", "")))
        native = api._result(response, json=True)
    except Exception:
        return
    healthcheck = native.get("Healthcheck") or native.get("HealthCheck")  # top level, whichever spelling
    if not config.get("Healthcheck") and healthcheck:
        config["Healthcheck"] = healthcheck
    attrs["ManifestType"] = native.get("ManifestType", "")


def podman_health_due(state: dict, container_attrs: dict) -> bool:
    """Is a health probe due? Podman runs them from systemd timers, so without systemd never by itself."""
    health = state.get("Health") or {}
    if not state.get("Running") or health.get("Status") not in ("starting", "healthy", "unhealthy"):
        return False
    interval = ((container_attrs.get("Config") or {}).get("Healthcheck") or {}).get("Interval") or 30e9
    probes = health.get("Log") or []
    if not probes:
        return True
    ended = _parse_time(probes[-1].get("End") or probes[-1].get("Start") or "")
    return ended is None or time.time() - ended >= interval / 1e9


def podman_run_healthcheck(api: Any, container_id: str) -> dict | None:
    """Run the container's HEALTHCHECK once (Podman's own endpoint); its fresh State, or None."""
    try:
        api._result(api._get(api._url("/libpod/containers/{0}/healthcheck", container_id)), json=True)
        return api.inspect_container(container_id).get("State")
    except Exception:  # gone, or no healthcheck: the caller reads the state it has
        return None


def podman_keep_parent(api: Any, image_id: str) -> None:
    """Tag the image's parent so that removing the image keeps the build cache.

    Podman ignores `noprune` and removes the parents no other image uses: the layer cache of
    the next grading. A tag per cache tip keeps it; `python -m grader clean --cache` drops them.
    """
    parent = (api.inspect_image(image_id) or {}).get("Parent") or ""
    parent = parent.removeprefix("sha256:")
    if parent:
        api.tag(parent, PODMAN_CACHE_REPOSITORY, parent[:12])


def _parse_time(text: str) -> float | None:
    """Seconds since the epoch of an engine timestamp (RFC 3339 with nanoseconds), None when unreadable."""
    import datetime

    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if not match:
        return None
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    stamp = datetime.datetime.fromisoformat(match.group(1) + zone)
    return stamp.timestamp() + float("0" + (match.group(2) or ".0")[:10])


def podman_build_context(context: Any, labels: dict[str, str], buildargs: dict[str, str] | None) -> tuple[Any, int]:
    """Podman: the context tar with its Dockerfile made to build as on Docker; (new tar, steps added).

    Two things Podman 4.3's /build does differently, each repaired in the Dockerfile it builds:
    - the `labels` parameter lands on EVERY step's image, so the shared build cache would carry
      one grading's session label (swept with it, and counted as that grading's leftovers): the
      labels become one LABEL step at the end instead, which is what Docker's classic builder does;
    - its layer cache ignores build-argument values (`ARG V` then `ENV V=$V` keeps the first
      value built): an `ARG LABKIT_BUILD_ARGS=<hash of the values>` line after each declaration
      of a given argument makes the steps after it miss the cache, as Docker's do. Only a hash:
      a value (a secret) never enters the image's history.
    """
    rebuilt = tempfile.TemporaryFile()
    added = 0
    with tarfile.open(fileobj=context, mode="r:") as source, tarfile.open(fileobj=rebuilt, mode="w:") as target:
        for member in source:
            data = source.extractfile(member) if member.isfile() else None
            if member.name == "Dockerfile" and data is not None:
                text = data.read().decode("utf-8", "replace")
                text, added = _podman_dockerfile(text, labels, buildargs)
                body = text.encode("utf-8")
                member.size = len(body)
                target.addfile(member, io.BytesIO(body))
            else:
                target.addfile(member, data)
    context.close()
    rebuilt.seek(0)
    return rebuilt, added


def _podman_dockerfile(text: str, labels: dict[str, str], buildargs: dict[str, str] | None) -> tuple[str, int]:
    """The Dockerfile text with the build-argument markers and the final LABEL step; (text, steps added)."""
    from grader.dockerfile import parse_text

    lines = text.splitlines()
    added = 0
    if buildargs:
        digest = hashlib.sha256(json.dumps(buildargs, sort_keys=True).encode()).hexdigest()[:16]
        try:
            instructions = parse_text(text).instructions
        except Exception:  # an unparsable file fails the build on its own
            instructions = ()
        after = sorted(
            (ins.end_line for ins in instructions
             if ins.keyword == "ARG" and any(word.split("=", 1)[0] in buildargs for word in ins.value.split())),
            reverse=True,
        )
        for end_line in after:
            lines.insert(end_line, f"ARG LABKIT_BUILD_ARGS={digest}")
            added += 1
    label_words = " ".join(f"{json.dumps(key)}={json.dumps(value)}" for key, value in labels.items())
    lines += ["", f"LABEL {label_words}"]
    return "\n".join(lines) + "\n", added + 1
