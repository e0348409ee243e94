"""Train the binary iris model inside the image build (the builder stage runs this).

It fits the same model as scripts/train_iris_model.py at the repository root: a
StandardScaler followed by a LogisticRegression(max_iter=1000, random_state=0), on all
150 rows of the iris data set that ships with scikit-learn (nothing is downloaded).
The answer is 1 for an Iris virginica and 0 for the two other species.

    python train.py                     # writes iris_binary_model.pkl here
    python train.py --out /tmp/m.pkl    # writes it elsewhere

The model is saved with joblib. Load it with the SAME scikit-learn version that ran
this script: the version is printed below, and it is what requirements.txt pins.
"""

import argparse

import joblib
import numpy as np
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

# A few flowers whose answers are printed after training, as a quick look.
PROBES = {
    "setosa": [5.1, 3.5, 1.4, 0.2],
    "versicolor": [5.9, 3.0, 4.2, 1.5],
    "virginica": [6.7, 3.0, 5.2, 2.3],
}


def train():
    """Fit the pipeline on every iris row; return it with its accuracy on those rows."""
    iris = load_iris()
    is_virginica = (iris.target == list(iris.target_names).index("virginica")).astype(int)
    model = Pipeline(
        [
            ("scaler", StandardScaler()),
            ("clf", LogisticRegression(max_iter=1000, random_state=0)),
        ]
    )
    model.fit(iris.data, is_virginica)
    return model, model.score(iris.data, is_virginica)


def main():
    parser = argparse.ArgumentParser(description="Train the binary iris model and save it with joblib.")
    parser.add_argument("--out", default="iris_binary_model.pkl", help="where to write the model")
    args = parser.parse_args()

    model, accuracy = train()
    print(f"trained with scikit-learn {sklearn.__version__}: accuracy {accuracy:.4f} on 150 rows")
    answers = model.predict(np.array(list(PROBES.values())))
    for (name, features), answer in zip(PROBES.items(), answers):
        print(f"  {name:<10} {features} -> {int(answer)}")
    joblib.dump(model, args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
