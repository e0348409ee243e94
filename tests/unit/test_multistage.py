"""Multi-stage checks without an engine: stages, files left out, size against a reference, strict model load."""

from __future__ import annotations

import pytest

from fakes import FakeSession
from unit_helpers import REPO_ROOT, FakeContainer, built, running
from test_efficiency import HISTORY, docker_save_tar
from grader.checks import image_contents
from grader.context import BuildResult
from grader.grading import run_check
from grader.model import CheckSpec, Status

SOLUTION = (REPO_ROOT / "solutions" / "exercise-04" / "Dockerfile").read_text()
MODEL_COPY = "COPY --from=builder /app/iris_binary_model.pkl ."


def check(kind: str, **params) -> CheckSpec:
    return CheckSpec(id=kind.replace("_", "-"), kind=kind, points=10, title=kind, params=params)


def line_of(text: str, needle: str) -> str:
    return f"Dockerfile:{next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)}"


# -- multi_stage ------------------------------------------------------------------------------


def test_the_solution_has_two_stages_and_copies_from_the_builder(make_ctx):
    result = run_check(check("multi_stage", builder_runs="train.py"), make_ctx(SOLUTION))
    assert result.status is Status.PASSED
    assert result.location == line_of(SOLUTION, MODEL_COPY)
    assert "2 stages" in result.message


SINGLE = """\
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -r requirements.txt && python train.py
CMD ["python", "flask_api_v2.py"]
"""


# Each failure: the Dockerfile, words of the message, and the line it must name ((text, which match)).
FAILURES = {
    "one-stage": (SINGLE, "only one stage", ("FROM python", 0)),
    "final-from-builder": (
        SOLUTION.replace("FROM python:3.11-slim\nWORKDIR /app\n\n# The same", "FROM builder\nWORKDIR /app\n\n# The same"),
        "starts FROM the stage `builder`",
        ("FROM builder", 0),
    ),
    "no-copy-from": (SOLUTION.replace(MODEL_COPY, "COPY iris_binary_model.pkl ."), "copies nothing out of an earlier stage", ("FROM python", -1)),
    "copy-from-an-image": (
        SOLUTION.replace(MODEL_COPY, "COPY --from=python:3.11-slim /etc/hostname ."),
        "copies nothing out of an earlier stage",
        ("FROM python", -1),
    ),
    "trains-in-final": (
        SOLUTION.replace("COPY flask_api_v2.py .", "COPY flask_api_v2.py train.py .\nRUN python train.py"),
        "runs `train.py` itself",
        ("RUN python train.py", -1),
    ),
    "builder-does-not-train": (SOLUTION.replace("RUN python train.py", "RUN echo no training"), "no earlier stage runs `train.py`", ("FROM python", 0)),
}


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_multi_stage_failures_name_the_line(make_ctx, name):
    text, needle, (start, which) = FAILURES[name]
    result = run_check(check("multi_stage", builder_runs="train.py"), make_ctx(text))
    assert result.status is Status.FAILED
    assert needle in result.message
    matches = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start)]
    assert result.location == f"Dockerfile:{matches[which]}"


def test_copy_from_by_stage_number_counts(make_ctx):
    text = SOLUTION.replace("COPY --from=builder", "COPY --from=0")
    assert run_check(check("multi_stage"), make_ctx(text)).status is Status.PASSED


def test_no_from_at_all(make_ctx):
    result = run_check(check("multi_stage"), make_ctx("# only a comment\nRUN echo hi\n"))
    assert result.status is Status.FAILED and "no FROM" in result.message


# -- absent_from_image --------------------------------------------------------------------------


def test_absent_passes_when_the_image_lacks_the_files(make_ctx):
    ctx = make_ctx(SOLUTION, build=built(), image={"Size": 1}, session=FakeSession())
    result = run_check(check("absent_from_image", paths=["/app/train.py"]), ctx)
    assert result.status is Status.PASSED and "/app/train.py" in result.message


@pytest.mark.parametrize(
    "copy",
    ["COPY --from=builder /app .", "COPY --from=builder /app/ /app/", "COPY . ."],
)
def test_absent_fails_and_names_the_copy_that_brought_it(make_ctx, copy):
    text = SOLUTION.replace(MODEL_COPY, copy)
    ctx = make_ctx(text, build=built(), image={"Size": 1}, session=FakeSession(present={"/app/train.py"}))
    result = run_check(check("absent_from_image", paths=["/app/train.py", "/usr/bin/gcc"]), ctx)
    assert result.status is Status.FAILED
    assert "`/app/train.py`" in result.message and "gcc" not in result.message
    assert result.location == line_of(text, copy)


def test_absent_names_a_copy_of_the_file_itself(make_ctx):
    text = SOLUTION.replace("COPY flask_api_v2.py .", "COPY flask_api_v2.py train.py ./")
    ctx = make_ctx(text, build=built(), image={"Size": 1}, session=FakeSession(present={"/app/train.py"}))
    result = run_check(check("absent_from_image", paths=["/app/train.py"]), ctx)
    assert result.location == line_of(text, "COPY flask_api_v2.py train.py ./")


# -- size_vs_reference ------------------------------------------------------------------------------

MB = 1_000_000
REFERENCE_BUILT = BuildResult(ok=True, image_id="sha256:reference")
BASE = {"Id": "sha256:base", "Size": 200 * MB, "RootFS": {"Layers": ["sha256:l0"]}}


def _size_ctx(make_ctx, own_mb, session, text=SOLUTION):
    image_contents._REFERENCE_ADDED.clear()
    return make_ctx(text, build=built(), image={"Size": int((200 + own_mb) * MB)}, base_image=BASE, session=session)


