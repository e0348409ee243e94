"""A small Flask API that serves the binary iris model.

The model (iris_binary_model.pkl, made by scripts/train_iris_model.py) tells
whether a flower is an Iris virginica from four measurements in centimetres:
sepal length, sepal width, petal length, petal width.

Endpoints:
    GET  /health        -> {"status": "ok"}
    POST /predict_iris  with {"features": [f1, f2, f3, f4]}
                        -> {"prediction": 0 or 1, "label": ..., "probability": ...}

Run it with `python flask_api_v2.py`; it listens on port 5001.
"""

import json
import math
import os
import signal
import sys

import joblib
import numpy as np
from flask import Flask, jsonify, request

# The model file sits next to this script. Set MODEL_PATH to load another one.
HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_PATH = os.environ.get("MODEL_PATH", os.path.join(HERE, "iris_binary_model.pkl"))

N_FEATURES = 4
LABELS = {0: "not virginica", 1: "virginica"}
EXPECTED = 'expected a JSON object like {"features": [5.1, 3.5, 1.4, 0.2]}'

# Load the model once, when the app starts, not on every request.
model = joblib.load(MODEL_PATH)

app = Flask(__name__)


def bad_request(message):
    """Return a 400 answer whose JSON body explains what went wrong."""
    return jsonify({"error": message}), 400


def show(value):
    """A short JSON form of a bad value, for error messages."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_features(payload):
    """Check the request body. Return (features, None) or (None, error message)."""
    if not isinstance(payload, dict):
        return None, (
            "request body must be a JSON object sent with "
            "'Content-Type: application/json'; " + EXPECTED
        )
    if "features" not in payload:
        return None, "missing key 'features'; " + EXPECTED
    features = payload["features"]
    if not isinstance(features, list):
        return None, "'features' must be a list of 4 numbers; " + EXPECTED
    if len(features) != N_FEATURES:
        return None, f"'features' must hold exactly {N_FEATURES} numbers, got {len(features)}"
    numbers = []
    for i, value in enumerate(features):
        # bool is a subclass of int in Python, so reject it on purpose.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"features[{i}] must be a number, got {show(value)}"
        try:
            number = float(value)
        except OverflowError:  # an integer too big to be a float
            number = math.inf
        if not math.isfinite(number):
            return None, f"features[{i}] must be a finite number, got {show(value)}"
        numbers.append(number)
    return numbers, None


@app.route("/health", methods=["GET"])
def health():
    return jsonify({"status": "ok"})


@app.route("/predict_iris", methods=["POST"])
def predict_iris():
    # silent=True: a body that is not valid JSON gives None instead of an error page.
    payload = request.get_json(silent=True)
    features, error = parse_features(payload)
    if error:
        return bad_request(error)

    row = np.array([features])  # the model expects a 2-D array: one row, four columns
    prediction = int(model.predict(row)[0])
    probability = float(model.predict_proba(row)[0][1])  # probability of class 1
    return jsonify(
        {
            "prediction": prediction,
            "label": LABELS[prediction],
            "probability": round(probability, 4),
        }
    )


if __name__ == "__main__":
    # Inside a container the host must be 0.0.0.0 (every network interface).
    # A loopback-only address would accept connections from inside the
    # container alone, so the port published with `docker run -p` could not reach it.
    # In a container this process is PID 1, and PID 1 ignores SIGTERM unless
    # the program handles it. Handle it, so that `docker stop` ends the app at once.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print("Serving iris model on 0.0.0.0:5001", flush=True)
    app.run(host="0.0.0.0", port=5001)
