"""Image metadata checks on recorded `docker image inspect` output (no engine)."""

from __future__ import annotations

import copy

import pytest

from unit_helpers import GOOD_DOCKERFILE, INSPECT, built, load_inspect, spec_of
from grader.facts.image import MB, image_config, layers_added, size_over_base
from grader.context import BuildResult
from grader.grading import run_check
from grader.model import Status

EXTRA_LAYER = "sha256:" + "e" * 64

# GOOD_DOCKERFILE lines: 1 FROM, 2 WORKDIR, 3 COPY, 4 RUN, 5 EXPOSE, 6 CMD


def solution() -> dict:
    return load_inspect("solution-image.json")


def base() -> dict:
    return load_inspect("base-image.json")


def variant(document: dict, **config_changes) -> dict:
    """A copy of an inspect document with Config fields replaced (None removes the key)."""
    changed = copy.deepcopy(document)
    for key, value in config_changes.items():
        if value is None:
            changed["Config"].pop(key, None)
        else:
            changed["Config"][key] = value
    return changed


@pytest.fixture
def image_ctx(make_ctx):
    def build(image: dict | None = None, base_image: dict | None = "default", text: str = GOOD_DOCKERFILE):
        return make_ctx(
            text,
            build=built(),
            image=solution() if image is None else image,
            base_image=base() if base_image == "default" else base_image,
        )

    return build


def test_fixtures_have_the_inspect_shape():
    for name in ("solution-image.json", "base-image.json", "solution-image-newer-engine.json", "base-image-newer-engine.json"):
        document = load_inspect(name)
        assert document["Id"].startswith("sha256:")
        assert isinstance(document["Size"], int) and document["Size"] > 0
        assert document["RootFS"]["Type"] == "layers"
        assert "Config" in document
    assert solution()["Config"]["ExposedPorts"] == {"5001/tcp": {}}
    assert solution()["Config"]["Cmd"] == ["python", "flask_api_v2.py"]
    assert solution()["Config"]["WorkingDir"] == "/app"
    # the solution image is the base plus its own layers
    assert solution()["RootFS"]["Layers"][: len(base()["RootFS"]["Layers"])] == base()["RootFS"]["Layers"]
    newer = load_inspect("solution-image-newer-engine.json")["Config"]
    assert "Entrypoint" not in newer and "Volumes" not in newer and "OnBuild" not in newer
    assert (INSPECT / "base-image.json").is_file()


# -- image_exposes -------------------------------------------------------------------------


def test_exposes_passes_at_the_expose_line(image_ctx, run_kind):
    outcome = run_kind("image_exposes", image_ctx())
    assert outcome.passed, outcome.message
    assert "5001/tcp" in outcome.message
    assert outcome.location == "Dockerfile:5"


def test_exposes_nothing_fails_with_the_fix(image_ctx, run_kind):
    outcome = run_kind("image_exposes", image_ctx(variant(solution(), ExposedPorts=None)))
    assert not outcome.passed
    assert "exposes no port" in outcome.message and "EXPOSE 5001" not in outcome.message and "EXPOSE" in outcome.message
    assert outcome.location is None  # there is no EXPOSE line to point at ...
    assert "above the CMD (Dockerfile:6)" in outcome.message  # ... so the message says where it goes


def test_exposes_null_ports_fails(image_ctx, run_kind):
    outcome = run_kind("image_exposes", image_ctx(variant(solution(), ExposedPorts={})))
    assert not outcome.passed and "exposes no port" in outcome.message


def test_exposes_other_port_fails_naming_both(image_ctx, run_kind):
    text = GOOD_DOCKERFILE.replace("EXPOSE 5001", "EXPOSE 8080")
    outcome = run_kind("image_exposes", image_ctx(variant(solution(), ExposedPorts={"8080/tcp": {}}), text=text))
    assert not outcome.passed
    assert "8080/tcp" in outcome.message and "listens on 5001" in outcome.message and "EXPOSE 5001" not in outcome.message
    assert outcome.location == "Dockerfile:5"


