"""Checks of a multi-stage build: the stages, what the final image leaves out, its size, its model."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Mapping

from grader import dockerfile as dockerfile_module
from grader.kinds import register
from grader.checks.efficiency import DEFAULT_TIMEOUT, SavedImageTimeout, layer_instructions, saved_analysis
from grader.checks.image import MB, size_over_base
from grader.context import Context
from grader.dockerfile import Dockerfile, Instruction, copy_bringing, copy_from_flag, image_of, stage_index
from grader.i18n import t
from grader.model import Outcome

REPO_ROOT = Path(__file__).resolve().parents[2]

# Reference sizes already measured in this process: (reference folder digest, base image id) -> bytes.
_REFERENCE_ADDED: dict[tuple[str, str], int] = {}


# -- reading stages -----------------------------------------------------------------------


def _earlier(stage: int | None, final: int) -> bool:
    return stage is not None and stage < final


def _stage_label(dockerfile: Dockerfile, stage: int) -> str:
    names = {index: name for name, index in dockerfile.stage_names().items()}
    return names.get(stage, str(stage))


@register("multi_stage", needs="dockerfile")
def multi_stage(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Two or more stages, the final one starting from a clean base and copying from an earlier stage."""
    dockerfile = ctx.dockerfile
    froms = dockerfile.find("FROM")
    if not froms:
        return Outcome.fail(t("multi_stage.no_from"))
    final = len(froms) - 1
    if final == 0:
        return Outcome.fail(t("multi_stage.one_stage", image=image_of(froms[0].value)), froms[0].location)
    parent = dockerfile.stage_parent(final)
    if parent is not None:
        return Outcome.fail(
            t("multi_stage.final_from_builder", stage=_stage_label(dockerfile, parent)), froms[final].location
        )
    copies = [
        ins for ins in dockerfile.final_stage()
        if ins.keyword in ("COPY", "ADD") and copy_from_flag(ins) is not None
    ]
    from_stage = [ins for ins in copies if _earlier(stage_index(dockerfile, copy_from_flag(ins)), final)]
    if not from_stage:
        return Outcome.fail(t("multi_stage.no_copy_from", line=froms[final].line), froms[final].location)
    runs = params.get("builder_runs")
    if runs:
        in_final = [ins for ins in dockerfile.final_stage() if ins.keyword == "RUN" and runs in ins.value]
        if in_final:
            return Outcome.fail(t("multi_stage.runs_in_final", what=runs), in_final[0].location)
        in_builder = [ins for ins in dockerfile.commands() if ins.keyword == "RUN" and ins.stage < final and runs in ins.value]
        if not in_builder:
            return Outcome.fail(t("multi_stage.builder_does_not_run", what=runs), froms[0].location)
    first = from_stage[0]
    return Outcome.ok(
        t("multi_stage.ok", stages=len(froms), copy=f"{first.keyword} {first.value}"[:90], line=first.line),
        first.location,
    )


# -- what the final image must not hold ---------------------------------------------------


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
        base_reference = reference.base_of_stage(reference.stage_count() - 1)
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


# -- the model loads with warnings turned into errors -------------------------------------

STRICT_LOAD = """\
import sys, warnings
try:
    from sklearn.exceptions import InconsistentVersionWarning
except ImportError:  # scikit-learn before 1.3 warns with a plain UserWarning
    InconsistentVersionWarning = UserWarning
warnings.simplefilter("error", InconsistentVersionWarning)
import joblib
joblib.load(sys.argv[1])
print("model loaded")
"""

VERSIONS = re.compile(r"from version (\S+?) when using version (\S+?)\.?(\s|$)")


def _builder_install(ctx: Context) -> Instruction | None:
    """The pip install RUN of an earlier stage (where the model's scikit-learn came from)."""
    if ctx.dockerfile is None:
        return None
    final = ctx.dockerfile.stage_count() - 1
    installs = [ins for ins in ctx.dockerfile.commands() if ins.keyword == "RUN" and ins.stage < final and "pip" in ins.value]
    return installs[-1] if installs else None


@register("model_loads_strict", needs="container")
def model_loads_strict(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """Inside the container the model loads with scikit-learn's InconsistentVersionWarning turned into an error."""
    path = params.get("model_path", "/app/iris_binary_model.pkl")
    container = ctx.run.container
    state = container.state()
    if not state.get("Running"):
        return Outcome.fail(t("model_loads_strict.not_running", code=state.get("ExitCode")))
    command = ["python", "-c", STRICT_LOAD, path]
    code, output = container.exec_output(command)
    if code == 124:  # the session's exec time limit: importing scikit-learn on a busy machine is slow
        code, output = container.exec_output(command)
    if code == 0:
        return Outcome.ok(t("model_loads_strict.ok", path=path))
    lines = [line for line in output.strip().splitlines() if line.strip()]
    last = lines[-1].strip()[:300] if lines else f"exit code {code}"
    versions = VERSIONS.search(output)
    if versions:
        where = _builder_install(ctx)
        return Outcome.fail(
            t("model_loads_strict.version_mismatch", trained=versions.group(1), serving=versions.group(2)),
            where.location if where else None,
            output[-2000:],
        )
    if "FileNotFoundError" in output or "No such file" in output:
        return Outcome.fail(t("model_loads_strict.missing", path=path), detail=output[-2000:])
    return Outcome.fail(t("model_loads_strict.error", error=last), detail=output[-2000:])
