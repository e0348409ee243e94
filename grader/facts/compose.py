"""The learner's compose file read with its line numbers, and the grading's one run of the stack: what the two Compose families share.

The file is read here (no engine); the run goes through ctx.session (grader/engine/compose.py does
the engine work): the first run check to ask starts it, the others read its result in ctx.memo.
The run's parameters come from the exercise's `compose_stack_runs` check, the expected rows from
its `compose_client_output` check.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from grader.compose_facts import StackRun, compose_file
from grader.context import Context
from grader.errors import EngineUnavailable
from grader.i18n import t
from grader.model import Outcome

DEFAULT_FILE = "compose.yaml"
DEFAULT_TIMEOUT = 120.0
FEATURE_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]  # of the input CSV, in order
RUN_ATTRIBUTE = "compose_stack_run"  # the key of the grading's one stack run in ctx.memo


# -- reading the compose file, with line numbers ------------------------------------------------


@dataclass
class ComposeFile:
    """A parsed compose file that can say on which line a key is."""

    path: Path
    text: str
    document: dict
    root: Any  # the YAML node tree

    @property
    def name(self) -> str:
        """The file's name, as messages show it."""
        return self.path.name

    def line(self, *keys: Any) -> int | None:
        """The line of the deepest of these keys that exists (1-based), None when not even the first does."""
        node, line = self.root, None
        for key in keys:
            if isinstance(node, yaml.MappingNode):
                match = next((pair for pair in node.value if isinstance(pair[0], yaml.ScalarNode) and pair[0].value == str(key)), None)
                if match is None:
                    return line
                line, node = match[0].start_mark.line + 1, match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def location(self, *keys: Any) -> str:
        """`compose.yaml:N` for these keys, or the file name alone."""
        line = self.line(*keys)
        return f"{self.name}:{line}" if line else self.name

    @property
    def services(self) -> dict:
        """The `services:` mapping."""
        return self.document.get("services") or {}

    def service(self, name: str) -> dict:
        """One service's settings ({} when it is empty)."""
        value = self.services.get(name)
        return value if isinstance(value, dict) else {}


def compose_path(ctx: Context, params: Mapping[str, Any]) -> Path | None:
    """The compose file to read: the `file` param, else the first of Compose's own names in the folder."""
    name = params.get("file")
    return ctx.submission / name if name else compose_file(ctx.submission)


def load_compose(ctx: Context, params: Mapping[str, Any]) -> tuple[ComposeFile | None, Outcome | None]:
    """The submission's compose file, or a failing outcome that says why it cannot be read."""
    name = params.get("file")
    path = compose_path(ctx, params)
    if path is None or not path.is_file():
        return None, Outcome.fail(t("compose_file.missing", name=name or DEFAULT_FILE, folder=ctx.submission))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, Outcome.fail(t("compose_file.unreadable", name=path.name, error=error), location=path.name)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        location = f"{path.name}:{mark.line + 1}" if mark else path.name
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        return None, Outcome.fail(t("compose_file.yaml", name=path.name, problem=problem), location=location)
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict) or not document["services"]:
        return None, Outcome.fail(t("compose_file.no_services", name=path.name), location=path.name)
    return ComposeFile(path, text, document, root), None


def read_service(ctx: Context, params: Mapping[str, Any], default: str) -> tuple[ComposeFile | None, str, Outcome | None]:
    """The compose file and the name of the service a check looks at (`service` param), or why it cannot."""
    compose_file, problem = load_compose(ctx, params)
    name = params.get("service", default)
    if compose_file is None or name in compose_file.services:
        return compose_file, name, problem
    names = ", ".join(f"`{s}`" for s in compose_file.services) or "none"
    return compose_file, name, Outcome.fail(
        t("compose_file.no_service", service=name, services=names, name=compose_file.name),
        location=compose_file.location("services"),
    )


# -- the stack run, shared by the run checks -------------------------------------------------


def input_csv(cases: list[Mapping[str, Any]], columns: list[str]) -> str:
    """The CSV the client reads, made from the expected cases (so the grader knows every row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for case in cases:
        writer.writerow([f"{float(value):g}" for value in case["features"]])
    return out.getvalue()


def stack_run(ctx: Context) -> tuple[StackRun | None, Outcome | None]:
    """The grading's one run of the stack (started by the first run check that asks), or why it was not run."""
    cached = ctx.memo.get(RUN_ATTRIBUTE)
    if cached is not None:
        return cached
    params = ctx.exercise.params_of("compose_stack_runs")
    compose_file, problem = load_compose(ctx, params)
    if compose_file is None:
        result: tuple[StackRun | None, Outcome | None] = (None, problem)
        ctx.memo[RUN_ATTRIBUTE] = result
        return result
    output = ctx.exercise.params_of("compose_client_output")
    plant = {}
    if output.get("input_file") and output.get("cases"):
        plant[output["input_file"]] = input_csv(output["cases"], list(output.get("columns", FEATURE_COLUMNS)))
    try:
        run = ctx.session.run_stack(  # the grading's engine session (the run checks declare uses_engine)
            ctx.submission,
            open_network=ctx.exercise.network == "open",
            compose_name=compose_file.name,
            api_service=params.get("api", "api"),
            client_service=params.get("client", "client"),
            output_path=params.get("output", "/output/predictions.csv"),
            build_timeout=ctx.build_timeout,
            timeout=float(params.get("timeout", DEFAULT_TIMEOUT)),
            plant=plant,
            progress=ctx.progress,
        )
    except EngineUnavailable:  # no Compose is like no engine: nothing of the stack can be graded
        raise
    except Exception as error:  # recorded, so the other run checks do not start the stack again
        ctx.memo[RUN_ATTRIBUTE] = (None, Outcome.fail(t("compose_stack_runs.grader_error", error=f"{type(error).__name__}: {error}")))
        raise
    ctx.facts["compose"] = run.compose
    if run.build_ok is not None:
        ctx.facts["stack_build_seconds"] = round(run.build_seconds, 2)
    if run.up_code is not None or run.timed_out:
        ctx.facts["stack_seconds"] = round(run.run_seconds, 2)
    result = (run, None)
    ctx.memo[RUN_ATTRIBUTE] = result
    return result
