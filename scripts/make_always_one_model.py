#!/usr/bin/env python3
"""Write grader/data/always_one_model.pkl: a model that answers 1 ("virginica") for every flower.

exercise-05's grader mounts it into the learner's container and points MODEL_PATH at it: when
the answers change from the real model's to all 1s, the app really loads the model that
MODEL_PATH names. It is a scikit-learn DummyClassifier (strategy "constant"), fitted on the
iris data so that it has the same 4 inputs and classes 0 and 1 as the real model, and saved
with joblib by the scikit-learn version pinned in exercises/exercise-01/requirements.txt
(the version the exercise images install), so it loads without a version warning.

Usage, in an environment built from that requirements file:

    python scripts/make_always_one_model.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from train_iris_model import REQUIREMENTS, check_sklearn_version  # noqa: E402  (the same version guard)

OUTPUT = REPO_ROOT / "grader" / "data" / "always_one_model.pkl"


def main() -> int:
    version = check_sklearn_version()

    import joblib
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier

    iris = load_iris()
    is_virginica = (iris.target == list(iris.target_names).index("virginica")).astype(int)
    model = DummyClassifier(strategy="constant", constant=1).fit(iris.data, is_virginica)
    answers = model.predict(np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
    assert list(answers) == [1, 1], answers
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, OUTPUT)
    print(f"scikit-learn {version} (pinned in {REQUIREMENTS.relative_to(REPO_ROOT)}): saved {OUTPUT.relative_to(REPO_ROOT)} ({OUTPUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
