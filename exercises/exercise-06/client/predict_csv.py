"""Send every row of a CSV of iris measurements to the prediction API; write the answers to a CSV.

Reads   /data/input.csv           columns: sepal_length, sepal_width, petal_length, petal_width
Calls   $API_URL/predict_iris     one POST per row, {"features": [four numbers]}
Writes  /output/predictions.csv   the same columns, plus `prediction` (0 or 1)

API_URL is the API's base address as this container sees it, e.g. http://HOST:PORT.
It must be set; there is no default. The client tries each request once: it does
not wait for the API, so it must be started only when the API is ready.
Exit code 0 when every row got a prediction, 1 otherwise (with a line saying why).
Only Python's standard library is used, so the image needs no pip install.
"""

import csv
import json
import os
import sys
import urllib.error
import urllib.request

INPUT_PATH = "/data/input.csv"
OUTPUT_PATH = "/output/predictions.csv"
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
TIMEOUT_SECONDS = 10


def fail(message):
    """Print why the client stops, and stop with exit code 1."""
    print(f"predict_csv.py: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def read_rows(path):
    """The input rows as lists of four floats."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                fail(f"{path} lacks the column(s) {', '.join(missing)}")
            return [[float(row[c]) for c in COLUMNS] for row in reader]
    except FileNotFoundError:
        fail(f"{path} does not exist")
    except ValueError as error:
        fail(f"{path} holds a value that is not a number ({error})")


def predict(url, features):
    """POST one row to the API; its prediction."""
    body = json.dumps({"features": features}).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.load(response)["prediction"]
    except urllib.error.HTTPError as error:
        fail(f"the API at {url} answered HTTP {error.code} for {features}: {error.read()[:200]!r}")
    except urllib.error.URLError as error:
        fail(f"cannot reach the API at {url}: {error.reason}")
    except (OSError, ValueError, KeyError) as error:
        fail(f"no usable answer from the API at {url}: {error!r}")


def main():
    base = os.environ.get("API_URL", "").strip()
    if not base:
        fail("API_URL is not set: give this container the API's address in its environment")
    url = base.rstrip("/") + "/predict_iris"
    rows = read_rows(INPUT_PATH)
    print(f"sending {len(rows)} rows to {url}", flush=True)
    predictions = [predict(url, features) for features in rows]
    # Everything is predicted before anything is written: a failure leaves no half-written file.
    os.makedirs(os.path.dirname(OUTPUT_PATH), exist_ok=True)
    with open(OUTPUT_PATH, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS + ["prediction"])
        for features, prediction in zip(rows, predictions):
            writer.writerow([f"{value:g}" for value in features] + [prediction])
    print(f"wrote {len(rows)} predictions to {OUTPUT_PATH}", flush=True)


if __name__ == "__main__":
    main()
