"""Loads labs.yaml into frozen specs and validates it, reporting every error at once with its YAML path.

The check kinds it validates against are given to it (`kinds=`), never imported: the registry
lives in the grading layer (grader/kinds.py), which also names itself the default for callers
that pass none.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import yaml

from grader.i18n import SAFE_LOADER
from grader.model import CheckSpec, ExerciseSpec

BUILDERS = ("auto", "buildkit", "classic")
# How much a failure gives away: teach (the report shows a nudge, `hint` climbs to the line),
# answers (a tutorial: the report shows the line at once), exam (no hints at all).
FEEDBACK = ("teach", "answers", "exam")
MIN_LADDER = 3  # nudge, concept with its reference page, the exact line
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
TRANSLATED_KEY = re.compile(r"^(title|hint)_([a-z]{2})$")
LADDER_KEY = re.compile(r"^hints_([a-z]{2})$")


class KindRule(Protocol):
    """What validating labs.yaml needs to know of a check kind: the params every check of it must give."""

    required_params: tuple[str, ...]


Kinds = Mapping[str, KindRule]
_default_kinds: Callable[[], Kinds] | None = None


def use_kinds(provider: Callable[[], Kinds]) -> None:
    """Name the kinds load() and parse() validate against when their caller gives none (grader/kinds.py names its registry)."""
    global _default_kinds
    _default_kinds = provider


def _kinds(kinds: Kinds | None) -> Kinds:
    """The kinds given, else the default ones; a programming error when there are neither."""
    if kinds is not None:
        return kinds
    if _default_kinds is None:
        raise RuntimeError("grader.spec was given no check kinds: pass kinds=grader.kinds.registry(), or import grader.kinds first")
    return _default_kinds()


class SpecError(Exception):
    """labs.yaml is invalid; `errors` lists every problem with its YAML path and the fix."""

    def __init__(self, path: Path, errors: list[str]):
        self.path = path
        self.errors = errors
        super().__init__(f"{path}: {len(errors)} error(s):\n" + "\n".join(f"  - {e}" for e in errors))


def default_labs_path() -> Path:
    """labs.yaml of this checkout: the current folder's if it has one, else the one beside the package."""
    here = Path.cwd() / "labs.yaml"
    if here.is_file():
        return here
    return Path(__file__).resolve().parent.parent / "labs.yaml"


def load(path: Path | None = None, kinds: Kinds | None = None) -> list[ExerciseSpec]:
    """Read and validate labs.yaml against the check kinds; raise SpecError listing every problem."""
    path = Path(path) if path else default_labs_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(path, [f"cannot read the file: {error.strerror}. Pass `--labs PATH` or run from the repository root"]) from None
    try:
        document = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(path, [f"not valid YAML at {where}: {problem}. Check indentation and quoting there"]) from None
    return parse(document, path, kinds)


def parse(document: Any, path: Path = Path("labs.yaml"), kinds: Kinds | None = None) -> list[ExerciseSpec]:
    """Validate an already-loaded labs.yaml document against the check kinds (the default ones when None)."""
    kinds = _kinds(kinds)
    errors: list[str] = []
    exercises: list[ExerciseSpec] = []
    if not isinstance(document, dict) or not isinstance(document.get("exercises"), list):
        raise SpecError(path, ["the top level must be a mapping with an `exercises:` list, e.g. `exercises:\\n  - id: exercise-01`"])
    course_builder = _builder(document, "builder", "auto", errors)
    course_feedback = _feedback(document, "feedback", "teach", errors)
    exercises = _parse_unique(
        document["exercises"], "exercises",
        lambda raw, where: _parse_exercise(raw, where, errors, kinds, course_builder, course_feedback), errors,
        "give every exercise its own id",
    )
    if errors:
        raise SpecError(path, errors)
    return exercises


def _parse_unique(items: list, where: str, parse, errors: list[str], fix: str) -> list:
    """Parse each item of a YAML list, reporting an id used twice with its path."""
    parsed, seen = [], set()
    for index, raw in enumerate(items):
        item = parse(raw, f"{where}[{index}]")
        if item is None:
            continue
        if item.id in seen:
            errors.append(f"{where}[{index}].id: `{item.id}` is used twice; {fix}")
        seen.add(item.id)
        parsed.append(item)
    return parsed


