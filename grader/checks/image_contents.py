"""Checks on what the image holds, file by file and layer by layer: no stray files, no secrets, no waste, not too big.

They read the image without running it: a path looked up in a container never started
(ctx.session.paths_in_image), its history, and its `docker save` stream (grader/facts/saved_image.py,
read once per grading).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from grader import dockerfile as dockerfile_module
from grader.context import Context
from grader.dockerfile import Instruction, copy_bringing, declared_args, final_base, image_of, instruction_naming
from grader.facts.image import MB, image_config, size_over_base
from grader.facts.dive import Efficiency
from grader.facts.saved_image import DEFAULT_TIMEOUT, SavedImageTimeout, layer_instructions, save_and_read, saved_analysis
from grader.i18n import t
from grader.kinds import register
from grader.model import Outcome
from grader.text import sentences, shorten

REPO_ROOT = Path(__file__).resolve().parents[2]
MASK = "•••"

# Reference sizes already measured in this process: (reference folder digest, base image id) -> bytes.
_REFERENCE_ADDED: dict[tuple[str, str], int] = {}
# Where a secret was seen (Finding.kind) -> the message that says so.
FOUND_IN = {
    "env": "no_secret_in_image.in_env", "label": "no_secret_in_image.in_label", "history": "no_secret_in_image.in_history",
    "file": "no_secret_in_image.in_file",
}


# -- files planted in the build context ------------------------------------------------------


def dockerignore_entry(path: str) -> str:
    """The .dockerignore line that keeps a path out: its name relative to the context root."""
    return PurePosixPath(path).name


def _find_secret(ctx: Context, secrets: list[str]) -> tuple[str, str] | None:
    """(secret, where it shows) for the first planted secret in the image's Env, labels or history."""
    config = image_config(ctx)
    places = [("Config.Env", value) for value in config.get("Env") or []]
    places += [("Config.Labels", f"{k}={v}") for k, v in (config.get("Labels") or {}).items()]
    places += [("docker history", entry.get("CreatedBy") or "") for entry in ctx.session.history(ctx.build.image_id)]
    for secret in secrets:
        for where, text in places:
            if secret and secret in text:
                return secret, where
    return None


def _secret_line(ctx: Context, secret: str) -> str | None:
    for number, line in enumerate(ctx.dockerfile.lines, start=1):
        if secret in line:
            return f"Dockerfile:{number}"
    return None


