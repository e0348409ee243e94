#!/usr/bin/env python3
"""Train the binary iris model that exercise-01 serves, and save it with joblib.

The model answers one question: "is this flower an Iris virginica?"
(1 = virginica, 0 = setosa or versicolor). It is a StandardScaler followed by a
LogisticRegression, fitted on all 150 rows of the iris data set that ships
inside scikit-learn (nothing is downloaded).

A pickled scikit-learn model should be loaded by the same scikit-learn version
that saved it, so this script refuses to run unless the installed version equals
the ``scikit-learn==X`` pin in exercises/exercise-01/requirements.txt.

Usage (from anywhere, in an environment built from that requirements file):

    python scripts/train_iris_model.py                  # writes both default copies
    python scripts/train_iris_model.py --out /tmp/m.pkl # writes only where told
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "exercises" / "exercise-01" / "requirements.txt"
# Every exercise that serves the model ships its own copy (a build context holds only its folder):
# write all of them, so that retraining can never leave one stale. exercise-04 trains its own.
DEFAULT_OUTPUTS = sorted(
    path
    for top in ("exercises", "solutions")
    for path in (REPO_ROOT / top).glob("exercise-*/**/iris_binary_model.pkl")
) or [
    REPO_ROOT / "exercises" / "exercise-01" / "iris_binary_model.pkl",
    REPO_ROOT / "solutions" / "exercise-01" / "iris_binary_model.pkl",
]

# Inputs whose answers are printed after training, as a quick sanity check.
PROBES = [
    ("setosa", [5.1, 3.5, 1.4, 0.2]),
    ("versicolor", [5.9, 3.0, 4.2, 1.5]),
    ("virginica", [6.7, 3.0, 5.2, 2.3]),
    ("borderline", [6.3, 2.8, 5.1, 1.5]),
]

_PIN = re.compile(r"^\s*scikit[-_.]learn\s*==\s*([^\s#;]+)", re.IGNORECASE)


def pinned_sklearn_version(requirements: Path) -> str | None:
    """Return the X of the ``scikit-learn==X`` line, or None if there is none."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            return match.group(1)
    return None


def check_sklearn_version() -> str:
    """Exit with status 1 unless the installed scikit-learn matches the pin."""
    try:
        import sklearn
    except ImportError:
        sys.exit(
            "error: scikit-learn is not installed. Install the pinned versions first, e.g.:\n"
            f"  pip install -r {REQUIREMENTS}"
        )

    if not REQUIREMENTS.is_file():
        sys.exit(f"error: {REQUIREMENTS} not found; it must pin scikit-learn==X")
    pinned = pinned_sklearn_version(REQUIREMENTS)
    if pinned is None:
        sys.exit(f"error: no 'scikit-learn==X' line in {REQUIREMENTS}")
    installed = sklearn.__version__
    if installed != pinned:
        sys.exit(
            f"error: scikit-learn {installed} is installed, but {REQUIREMENTS.relative_to(REPO_ROOT)} "
            f"pins scikit-learn=={pinned}.\n"
            "The pickle must be loaded by the same version that wrote it. Install the pinned "
            "versions first, e.g.:\n"
            f"  pip install -r {REQUIREMENTS}"
        )
    return installed


def train():
    """Fit the pipeline on all iris rows and return (model, accuracy on those rows)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    virginica = list(iris.target_names).index("virginica")
    X = iris.data
    y = (iris.target == virginica).astype(int)  # 1 = virginica, 0 = anything else

    model = Pipeline(
        [
            ("scaler", StandardScaler()),
            ("clf", LogisticRegression(max_iter=1000, random_state=0)),
        ]
    )
    model.fit(X, y)
    return model, float(model.score(X, y))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        action="append",
        metavar="PATH",
        help="where to write the model (repeat for several copies); "
        "default: every iris_binary_model.pkl under exercises/ and solutions/",
    )
    args = parser.parse_args(argv)

    version = check_sklearn_version()

    import joblib
    import numpy as np

    model, accuracy = train()
    print(f"scikit-learn {version}: training accuracy on 150 rows = {accuracy:.4f}")

    probes = np.array([features for _, features in PROBES], dtype=float)
    predictions = model.predict(probes)
    probabilities = model.predict_proba(probes)[:, 1]
    for (name, features), pred, prob in zip(PROBES, predictions, probabilities):
        label = "virginica" if pred == 1 else "not virginica"
        print(f"  {name:<10} {features} -> {int(pred)} ({label}), P(virginica) = {prob:.4f}")

    outputs = [Path(p) for p in args.out] if args.out else DEFAULT_OUTPUTS
    for path in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, path)
        print(f"saved {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
