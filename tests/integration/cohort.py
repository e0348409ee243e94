"""A generated class of exercise-01 submissions: solutions, known mistakes, one that hangs, ones that crash.

Every variant keeps the build context of the solution (the Dockerfile is outside it, per
.dockerignore) or fails before pip runs, so a whole cohort reuses one cached pip layer.
`python -m tests.integration.cohort DEST [N]` writes one for a benchmark.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
SOLUTION = REPO / "solutions" / "exercise-01"

Edit = Callable[[str], str]


def _cmd(text: str, cmd: str) -> str:
    return text.replace('CMD ["python", "flask_api_v2.py"]', cmd)


def _unusual(comment: str) -> Edit:
    # Two learners who "share" a Dockerfile: the same unusual lines (after pip, so the cache still
    # serves), with different comments and layout.
    return lambda text: re.sub(r"(?m)^#.*\n", "", text).replace(
        "EXPOSE 5001", f"# {comment}\nENV   PYTHONDONTWRITEBYTECODE=1 \\\n    APP_HOME=/app\nLABEL course.team=\"blue-otters\"\nEXPOSE 5001"
    )


# name -> (Dockerfile edit or None to keep it, points lost against the maximum)
VARIANTS: dict[str, tuple[Edit | None, float]] = {
    "solution": (None, 0),
    "restyled": (lambda text: re.sub(r"(?m)^#.*\n", "", text).replace("COPY . /app", "COPY  .  /app"), 0),
    "copy-a": (_unusual("set up the app folder"), 0),
    "copy-b": (_unusual("app lives here"), 0),
    "no-expose": (lambda text: re.sub(r"(?m)^EXPOSE 5001\n", "", text), 10),
    "shell-form-cmd": (lambda text: _cmd(text, "CMD python flask_api_v2.py"), 15),
    "todo-left": (lambda text: text + "# TODO 7: remove me\n", 5),
    "build-error": (lambda text: text.replace("-r requirements.txt", "-r requirement.txt"), 65),
    "hangs-at-start": (lambda text: _cmd(text, 'CMD ["sleep", "infinity"]'), 30),
    "crashes-at-start": (lambda text: _cmd(text, 'CMD ["python", "-c", "raise SystemExit(3)"]'), 30),
}
GARBAGE = bytes(range(256)) * 8  # a "Dockerfile" that is binary garbage


def make_submission(folder: Path, variant: str) -> Path:
    """Write one learner's folder as the named variant (see VARIANTS, plus garbage, empty, hangs-in-build)."""
    if variant == "empty":
        folder.mkdir(parents=True)
        return folder
    shutil.copytree(SOLUTION, folder)
    dockerfile = folder / "Dockerfile"
    if variant == "garbage":
        dockerfile.write_bytes(GARBAGE)
    elif variant == "hangs-in-build":
        dockerfile.write_text(dockerfile.read_text().replace("COPY . /app\n", "COPY . /app\nRUN sleep 100000\n"))
    else:
        edit, _ = VARIANTS[variant]
        if edit:
            dockerfile.write_text(edit(dockerfile.read_text()))
    return folder


# A class of 20: 8 solutions (one nested in an exercise-01/ folder), the mistakes, the hangs and crashes.
CLASS_OF_20 = (
    ["solution"] * 7 + ["solution-nested", "restyled", "copy-a", "copy-b", "no-expose", "shell-form-cmd", "todo-left", "build-error"]
    + ["hangs-at-start", "crashes-at-start", "garbage", "empty", "hangs-in-build"]
)


def make_cohort(root: Path, variants: list[str] = CLASS_OF_20) -> dict[str, str]:
    """Write one folder per learner under ROOT; learner -> variant."""
    root.mkdir(parents=True, exist_ok=True)
    learners = {}
    for n, variant in enumerate(variants, start=1):
        learner = f"learner{n:02d}-{variant}"
        if variant == "solution-nested":
            make_submission(root / learner / "exercise-01", "solution")
            (root / learner / "notes.txt").write_text("the grader must look inside exercise-01/\n")
        else:
            make_submission(root / learner, variant)
        learners[learner] = variant
    return learners


if __name__ == "__main__":
    destination = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else len(CLASS_OF_20)
    chosen = (CLASS_OF_20 * (count // len(CLASS_OF_20) + 1))[:count]
    for name, kind in make_cohort(destination, chosen).items():
        print(name, kind)