@register("planted_files_absent", needs="image", required_params=("paths",))
def planted_files_absent(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Files planted in the build context (.git, venv, __pycache__, .env) do not reach the image."""
    paths = [str(p) for p in params["paths"]]
    anchor = params.get("anchor")
    found = ctx.session.paths_in_image(ctx.build.image_id, paths + ([anchor] if anchor else []))
    if anchor and not found.get(anchor):
        return Outcome.fail(t("planted_files_absent.no_anchor", anchor=anchor))
    leaked = [path for path in paths if found.get(path)]
    has_ignore_file = (ctx.submission / ".dockerignore").is_file()
    if leaked:
        names = ", ".join(f"`{path}`" for path in leaked)
        lines = ", ".join(f"`{dockerignore_entry(path)}`" for path in leaked)
        if not has_ignore_file:
            return Outcome.fail(t("planted_files_absent.no_dockerignore", paths=names, lines=lines))
        return Outcome.fail(t("planted_files_absent.leaked", paths=names, lines=lines), ".dockerignore")
    secret = _find_secret(ctx, [str(s) for s in params.get("secrets") or []])
    if secret is not None:
        value, where = secret
        return Outcome.fail(t("planted_files_absent.secret", where=where), _secret_line(ctx, value))
    shown = ", ".join(f"`{path}`" for path in paths)
    return Outcome.ok(t("planted_files_absent.ok", paths=shown), ".dockerignore" if has_ignore_file else None)


# -- files only the build needs ---------------------------------------------------------------


@register("absent_from_image", needs="image", required_params=("paths",))
def absent_from_image(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Files that only the build needs (the training script, build tools) are not in the final image."""
    paths = [str(p) for p in params["paths"]]
    found = ctx.session.paths_in_image(ctx.build.image_id, paths)
    present = [p for p in paths if found.get(p)]
    if not present:
        return Outcome.ok(t("absent_from_image.ok", paths=", ".join(f"`{p}`" for p in paths)))
    culprit = copy_bringing(ctx.dockerfile, present[0])
    via = t("absent_from_image.via", copy=f"{culprit.keyword} {culprit.value}"[:90], line=culprit.line) if culprit else ""
    return Outcome.fail(
        t("absent_from_image.present", paths=", ".join(f"`{p}`" for p in present), via=via),
        culprit.location if culprit else None,
    )


# -- layer efficiency, as dive computes it -----------------------------------------------------


def _mb(value: int) -> str:
    return f"{value / MB:.1f}"


def _efficiency_summary(ctx: Context, result: Efficiency) -> str:
    """The figures of the analysis, recorded in the report's facts and said in one sentence."""
    ctx.facts["efficiency_percent"] = round(100 * result.score, 2)
    ctx.facts["wasted_mb"] = round(result.wasted_bytes / MB, 2)
    ctx.facts["user_wasted_mb"] = round(result.user_wasted_bytes / MB, 2)
    return t(
        "layer_efficiency.summary",
        percent=f"{100 * result.score:.1f}",
        wasted=_mb(result.wasted_bytes),
        paths=len([w for w in result.wasted if w.cumulative_bytes]),
        user_wasted=_mb(result.user_wasted_bytes),
        user_percent=f"{result.user_wasted_percent:.1f}",
        user_size=_mb(result.user_size_bytes),
    )


def _worst_waste(ctx: Context, saved: Any, result: Efficiency, exclude_base: bool) -> tuple[str, str | None]:
    """The biggest wasted path as an example sentence, and the Dockerfile line that wrote its last copy."""
    places = layer_instructions(ctx, saved.config)
    worst = next((w for w in result.wasted if w.cumulative_bytes and (not exclude_base or w.layers[-1] >= result.base_layers)), None)
    if worst is None:
        return "", None
    location = places[worst.layers[-1]].location if worst.layers[-1] in places else None
    return t("layer_efficiency.example", path=worst.path, copies=len(worst.layers), size=_mb(worst.cumulative_bytes)), location


@register("layer_efficiency", needs="image", while_app_starts=True)  # `docker save` takes seconds on a new layer
def layer_efficiency(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """dive's layer efficiency and wasted bytes, read from `docker save`; fails below/above the optional limits."""
    timeout = float(params.get("timeout", DEFAULT_TIMEOUT))
    exclude_base = bool(params.get("exclude_base_layers", False))
    try:
        saved, result = saved_analysis(ctx, ctx.build.image_id, timeout)
    except SavedImageTimeout:
        return Outcome.fail(t("layer_efficiency.timeout", seconds=f"{timeout:.0f}"))
    wasted = result.user_wasted_bytes if exclude_base else result.wasted_bytes
    summary = _efficiency_summary(ctx, result)
    detail = "\n".join(
        f"{_mb(w.cumulative_bytes)} MB  {w.path}  (layers {', '.join(str(i) for i in w.layers)})" for w in result.wasted[:10]
        if w.cumulative_bytes
    )
    example, location = _worst_waste(ctx, saved, result, exclude_base)
    minimum = params.get("min_efficiency")
    if minimum is not None and result.score < float(minimum):
        return Outcome.fail(
            t("layer_efficiency.too_low", summary=summary, minimum=f"{100 * float(minimum):.0f}", example=example),
            location,
            detail,
        )
    limit = params.get("max_wasted_mb")
    if limit is not None and wasted / MB > float(limit):
        return Outcome.fail(
            t("layer_efficiency.too_much_waste", summary=summary, wasted=_mb(wasted), limit=f"{float(limit):g}", example=example),
            location,
            detail,
        )
    limit = params.get("max_user_wasted_percent")
    if limit is not None and result.user_wasted_percent > float(limit):
        return Outcome.fail(
            t("layer_efficiency.user_share", summary=summary, limit=f"{float(limit):g}", example=example),
            location,
            detail,
        )
    return Outcome.ok(summary, detail=detail)


# -- size against the single-stage reference ----------------------------------------------


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def reference_added_bytes(ctx: Context, params: Mapping[str, Any]) -> tuple[int, str]:
    """Bytes the reference solution adds over its base, and how it was known ("built" or "measured")."""
    folder = REPO_ROOT / str(params.get("reference", ""))
    fallback = params.get("reference_added_mb")
    if params.get("reference") and (folder / "Dockerfile").is_file():
        reference = dockerfile_module.load(folder)
        base_reference = final_base(reference)
        base = ctx.session.inspect_image(image_of(base_reference.value)) if base_reference else None
        key = (_folder_digest(folder), (base or {}).get("Id", ""))
        if key in _REFERENCE_ADDED:
            return _REFERENCE_ADDED[key], "built"
        built = ctx.session.build(folder, reference, ctx.build_timeout)
        image = ctx.session.inspect_image(built.image_id) if built.ok else None
        if image is not None and base is not None:
            _REFERENCE_ADDED[key] = int(image.get("Size", 0)) - int(base.get("Size", 0))
            return _REFERENCE_ADDED[key], "built"
    if fallback is not None:
        return int(float(fallback) * MB), "measured"
    raise RuntimeError(
        f"the reference `{params.get('reference')}` could not be built and labs.yaml gives no `reference_added_mb`"
    )


@register("size_vs_reference", needs="image", required_params=("max_fraction",))
def size_vs_reference(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """The image adds at most `max_fraction` of what the reference solution adds over the same base."""
    own = size_over_base(ctx)
    if own is None:
        return Outcome.fail(t("size_vs_reference.no_base"))
    reference, how = reference_added_bytes(ctx, params)
    fraction = float(params["max_fraction"])
    limit = reference * fraction
    ctx.facts["reference_added_mb"] = round(reference / MB, 1)
    values = dict(
        own=f"{own / MB:.1f}",
        reference=f"{reference / MB:.1f}",
        name=params.get("reference") or "the reference",
        how=how,
        limit=f"{limit / MB:.1f}",
        percent=f"{100 * fraction:.0f}",
    )
    if own <= limit:
        return Outcome.ok(t("size_vs_reference.ok", **values))
    message = t("size_vs_reference.too_big", **values)
    layers, culprit = biggest_layers(ctx)
    if layers:
        listed = "; ".join(
            t("size_vs_reference.layer", size=f"{size / MB:.1f}", copy=f"{ins.keyword} {ins.value}"[:80], line=ins.line)
            for ins, size in layers
        )
        message += " " + t("size_vs_reference.biggest", layers=listed)
    return Outcome.fail(message, culprit.location if culprit else None)


def biggest_layers(ctx: Context, count: int = 3) -> tuple[list[tuple[Instruction, int]], Instruction | None]:
    """The final stage's instructions that wrote the biggest own layers (1 MB or more), with their sizes,
    and the one to point at: the layer that repeats files of an earlier one, else the biggest."""
    try:
        saved, figures = saved_analysis(ctx, ctx.build.image_id, DEFAULT_TIMEOUT)
    except SavedImageTimeout:
        return [], None
    places = layer_instructions(ctx, saved.config)
    own = sorted(
        ((size, index) for index, size in enumerate(figures.layer_sizes) if index >= figures.base_layers and index in places),
        reverse=True,
    )
    layers = [(places[index], size) for size, index in own[:count] if size >= MB]
    repeated = next((w.layers[-1] for w in figures.wasted if w.cumulative_bytes >= MB and w.layers[-1] in places), None)
    if repeated is not None:
        return layers, places[repeated]
    return layers, layers[0][0] if layers else None


# -- secrets ------------------------------------------------------------------------------------


def secret_values(*files: Path) -> dict[str, str]:
    """NAME -> value of each `NAME=value` line of these files (values of 8 characters or more)."""
    secrets: dict[str, str] = {}
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = line.removeprefix("export ").split("=", 1)
            value = value.strip().strip("'\"")
            if len(value) >= 8:
                secrets[name.strip()] = value
    return secrets


@dataclass(frozen=True)
class Finding:
    """Where a secret value was seen in an image."""

    kind: str  # env, label, history, file
    what: str  # the variable, label, history line or file path (masked)
    location: str | None = None


def _mask(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(value, MASK)
    return text


def scan_image_for(ctx: Context, image_id: str, secrets: dict[str, str], timeout: float) -> list[Finding]:
    """Every place in a saved image (config, history, files of every layer) that holds one of the values."""
    values = list(secrets.values())
    needles = [value.encode() for value in values]

    def scan(path: str, data: bytes) -> str | None:
        return "file" if any(needle in data for needle in needles) else None

    saved = save_and_read(ctx, image_id, timeout, scan=scan)
    config = saved.config.get("config") or {}
    findings: list[Finding] = []

    def line_naming(text: str) -> str | None:
        for name in secrets:
            if name in text:
                found = instruction_naming(ctx.dockerfile, ("ENV", "ARG", "RUN", "LABEL"), name)
                if found:
                    return found.location
        return None

    for item in config.get("Env") or []:
        if any(value in item for value in values):
            variable = item.split("=", 1)[0]
            findings.append(Finding("env", variable, line_naming(variable)))
    for key, text in (config.get("Labels") or {}).items():
        if any(value in str(text) for value in values):
            findings.append(Finding("label", key, line_naming(key)))
    for entry in saved.config.get("history") or []:
        created = str(entry.get("created_by", ""))
        if any(value in created for value in values):
            findings.append(Finding("history", shorten(_mask(created, values), 121, single_line=True), line_naming(created)))
    for tar_name, hits in saved.found.items():
        for path, _ in hits:
            culprit = copy_bringing(ctx.dockerfile, path)
            findings.append(Finding("file", path, culprit.location if culprit else None))
    return findings


@register("no_secret_in_image", needs="image")
def no_secret_in_image(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """No value of the submission's secrets file (.env) is in the image: environment, labels, history or any file.

    When the Dockerfile declares an ARG named like one of the secrets, the image is also built
    with that value as a build argument, as `docker build --build-arg NAME=...` would.
    """
    filename = str(params.get("secrets_file", ".env"))
    timeout = float(params.get("timeout", 60))
    secrets = secret_values(*(folder / filename for folder in {ctx.build_dir or ctx.submission, ctx.submission}))
    if not secrets:
        return Outcome.ok(t("no_secret_in_image.nothing", file=filename))
    images = [(ctx.build.image_id, "")]
    declared = {name: ins for name, ins in declared_args(ctx.dockerfile).items() if name in secrets}
    if declared:
        built = ctx.session.build(
            ctx.build_dir or ctx.submission, ctx.dockerfile, ctx.build_timeout, buildargs={name: secrets[name] for name in declared}
        )
        if built.ok:
            images.append((built.image_id, ", ".join(f"--build-arg {name}=…" for name in declared)))
    try:
        for image_id, how in images:
            findings = scan_image_for(ctx, image_id, secrets, timeout)
            if findings:
                first = findings[0]
                message = t(FOUND_IN[first.kind], file=filename, what=first.what)
                if len(findings) > 1:
                    message = sentences(message, t("no_secret_in_image.others", count=len(findings) - 1))
                if how:
                    message = sentences(message, t("no_secret_in_image.with_build_arg", how=how))
                return Outcome.fail(
                    message,
                    first.location,
                    "\n".join(f"{f.kind}: {f.what}" + (f" ({f.location})" if f.location else "") for f in findings[:20]),
                )
    except SavedImageTimeout:
        return Outcome.fail(t("no_secret_in_image.timeout", seconds=f"{timeout:.0f}"))
    return Outcome.ok(t("no_secret_in_image.ok", file=filename, count=len(secrets)))