def test_exposes_udp_only_fails(image_ctx, run_kind):
    outcome = run_kind("image_exposes", image_ctx(variant(solution(), ExposedPorts={"5001/udp": {}})))
    assert not outcome.passed and "5001/udp" in outcome.message


def test_exposes_port_param_is_used(image_ctx, run_kind):
    assert not run_kind("image_exposes", image_ctx(), port=8080).passed


# -- image_exec_form -----------------------------------------------------------------------


def test_exec_form_passes(image_ctx, run_kind):
    outcome = run_kind("image_exec_form", image_ctx())
    assert outcome.passed, outcome.message
    assert outcome.location == "Dockerfile:6"


def test_shell_form_cmd_fails(image_ctx, run_kind):
    image = variant(solution(), Cmd=["/bin/sh", "-c", "python flask_api_v2.py"])
    outcome = run_kind("image_exec_form", image_ctx(image, text=GOOD_DOCKERFILE.replace('CMD ["python", "flask_api_v2.py"]', "CMD python flask_api_v2.py")))
    assert not outcome.passed
    assert "/bin/sh -c python flask_api_v2.py" in outcome.message
    assert "CMD as a JSON array" in outcome.message and '["python", "flask_api_v2.py"]' not in outcome.message
    assert outcome.location == "Dockerfile:6"


def test_shell_form_entrypoint_fails_naming_entrypoint(image_ctx, run_kind):
    image = variant(solution(), Entrypoint=["/bin/sh", "-c", "python flask_api_v2.py"], Cmd=None)
    text = GOOD_DOCKERFILE.replace('CMD ["python", "flask_api_v2.py"]', "ENTRYPOINT python flask_api_v2.py")
    outcome = run_kind("image_exec_form", image_ctx(image, text=text))
    assert not outcome.passed
    assert "ENTRYPOINT as a JSON array" in outcome.message
    assert outcome.location == "Dockerfile:6"


def test_no_start_command_fails(image_ctx, run_kind):
    outcome = run_kind("image_exec_form", image_ctx(variant(solution(), Cmd=None)))
    assert not outcome.passed and "no start command" in outcome.message


def test_exec_form_entrypoint_passes(image_ctx, run_kind):
    image = variant(solution(), Entrypoint=["python", "flask_api_v2.py"], Cmd=None)
    assert run_kind("image_exec_form", image_ctx(image)).passed


# -- image_workdir -------------------------------------------------------------------------


@pytest.mark.parametrize("workdir", ["/app", "/app/"])
def test_workdir_passes(workdir, image_ctx, run_kind):
    outcome = run_kind("image_workdir", image_ctx(variant(solution(), WorkingDir=workdir)))
    assert outcome.passed, outcome.message
    assert outcome.location == "Dockerfile:2"


def test_no_workdir_fails_with_the_fix(image_ctx, run_kind):
    outcome = run_kind("image_workdir", image_ctx(variant(solution(), WorkingDir="")))
    assert not outcome.passed
    assert "no working directory" in outcome.message and "/app" in outcome.message and "WORKDIR /app" not in outcome.message


def test_other_workdir_fails(image_ctx, run_kind):
    outcome = run_kind("image_workdir", image_ctx(variant(solution(), WorkingDir="/code")))
    assert not outcome.passed
    assert "`/code`" in outcome.message and "serves from `/app`" in outcome.message
    assert outcome.location == "Dockerfile:2"


def test_root_workdir_fails(image_ctx, run_kind):
    assert not run_kind("image_workdir", image_ctx(variant(solution(), WorkingDir="/"))).passed


# -- image_size ----------------------------------------------------------------------------


def test_size_within_budget_passes(image_ctx, run_kind):
    ctx = image_ctx()
    assert size_over_base(ctx) == 452118937 - 130848432
    outcome = run_kind("image_size", ctx)
    assert outcome.passed, outcome.message
    assert "321 MB over the base image" in outcome.message


