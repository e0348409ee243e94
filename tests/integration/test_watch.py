"""`--watch` on the real engine: a save regrades (static checks at once), Ctrl-C exits 130 and leaves nothing."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.usefixtures("no_leftovers")


class Lines:
    """The lines a process prints, read in a thread so waiting can time out."""

    def __init__(self, stream):
        self.queue: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def wait_for(self, predicate, limit: float) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        pytest.fail("never saw the expected line; output was:\n" + "\n".join(self.seen[-60:]))


def test_a_save_regrades_and_ctrl_c_exits_130(repo, tmp_path, engine):
    folder = tmp_path / "work"
    shutil.copytree(repo / "solutions" / "exercise-01", folder)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LABKIT_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", "exercise-01", "--path", str(folder), "--watch", "--lang", "en"],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    errors = Lines(process.stderr)
    try:
        out = Lines(process.stdout)
        out.wait_for(lambda line: line == "Score: 100/100", limit=300)
        errors.wait_for(lambda line: line.startswith("watching "), limit=30)

        dockerfile = folder / "Dockerfile"
        saved = time.monotonic()
        dockerfile.write_text(dockerfile.read_text().replace('CMD ["python", "flask_api_v2.py"]', "CMD python flask_api_v2.py"))
        out.wait_for(lambda line: "changed: Dockerfile" in line, limit=10)
        static_line = out.wait_for(lambda line: line.startswith("FAIL") and "exec (JSON) form" in line, limit=10)
        static_seconds = time.monotonic() - saved
        assert "Dockerfile:" in static_line and "shell form" in static_line
        assert static_seconds < 3.0, f"static feedback took {static_seconds:.2f} s"  # about 0.4 s; CI machines are busy

        # The full grading follows: the shell form loses its three checks (static, hadolint, image).
        out.wait_for(lambda line: line.startswith("Score: "), limit=300)
        assert out.seen[-1] == "Score: 85/100"
        errors.wait_for(lambda line: line.startswith("watching "), limit=30)
        print(f"static feedback {static_seconds:.2f} s after the save")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 130
    errors.wait_for(lambda line: line.startswith("interrupted"), limit=10)
    assert not any("Traceback" in line for line in errors.seen)
