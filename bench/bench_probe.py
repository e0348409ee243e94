"""How much one HTTP request to a learner's app costs through the grader's probe container.

Compares, on the real engine, the attached stream the grader uses (one JSON line per request to
a long-lived agent) with an `exec` per request in the same helper container. A script to run by
hand, not a test: `.venv/bin/python bench/bench_probe.py --requests 50`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.engine.session import Session  # noqa: E402

from grader.engine.connect import connect

SERVER = ["python3", "-m", "http.server", "5001"]


def main() -> int:
    """Time N requests each way; print medians in milliseconds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    client = connect()
    image = client.images.get("python:3.11-slim").id
    with Session(client, "bench-probe") as session:
        session.open_network()
        running = session.start(image, 5001, command=SERVER)
        assert session.wait_ready(running, "/", 30).ready
        stream = []
        for _ in range(args.requests):
            started = time.perf_counter()
            assert running.request("GET", "/", timeout=5.0).status_code == 200
            stream.append(time.perf_counter() - started)
        probe_id = next(c.id for c in session.containers if c.id != running.id)
        fetch = f"import urllib.request; urllib.request.urlopen('http://{running.address}:5001/', timeout=5).read()"
        execs = []
        for _ in range(args.requests):
            started = time.perf_counter()
            exec_id = client.api.exec_create(probe_id, ["python3", "-I", "-S", "-c", fetch])["Id"]
            client.api.exec_start(exec_id)
            assert client.api.exec_inspect(exec_id)["ExitCode"] == 0
            execs.append(time.perf_counter() - started)
    print(f"attached stream, one JSON line per request: median {statistics.median(stream) * 1000:.1f} ms over {len(stream)}")
    print(f"an exec per request:                        median {statistics.median(execs) * 1000:.1f} ms over {len(execs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