def test_oversized_fails_at_the_run_line(image_ctx, run_kind):
    image = solution()
    image["Size"] = base()["Size"] + 900 * MB
    outcome = run_kind("image_size", image_ctx(image))
    assert not outcome.passed
    assert "adds 900 MB" in outcome.message and "450 MB budget" in outcome.message
    assert "pip's cache" in outcome.message and "docker history" in outcome.message
    assert outcome.location == "Dockerfile:4"


def test_size_exactly_at_budget_passes(image_ctx, run_kind):
    image = solution()
    image["Size"] = base()["Size"] + 450 * MB
    assert run_kind("image_size", image_ctx(image)).passed


def test_size_without_base_fails_saying_why(image_ctx, run_kind):
    outcome = run_kind("image_size", image_ctx(base_image=None))
    assert not outcome.passed
    assert "base image could not be inspected" in outcome.message


# -- image_layers --------------------------------------------------------------------------


def test_layers_within_limit_pass(image_ctx, run_kind):
    ctx = image_ctx()
    assert layers_added(ctx) == 3
    outcome = run_kind("image_layers", ctx)
    assert outcome.passed, outcome.message
    assert outcome.message.startswith("7 layers, 3 added")


def test_too_many_layers_fail(image_ctx, run_kind):
    image = solution()
    image["RootFS"]["Layers"] += [EXTRA_LAYER] * 5
    outcome = run_kind("image_layers", image_ctx(image))
    assert not outcome.passed
    assert "12 layers, 8 added" in outcome.message and "at most 6" in outcome.message
    assert "&&" in outcome.message


def test_layers_without_limit_only_report(image_ctx, run_kind):
    image = solution()
    image["RootFS"]["Layers"] += [EXTRA_LAYER] * 20
    assert run_kind("image_layers", image_ctx(image), params={}).passed


def test_layers_without_base_do_not_count_every_layer_as_added(image_ctx, run_kind):
    outcome = run_kind("image_layers", image_ctx(base_image=None), max_added_layers=2)
    assert "7 added" not in outcome.message


# -- newer engines leave empty fields out --------------------------------------------------


@pytest.mark.parametrize("kind", ["image_exposes", "image_exec_form", "image_workdir", "image_size", "image_layers"])
def test_newer_engine_solution_passes(kind, image_ctx, run_kind):
    ctx = image_ctx(load_inspect("solution-image-newer-engine.json"), load_inspect("base-image-newer-engine.json"))
    outcome = run_kind(kind, ctx)
    assert outcome.passed, outcome.message


def test_newer_engine_base_without_fields_fails_cleanly(image_ctx, run_kind):
    ctx = image_ctx(load_inspect("base-image-newer-engine.json"))
    assert "exposes no port" in run_kind("image_exposes", ctx).message
    assert "no working directory" in run_kind("image_workdir", ctx).message
    assert run_kind("image_exec_form", ctx).passed  # python3 in exec form


def test_missing_or_null_config_is_tolerated(image_ctx, run_kind):
    for image in ({"Size": 1, "RootFS": {"Layers": []}}, {"Config": None, "Size": 1}):
        ctx = image_ctx(image)
        assert image_config(ctx) == {}
        assert not run_kind("image_exposes", ctx).passed
        assert "no start command" in run_kind("image_exec_form", ctx).message
        assert not run_kind("image_workdir", ctx).passed


# -- blocking: image checks need a built, inspected image ----------------------------------


def test_image_checks_are_blocked_without_an_image(exercise, make_ctx):
    check = spec_of(exercise, "image_exposes")
    failed_build = make_ctx(build=BuildResult(ok=False, error="boom"))
    result = run_check(check, failed_build)
    assert result.status is Status.BLOCKED and "build failed" in result.message and result.score == 0
    not_inspected = make_ctx(build=built(), image=None)
    assert "could not be inspected" in run_check(check, not_inspected).message
    assert "was not built" in run_check(check, make_ctx()).message
    passing = make_ctx(build=built(), image=solution(), base_image=base())
    result = run_check(check, passing)
    assert result.status is Status.PASSED and result.score == check.points