def _require_text(raw: dict, key: str, where: str, errors: list[str], example: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{where}.{key}: missing or not text; write e.g. `{key}: {example}`")
        return ""
    return value


NETWORKS = ("internal", "open")  # run-time networks: no route out, or a normal bridge


def _builder(raw: dict, where: str, default: str, errors: list[str]) -> str:
    """The `builder:` of a mapping (the course's, or an exercise's), validated."""
    value = raw.get("builder", default)
    if value not in BUILDERS:
        errors.append(f"{where}: `{value}` is not a builder; write one of {', '.join(BUILDERS)}")
        return default
    return value


def _feedback(raw: dict, where: str, default: str, errors: list[str]) -> str:
    """The `feedback:` policy of a mapping (the course's, or an exercise's), validated."""
    value = raw.get("feedback", default)
    if value not in FEEDBACK:
        errors.append(
            f"{where}: `{value}` is not a feedback policy; write one of {', '.join(FEEDBACK)} "
            "(teach: the report nudges and `hint` climbs to the answer; answers: the report shows the answer; exam: no hints)"
        )
        return default
    return value


def _parse_exercise(
    raw: Any, where: str, errors: list[str], kinds: Kinds, course_builder: str = "auto", course_feedback: str = "teach"
) -> ExerciseSpec | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a mapping with id, title, folder and checks")
        return None
    known = {"id", "title", "folder", "port", "checks", "plant", "builder", "network", "feedback"}
    titles = {}
    for key in sorted(set(raw) - known, key=str):
        match = TRANSLATED_KEY.match(str(key))
        if match and match.group(1) == "title" and isinstance(raw[key], str):
            titles[match.group(2)] = raw[key]
            continue
        errors.append(f"{where}.{key}: unknown key; an exercise has only {', '.join(sorted(known))}")
    exercise_id = _require_text(raw, "id", where, errors, "exercise-01")
    if exercise_id and not ID_PATTERN.match(exercise_id):
        errors.append(f"{where}.id: `{exercise_id}` may hold only lower-case letters, digits, `-`, `_` and `.`")
    title = _require_text(raw, "title", where, errors, "Your first ML API image")
    folder = _require_text(raw, "folder", where, errors, "exercises/exercise-01")
    port = raw.get("port", 5001)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        errors.append(f"{where}.port: `{port}` is not a TCP port; write e.g. `port: 5001`")
        port = 5001
    checks_raw = raw.get("checks")
    if not isinstance(checks_raw, list) or not checks_raw:
        errors.append(f"{where}.checks: missing or empty; list the checks, each with id, kind, points and title")
        checks_raw = []
    feedback = _feedback(raw, f"{where}.feedback", course_feedback, errors)
    checks = _parse_unique(
        checks_raw, f"{where}.checks", lambda raw, at: _parse_check(raw, at, errors, kinds, feedback), errors,
        "ids must be unique within an exercise",
    )
    plant = raw.get("plant") or {}
    if not isinstance(plant, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in plant.items()):
        errors.append(f"{where}.plant: must map relative file paths to their text, e.g. `plant: {{.env: \"TOKEN=x\"}}`")
        plant = {}
    for relative in plant:
        if relative.startswith("/") or ".." in relative.split("/"):
            errors.append(f"{where}.plant.{relative}: must be a path inside the submission folder")
    network = raw.get("network", "internal")
    if network not in NETWORKS:
        errors.append(
            f"{where}.network: `{network}` is not one of {', '.join(NETWORKS)};"
            " write `network: open` only if the app must reach the outside while it runs"
        )
        network = "internal"
    return ExerciseSpec(
        id=exercise_id, title=title, folder=folder, port=port, checks=tuple(checks), plant=plant, titles=titles,
        builder=_builder(raw, f"{where}.builder", course_builder, errors),
        network=network, feedback=feedback,
    )


def _ladder(value: Any, where: str, errors: list[str]) -> tuple[str, ...]:
    """A `hints:` list, validated: at least MIN_LADDER texts, nudge first and the exact line last."""
    if not isinstance(value, list) or not all(isinstance(level, str) and level.strip() for level in value):
        errors.append(f"{where}: must be a list of texts, e.g. `- a nudge`, `- the idea and its docs.docker.com page`, `- the exact line`")
        return ()
    if len(value) < MIN_LADDER:
        errors.append(f"{where}: has {len(value)} level(s); a hint ladder has at least {MIN_LADDER}: a nudge, the idea with its reference page, the exact line")
    return tuple(value)


def _parse_check(raw: Any, where: str, errors: list[str], kinds: Kinds, feedback: str = "teach") -> CheckSpec | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a mapping with id, kind, points and title")
        return None
    known = {"id", "kind", "points", "title", "hint", "hints", "params"}
    translations: dict[str, dict[str, str]] = {}
    ladders: dict[str, tuple[str, ...]] = {}
    for key in sorted(set(raw) - known, key=str):
        match = TRANSLATED_KEY.match(str(key))
        if match and isinstance(raw[key], str):
            translations.setdefault(match.group(2), {})[match.group(1)] = raw[key]
            continue
        ladder_match = LADDER_KEY.match(str(key))
        if ladder_match:
            ladders[ladder_match.group(1)] = _ladder(raw[key], f"{where}.{key}", errors)
            continue
        errors.append(f"{where}.{key}: unknown key; a check has only {', '.join(sorted(known))} (and title_<lang>, hint_<lang>, hints_<lang>)")
    check_id = _require_text(raw, "id", where, errors, "expose-port")
    if check_id and not ID_PATTERN.match(check_id):
        errors.append(f"{where}.id: `{check_id}` may hold only lower-case letters, digits, `-`, `_` and `.`")
    kind = _require_text(raw, "kind", where, errors, "image_exposes")
    if kind and kind not in kinds:
        errors.append(f"{where}.kind: unknown kind `{kind}`; known kinds: {', '.join(sorted(kinds))}")
    points = raw.get("points")
    if points is None:
        errors.append(f"{where}.points: missing; write e.g. `points: 10`")
        points = 0
    elif isinstance(points, bool) or not isinstance(points, (int, float)):
        errors.append(f"{where}.points: `{points}` is not a number; write e.g. `points: 10`")
        points = 0
    elif not math.isfinite(points):
        errors.append(f"{where}.points: `{points}` is not a finite number; write e.g. `points: 10`")
        points = 0
    elif points < 0:
        errors.append(f"{where}.points: {points} is negative; points are 0 or more")
    title = _require_text(raw, "title", where, errors, "The image exposes port 5001")
    hint = raw.get("hint", "")
    if not isinstance(hint, str):
        errors.append(f"{where}.hint: must be text")
        hint = ""
    hints = _ladder(raw["hints"], f"{where}.hints", errors) if "hints" in raw else ()
    if hints and hint:
        errors.append(f"{where}.hint: give either `hint` (one level) or `hints` (the ladder), not both")
    hint = hint or (hints[0] if hints else "")
    for language, ladder in ladders.items():
        translations.setdefault(language, {}).setdefault("hint", ladder[0] if ladder else "")
    params = raw.get("params")
    params = {} if params is None else params
    if not isinstance(params, dict):
        errors.append(f"{where}.params: must be a mapping, e.g. `params: {{port: 5001}}`")
        params = {}
    elif kind in kinds:
        for name in kinds[kind].required_params:
            if name not in params:
                errors.append(f"{where}.params.{name}: required by kind `{kind}`")
    return CheckSpec(
        id=check_id, kind=kind, points=float(points), title=title, hint=hint, params=params, translations=translations,
        hints=hints, ladders=ladders, feedback=feedback,
    )


def find_exercise(exercises: list[ExerciseSpec], exercise_id: str) -> ExerciseSpec | None:
    """The exercise with this id, or None."""
    return next((e for e in exercises if e.id == exercise_id), None)