def test_size_uses_the_measured_figure_without_a_reference_folder(make_ctx):
    ctx = _size_ctx(make_ctx, 280, FakeSession())
    result = run_check(check("size_vs_reference", reference_added_mb=275.4, max_fraction=1.05), ctx)
    assert result.status is Status.PASSED
    assert "280.0 MB" in result.message and "275.4 MB" in result.message and "(measured)" in result.message
    assert ctx.facts["reference_added_mb"] == 275.4


def test_size_builds_the_reference_once_and_reports_both_numbers(make_ctx):
    session = FakeSession(images={"python:3.11-slim": BASE, "sha256:reference": {"Size": 475 * MB}}, built=REFERENCE_BUILT)
    spec = check("size_vs_reference", reference="solutions/exercise-01", reference_added_mb=1, max_fraction=1.05)
    ctx = _size_ctx(make_ctx, 276, session)
    result = run_check(spec, ctx)
    assert result.status is Status.PASSED, result.message
    assert "275.0 MB (built)" in result.message and "276.0 MB" in result.message
    assert [build.folder.name for build in session.builds] == ["exercise-01"]
    ctx.session = session  # a second grading in the same process: the figure is remembered
    run_check(spec, ctx)
    assert len(session.builds) == 1


def test_size_fails_above_the_fraction_and_names_the_biggest_layers(make_ctx):
    layers = [[("bin/sh", b"x")], [("app/", None)], [("app/a", b"y" * (2 * MB))], [("app/b", b"z" * (3 * MB))]]
    session = FakeSession(archive=docker_save_tar(layers, HISTORY))
    text = "FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py /app/\nRUN pip install x\nCMD [\"python\", \"app.py\"]\n"
    ctx = _size_ctx(make_ctx, 400, session, text)
    result = run_check(check("size_vs_reference", reference_added_mb=275.4, max_fraction=1.05), ctx)
    assert result.status is Status.FAILED
    assert "400.0 MB" in result.message and "289.2 MB" in result.message
    assert "3.0 MB from `RUN pip install x` (line 4); 2.0 MB from `COPY app.py /app/` (line 3)" in result.message
    assert result.location == "Dockerfile:4"


def test_size_without_a_base_image_cannot_compare(make_ctx):
    ctx = make_ctx(SOLUTION, build=built(), image={"Size": 1}, base_image=None, session=FakeSession())
    result = run_check(check("size_vs_reference", reference_added_mb=1, max_fraction=1.05), ctx)
    assert result.status is Status.FAILED and "base image" in result.message


def test_size_without_any_reference_is_the_graders_problem(make_ctx):
    ctx = _size_ctx(make_ctx, 1, FakeSession())
    result = run_check(check("size_vs_reference", reference="nowhere", max_fraction=1.05), ctx)
    assert result.status is Status.BLOCKED and "reference_added_mb" in result.message


# -- model_loads_strict --------------------------------------------------------------------------------

MISMATCH = (
    "Traceback (most recent call last):\n"
    '  File "<string>", line 8, in <module>\n'
    "sklearn.exceptions.InconsistentVersionWarning: Trying to unpickle estimator StandardScaler from version 1.7.2 when using version 1.9.1."
    " This might lead to breaking code or invalid results. Use at your own risk.\n"
)


def _strict_ctx(make_ctx, code, output, state=None, text=SOLUTION):
    container = FakeContainer(proc_net=output, exec_code=code, state=state)
    return make_ctx(text, build=built(), image={"Size": 1}, run=running(container)), container


def test_strict_load_passes_and_runs_python_with_the_warning_as_an_error(make_ctx):
    ctx, container = _strict_ctx(make_ctx, 0, "model loaded\n")
    result = run_check(check("model_loads_strict", model_path="/app/iris_binary_model.pkl"), ctx)
    assert result.status is Status.PASSED
    command = container.commands[-1]
    assert command[:2] == ["python", "-c"] and command[-1] == "/app/iris_binary_model.pkl"
    assert 'simplefilter("error", InconsistentVersionWarning)' in command[2]


def test_strict_load_names_both_versions_and_the_builders_install(make_ctx):
    text = SOLUTION.replace(
        "RUN pip install --no-cache-dir -r requirements.txt\n\n# Training",
        "RUN pip install --no-cache-dir -r requirements.txt\nRUN pip install --no-cache-dir scikit-learn==1.7.2\n\n# Training",
    )
    ctx, _ = _strict_ctx(make_ctx, 1, MISMATCH, text=text)
    result = run_check(check("model_loads_strict"), ctx)
    assert result.status is Status.FAILED
    assert "scikit-learn 1.7.2" in result.message and "scikit-learn 1.9.1" in result.message
    assert result.location == line_of(text, "scikit-learn==1.7.2")
    assert "InconsistentVersionWarning" in result.detail


def test_strict_load_without_the_model_file(make_ctx):
    ctx, _ = _strict_ctx(make_ctx, 1, "FileNotFoundError: [Errno 2] No such file or directory: '/app/m.pkl'\n")
    result = run_check(check("model_loads_strict", model_path="/app/m.pkl"), ctx)
    assert result.status is Status.FAILED and "no model at `/app/m.pkl`" in result.message


def test_strict_load_other_error_shows_its_last_line(make_ctx):
    ctx, _ = _strict_ctx(make_ctx, 1, "Traceback...\nModuleNotFoundError: No module named 'joblib'\n")
    result = run_check(check("model_loads_strict"), ctx)
    assert result.status is Status.FAILED and "No module named 'joblib'" in result.message


def test_strict_load_in_a_stopped_container(make_ctx):
    ctx, container = _strict_ctx(make_ctx, 0, "", state={"Running": False, "ExitCode": 1})
    result = run_check(check("model_loads_strict"), ctx)
    assert result.status is Status.FAILED and "exit code 1" in result.message
    assert container.commands == []
