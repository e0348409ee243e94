#!/usr/bin/env python3
"""Benchmark: how much slower is the grader than doing the same work by hand with the docker CLI?

    .venv/bin/python bench/bench_grade.py [--runs N] [--cold] [--cold-runs M]
                                          [--exercise exercise-01] [--path solutions/exercise-01] [--json FILE]

A = `python -m grader EXERCISE --path PATH` (a subprocess; exit code 0 is required).
B = the bare docker CLI: build (classic builder), run on a random 127.0.0.1 port, poll
    POST /predict_iris until HTTP 200, `docker rm -f`, `docker rmi --no-prune` (the cache stays).
Rounds are interleaved (A then B in every round) after one untimed warm-up of each; the
figures are the median and minimum of the rounds. `--cold` adds rounds where the pip layer is
rebuilt (a temp copy of the folder with a unique `bench_nonce.txt`).

Also measured: the grader's time to first feedback (its first progress line on stderr) and the
time for a fresh interpreter to produce `grading.static_report` (the static checks alone).

This is a script, not a test. It cleans up on every path, Ctrl-C included: containers and
images labelled labkit.bench=1, the tag, the cold rounds' cache layers, temp folders, and
finally `python -m grader clean`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import queue
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LABEL = "labkit.bench=1"
TAG = "labkit-bench:tmp"
NONCE_FILE = "bench_nonce.txt"
PREDICT_PATH = "/predict_iris"
PREDICT_BODY = json.dumps({"features": [5.1, 3.5, 1.4, 0.2]}).encode()
READY_TIMEOUT = 60.0
POLL_INTERVAL = 0.05
GRADER_TIMEOUT = 900.0
STAGE_LINE = re.compile(r"^\[\s*([\d.]+)s\] (.*)$")
SNAPSHOT_SKIP = {"grader", "labs.yaml", ".git", ".venv", "bench", "__pycache__"}
BUILD_SUBLINE = "building:"  # `building: step 3/6: ...` lines follow the "building the image" stage

STATIC_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
import grader.checks
from grader import spec, grading
t1 = time.perf_counter()
exercise = spec.find_exercise(spec.load(), sys.argv[1])
t2 = time.perf_counter()
report, ctx = grading.static_report(exercise, Path(sys.argv[2]))
t3 = time.perf_counter()
print(json.dumps({
    "import_s": t1 - t0, "spec_load_s": t2 - t1, "static_report_s": t3 - t2,
    "checks": {r.spec.id: [r.status.value, round(r.duration, 4)] for r in report.results},
}))
"""


class BenchError(Exception):
    """Something the benchmark cannot go on with (the grader lost points, the app never answered, ...)."""


# --------------------------------------------------------------------------------------------
# small helpers


def docker(*args: str, check: bool = True, env: dict | None = None, timeout: float = 600.0) -> subprocess.CompletedProcess:
    """Run the docker CLI; raise BenchError with its stderr when `check` and it fails."""
    completed = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and completed.returncode != 0:
        raise BenchError(f"`docker {' '.join(args)}` failed ({completed.returncode}): {completed.stderr.strip()[:400]}")
    return completed


def quietly(action) -> None:
    try:
        action()
    except Exception:
        pass


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(seconds: float | None, width: int = 7) -> str:
    return f"{seconds:{width}.2f}" if seconds is not None else " " * (width - 1) + "-"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


# --------------------------------------------------------------------------------------------
# A: the grader


@dataclass
class GraderRun:
    wall: float
    returncode: int
    stderr_lines: list[tuple[float, str]]  # (seconds since Popen, line) as they arrived
    stdout: str
    stopped_early: bool = False

    def stage_times(self) -> list[tuple[str, float]]:
        """(stage, seconds since process start) for each progress stage the grader printed, in order.

        A stage is a `[  1.2s] text` line; `building: step ...` sub-lines belong to the build stage."""
        seen: list[tuple[str, float]] = []
        for at, line in self.stderr_lines:
            match = STAGE_LINE.match(line)
            if not match or match.group(2).startswith(BUILD_SUBLINE):
                continue
            stage = re.sub(r"\d+", "N", match.group(2).split(":")[0]).strip()
            if stage not in (name for name, _ in seen):
                seen.append((stage, at))
        return seen

    def phases(self) -> dict[str, float]:
        """Time from each progress line to the next, from process start to process exit."""
        marks = [("process start", 0.0)] + self.stage_times() + [("exit", self.wall)]
        return {f"{name} -> {following}": next_at - at for (name, at), (following, next_at) in zip(marks, marks[1:])}

    def facts(self) -> dict[str, float]:
        text = " ".join(self.stdout.split())  # the report wraps long lines
        match = re.search(r"Measured: (.*?); graded in ([\d.]+) s", text)
        if not match:
            return {}
        facts = {"graded_in_s": float(match.group(2))}
        for item in re.split(r",\s*", match.group(1)):
            key, _, value = item.partition("=")
            try:
                facts[key] = float(value)
            except ValueError:
                pass
        return facts


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.exercise = args.exercise
        given = Path(args.path)
        self.path = (given if given.is_dir() else ROOT / given).resolve()  # relative to the cwd, else the repository
        self.temp_dirs: list[Path] = []
        try:
            self.code = self._snapshot()
            self.port = self._exercise_port()
        except BaseException:
            self.remove_temp_dirs()
            raise
        self.classic_env = dict(os.environ, DOCKER_BUILDKIT="0")
        self.current: subprocess.Popen | None = None  # the grader process running now, if any
        self.cold_pending: list[tuple[str, set[str]]] = []  # (nonce, dangling images before) to clean
        self.cold_layers_removed = 0
        self.results: dict = {"A": [], "B": [], "A_cold": [], "B_cold": [], "first_line": [], "static_report": []}

    def remove_temp_dirs(self) -> None:
        for folder in self.temp_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self.temp_dirs.clear()

    def _snapshot(self) -> Path:
        """A copy of grader/ and labs.yaml taken now; every grader run starts from it (cwd), so all
        rounds measure the same code even if someone edits the checkout during the benchmark."""
        folder = Path(tempfile.mkdtemp(prefix="labkit-bench-code-"))
        self.temp_dirs.append(folder)
        shutil.copytree(ROOT / "grader", folder / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy2(ROOT / "labs.yaml", folder / "labs.yaml")
        for entry in ROOT.iterdir():  # labs.yaml may name files beside it (e.g. a reference solution)
            if entry.name not in SNAPSHOT_SKIP and not entry.name.endswith(".egg-info"):
                (folder / entry.name).symlink_to(entry)
        # Warm means warm caches, Python's bytecode among them: compiled once here, as any machine
        # where Python may write beside its sources has it after the first run. Where
        # PYTHONDONTWRITEBYTECODE is set (this sandbox sets it) every run would otherwise compile
        # the grader again: about 0.1 s of a 2.5 s grading, measured here.
        compiled = subprocess.run([PYTHON, "-m", "compileall", "-q", str(folder / "grader")], capture_output=True, text=True, timeout=120)
        if compiled.returncode != 0:
            raise BenchError(f"compileall failed on the snapshot: {(compiled.stdout + compiled.stderr).strip()[-300:]}")
        where = subprocess.run([PYTHON, "-c", "import grader; print(grader.__file__)"], cwd=folder,
                               capture_output=True, text=True, timeout=60)
        if not where.stdout.strip().startswith(str(folder)):
            raise BenchError(f"`python -m grader` run from {folder} does not import the snapshot: "
                             f"{(where.stdout + where.stderr).strip()[-300:]}")
        return folder

    def _exercise_port(self) -> int:
        sys.path.insert(0, str(self.code))
        import grader.checks  # noqa: F401  (the check families register their kinds)
        from grader import grading, spec  # noqa: F401  (the bench runs with the project's interpreter; grading gives spec its check kinds)

        exercise = spec.find_exercise(spec.load(self.code / "labs.yaml"), self.exercise)
        if exercise is None:
            raise BenchError(f"unknown exercise {self.exercise!r} in labs.yaml")
        return exercise.port

    # -- A ------------------------------------------------------------------------------------

    def run_grader(self, folder: Path, stop_at: "re.Pattern[str] | None" = None) -> GraderRun:
        """Run the grader as a subprocess, timestamping each stderr line as it arrives.

        With `stop_at`, send SIGINT as soon as a stderr line matches it (the grader cleans up on
        SIGINT) and wait for the process to end."""
        lines: "queue.Queue[tuple[float, str] | None]" = queue.Queue()
        stdout_parts: list[str] = []
        started = time.perf_counter()
        proc = subprocess.Popen(
            [PYTHON, "-m", "grader", self.exercise, "--path", str(folder), "--builder", self.args.builder],
            cwd=self.code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        self.current = proc

        def read_stderr() -> None:
            for line in proc.stderr:
                lines.put((time.perf_counter() - started, line.rstrip("\n")))
            lines.put(None)

        def read_stdout() -> None:
            stdout_parts.append(proc.stdout.read())

        readers = [threading.Thread(target=read_stderr, daemon=True), threading.Thread(target=read_stdout, daemon=True)]
        for reader in readers:
            reader.start()
        stderr_lines: list[tuple[float, str]] = []
        stopped = False
        deadline = started + GRADER_TIMEOUT
        while True:
            try:
                item = lines.get(timeout=max(deadline - time.perf_counter(), 0.01))
            except queue.Empty:
                raise BenchError(f"the grader did not finish within {GRADER_TIMEOUT:.0f} s")
            if item is None:
                break
            stderr_lines.append(item)
            if stop_at and not stopped and stop_at.match(item[1]):
                stopped = True
                proc.send_signal(signal.SIGINT)
        returncode = proc.wait(timeout=120)
        wall = time.perf_counter() - started
        for reader in readers:
            reader.join(timeout=10)
        self.current = None
        return GraderRun(wall, returncode, stderr_lines, "".join(stdout_parts), stopped)

    def grade(self, folder: Path) -> GraderRun:
        run = self.run_grader(folder)
        if run.returncode != 0:
            tail = "\n".join(line for _, line in run.stderr_lines[-10:])
            report_tail = "\n".join(run.stdout.strip().splitlines()[-6:])
            raise BenchError(
                f"the grader exited with code {run.returncode} on {folder} (0 = full marks is required "
                f"to compare like with like).\n--- its stderr (tail) ---\n{tail}\n--- its report (tail) ---\n{report_tail}"
            )
        return run

    def first_feedback(self) -> dict:
        """Process start -> the grader's first progress line on stderr (`[  0.0s] static checks`); then SIGINT and wait."""
        run = self.run_grader(self.path, stop_at=STAGE_LINE)
        first = next(((at, line) for at, line in run.stderr_lines if STAGE_LINE.match(line)), None)
        if first is None:
            raise BenchError(f"the grader printed no progress line on stderr (exit code {run.returncode})")
        return {"first_line_s": first[0], "first_line": first[1], "exit_after_sigint_s": run.wall, "returncode": run.returncode}

    def static_report(self) -> dict:
        """A fresh interpreter importing the grader and running grading.static_report, start to exit."""
        started = time.perf_counter()
        completed = subprocess.run(
            [PYTHON, "-c", STATIC_SNIPPET, self.exercise, str(self.path)],
            cwd=self.code, capture_output=True, text=True, timeout=120,
        )
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise BenchError(f"the static_report snippet failed ({completed.returncode}): {completed.stderr.strip()[-600:]}")
        inner = json.loads(completed.stdout.strip().splitlines()[-1])
        return {"process_s": wall, **inner}

    # -- B ------------------------------------------------------------------------------------

    def _buildkit_build(self, folder: Path) -> None:
        sys.path.insert(0, str(self.code))
        from grader.engine.buildkit import find_buildkit_cli

        cli = find_buildkit_cli()
        if cli is None:
            raise BenchError("--builder buildkit: no docker CLI with BuildKit here")
        completed = subprocess.run([*cli.command, "-q", "--label", LABEL, "-t", TAG, str(folder)], capture_output=True,
                                   text=True, env=dict(os.environ, **dict(cli.environment)), timeout=600)
        if completed.returncode != 0:
            raise BenchError(f"the BuildKit build failed: {completed.stderr.strip()[-400:]}")

    def by_hand(self, folder: Path) -> dict:
        """docker build, run, poll until HTTP 200, rm -f, rmi --no-prune; wall time and its phases."""
        phases: dict[str, float] = {}
        started = mark = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            phases[name] = now - mark
            mark = now

        if self.args.builder == "buildkit":  # the learner's BuildKit build, with the CLI the grader would use
            self._buildkit_build(folder)
        else:
            docker("build", "-q", "--label", LABEL, "-t", TAG, str(folder), env=self.classic_env)
        lap("build")
        container = docker("run", "-d", "-p", f"127.0.0.1::{self.port}", "--label", LABEL, TAG).stdout.strip()
        try:
            lap("run -d")
            published = docker("port", container, f"{self.port}/tcp").stdout.strip().splitlines()
            host, _, port = published[0].rpartition(":")
            if host != "127.0.0.1":
                raise BenchError(f"the container's port is published on {host!r}, not 127.0.0.1: refusing to send traffic")
            lap("port")
            attempts = self._poll_ready(int(port), container)
            lap("until HTTP 200")
        finally:
            docker("rm", "-f", container, check=False)
        lap("rm -f")
        docker("rmi", "--no-prune", TAG)
        lap("rmi --no-prune")
        return {"wall": time.perf_counter() - started, "phases": phases, "poll_attempts": attempts}

    def _poll_ready(self, port: int, container: str) -> int:
        """POST the iris body to 127.0.0.1:PORT every 50 ms until HTTP 200; the number of attempts."""
        started = time.perf_counter()
        attempts, last = 0, "no attempt"
        while time.perf_counter() - started < READY_TIMEOUT:
            attempts += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)  # loopback only, never a proxy
            try:
                conn.request("POST", PREDICT_PATH, body=PREDICT_BODY, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    return attempts
                last = f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as error:
                last = f"{type(error).__name__}"
            finally:
                conn.close()
            time.sleep(POLL_INTERVAL)
        state = docker("inspect", "-f", "{{.State.Status}} (exit {{.State.ExitCode}})", container, check=False).stdout.strip()
        logs = docker("logs", "--tail", "10", container, check=False)
        raise BenchError(
            f"no HTTP 200 from POST {PREDICT_PATH} on 127.0.0.1:{port} within {READY_TIMEOUT:.0f} s "
            f"(last: {last}; container {state}).\n{(logs.stdout + logs.stderr).strip()}"
        )

    # -- cold rounds ----------------------------------------------------------------------------

    def cold_copy(self) -> tuple[Path, str]:
        """A temp copy of the submission with a unique file, so `COPY . /app` and pip are rebuilt."""
        folder = Path(tempfile.mkdtemp(prefix="labkit-bench-"))
        self.temp_dirs.append(folder)
        target = folder / self.path.name
        shutil.copytree(self.path, target, symlinks=True)
        nonce = secrets.token_hex(16)
        (target / NONCE_FILE).write_text(nonce + "\n")
        self.cold_pending.append((nonce, self._dangling()))
        return target, nonce

    @staticmethod
    def _dangling() -> set[str]:
        out = docker("images", "-q", "--no-trunc", "--filter", "dangling=true", check=False).stdout
        return set(out.split())

    def drop_cold_layers(self, patience: float = 30.0) -> None:
        """Remove the cache layers the cold rounds left (they hold a nonce nobody will build again).

        Only a dangling image new since the round began AND whose /app holds this round's nonce is
        removed, so another user's images on the same engine are never touched. After an interrupted
        build the engine may still hold the step's container for a moment: retry for `patience` s."""
        while self.cold_pending:
            nonce, before = self.cold_pending[-1]
            checked: dict[str, bool] = {}
            deadline = time.monotonic() + patience
            while True:
                mine = []
                for image in sorted(self._dangling() - before):
                    if image not in checked:
                        checked[image] = self._holds_nonce(image, nonce)
                    if checked[image]:
                        mine.append(image)
                failed = [image for image in mine if docker("rmi", image, check=False).returncode != 0]
                self.cold_layers_removed += len(mine) - len(failed)  # rmi also prunes their untagged parents
                if not failed or time.monotonic() > deadline:
                    break
                time.sleep(1.0)
            self.cold_pending.pop()

    def _holds_nonce(self, image: str, nonce: str) -> bool:
        workdir = docker("image", "inspect", "-f", "{{.Config.WorkingDir}}", image, check=False).stdout.strip() or "/app"
        found = docker("run", "--rm", "--network", "none", "--label", LABEL, "--entrypoint", "cat",
                       image, f"{workdir.rstrip('/')}/{NONCE_FILE}", check=False, timeout=60)
        return found.returncode == 0 and found.stdout.strip() == nonce

    # -- cleanup --------------------------------------------------------------------------------

    def cleanup(self, grader_clean: bool = True, final: bool = True) -> list[str]:
        """Remove everything the bench made; returns what is still left (should be nothing)."""
        proc = self.current
        if proc is not None and proc.poll() is None:
            # A Ctrl-C in a terminal already reached the grader (same process group); otherwise send one.
            quietly(lambda: proc.send_signal(signal.SIGINT))
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        containers = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
        if containers:
            docker("rm", "-f", *containers, check=False)
        docker("rmi", "--no-prune", TAG, check=False)
        images = docker("images", "-q", "--filter", f"label={LABEL}", check=False).stdout.split()
        if images:
            docker("rmi", "-f", "--no-prune", *sorted(set(images)), check=False)
        quietly(self.drop_cold_layers)
        if grader_clean:
            subprocess.run([PYTHON, "-m", "grader", "clean"], cwd=self.code if self.code.is_dir() else ROOT,
                           capture_output=True, text=True, timeout=300)
        if final:
            self.remove_temp_dirs()
        left = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
        left += docker("images", "-q", "--filter", f"label={LABEL}", check=False).stdout.split()
        return left


# --------------------------------------------------------------------------------------------
# the run


def git(*args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return completed.stdout.strip() if completed.returncode == 0 else ""


def engine_version() -> str:
    completed = docker("version", "--format", "{{.Server.Version}}", check=False)
    if completed.returncode != 0:
        raise BenchError(f"no Docker engine answers the docker CLI: {completed.stderr.strip()[:300]}")
    return completed.stdout.strip()


def header(args, engine: str, bench: Bench) -> dict:
    info = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "engine": engine,
        "python": platform.python_version(),
        "python_executable": PYTHON,
        "machine": f"{platform.system()} {platform.machine()}",
        "cores": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "runs": args.runs,
        "cold_runs": args.cold_runs if args.cold else 0,
        "exercise": args.exercise,
        "path": str(bench.path),
        "port": bench.port,
        "git_head": git("rev-parse", "--short", "HEAD"),
        "grader_dirty": bool(git("status", "--porcelain", "--", "grader", "labs.yaml")),
    }
    print("labkit grader benchmark: A = `python -m grader` vs B = the same work with the bare docker CLI")
    print(f"  date {info['date']}   Docker engine {engine}   Python {info['python']}   {info['machine']}, {info['cores']} cores"
          f"   load {' '.join(f'{x:.2f}' for x in info['loadavg_at_start'] or [])}")
    print(f"  {args.exercise} at {bench.path}   N = {args.runs} warm rounds"
          + (f" + {args.cold_runs} cold rounds" if args.cold else "") + " (A then B in each round, after one untimed warm-up of each)")
    dirty = " + uncommitted changes" if info["grader_dirty"] else ""
    print(f"  grader code: snapshot of {ROOT / 'grader'} (git {info['git_head'] or '?'}{dirty}) taken at start, run from {bench.code}")
    print("  bytecode: compiled into the snapshot at start (PYTHONDONTWRITEBYTECODE is "
          + ("set here" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "not set") + ")")
    print("  Note: this machine is noisy (shared engine, other jobs); figures are medians (and minima) of interleaved runs,")
    print("  compare ratios rather than absolute seconds.")
    print(flush=True)
    return info


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="warm rounds (default 5)")
    parser.add_argument("--cold", action="store_true", help="also measure cold-cache rounds (pip layer rebuilt)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold rounds with --cold (default 3; ~15-30 s each side)")
    parser.add_argument("--exercise", default="exercise-01")
    parser.add_argument("--path", default="solutions/exercise-01", help="folder to grade (must get full marks)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every sample and figure as JSON")
    parser.add_argument("--builder", choices=("classic", "buildkit"), default="classic",
                        help="the builder of both sides: the grader's --builder, and the CLI build of the bare side")
    parser.add_argument(
        "--no-grader-clean", action="store_true",
        help="skip the final `python -m grader clean`: it removes EVERY grader-labelled container and image on the "
             "engine, including those of a grading another user runs at the same time on a shared engine",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.cold_runs < 1:
        parser.error("--runs and --cold-runs must be at least 1")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    bench: Bench | None = None
    info: dict = {}
    status = 0
    try:
        try:
            engine = engine_version()
            bench = Bench(args)
            if not (bench.path / "Dockerfile").is_file():
                raise BenchError(f"no Dockerfile in {bench.path}")
            bench.cleanup(grader_clean=False, final=False)  # the bench's own leftovers of an earlier, killed run
            info = header(args, engine, bench)
            measure(bench, args)
        except BenchError as error:
            print(f"\nbench aborted: {error}", file=sys.stderr)
            status = 2
        except KeyboardInterrupt:
            print("\nbench interrupted: cleaning up", file=sys.stderr)
            status = 130
        if bench is not None and bench.results["A"] and bench.results["B"]:
            if status:
                print("\nPARTIAL figures: the rounds that finished before the run stopped")
            summary = summarise(bench.results)
            print_tables(summary)
            if args.json:
                write_json(args.json, {**info, "complete": status == 0}, summary)
                print(f"\nwrote {args.json}")
    except KeyboardInterrupt:
        status = 130
    finally:  # every path, an unexpected exception included
        if bench is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            left = bench.cleanup(grader_clean=not args.no_grader_clean)
            cold = f", {bench.cold_layers_removed} cold-round cache image(s) removed" if bench.cold_layers_removed else ""
            if left:
                print(f"cleanup: LEFT BEHIND {left}", file=sys.stderr)
                status = status or 3
            else:
                ran = "skipped (--no-grader-clean)" if args.no_grader_clean else "ran"
                others = docker("ps", "-aq", "--filter", "label=org.labkit.session", check=False).stdout.split()
                note = f" ({len(others)} grader container(s) of another process now on this engine)" if others else ""
                print(f"cleanup: no container/image labelled {LABEL} left{cold}; temp folders removed; "
                      f"`grader clean` {ran}{note}", file=sys.stderr)
    return status


def measure(bench: Bench, args) -> None:
    """Fill bench.results round by round (so an aborted run still has what it measured)."""
    results = bench.results
    progress("warm-up A (untimed)")
    bench.grade(bench.path)
    progress("warm-up B (untimed)")
    bench.by_hand(bench.path)
    for round_no in range(1, args.runs + 1):
        a = bench.grade(bench.path)
        b = bench.by_hand(bench.path)
        first = bench.first_feedback()
        static = bench.static_report()
        results["A"].append({"wall": a.wall, "phases": a.phases(), "facts": a.facts(),
                             "stderr": [[round(at, 3), line] for at, line in a.stderr_lines]})
        results["B"].append(b)
        results["first_line"].append(first)
        results["static_report"].append(static)
        progress(f"round {round_no}/{args.runs}: A {a.wall:.2f} s, B {b['wall']:.2f} s, "
                 f"first line {first['first_line_s']:.2f} s, static_report {static['process_s']:.2f} s")
    if args.cold:
        for round_no in range(1, args.cold_runs + 1):
            folder, _ = bench.cold_copy()
            a = bench.grade(folder)
            bench.drop_cold_layers()  # untimed
            folder, _ = bench.cold_copy()
            b = bench.by_hand(folder)
            bench.drop_cold_layers()
            results["A_cold"].append({"wall": a.wall, "phases": a.phases(), "facts": a.facts(),
                                      "stderr": [[round(at, 3), line] for at, line in a.stderr_lines]})
            results["B_cold"].append(b)
            progress(f"cold round {round_no}/{args.cold_runs}: A {a.wall:.2f} s, B {b['wall']:.2f} s")


def summarise(results: dict) -> dict:
    summary = {}
    for key in ("A", "B", "A_cold", "B_cold"):
        walls = [sample["wall"] for sample in results[key]]
        summary[key] = {"median": med(walls), "min": min(walls) if walls else None, "samples": walls}
        names = list(results[key][0]["phases"]) if results[key] else []
        summary[key]["phase_medians"] = {
            name: med([s["phases"][name] for s in results[key] if name in s["phases"]]) for name in names
        }
    summary["ratio_warm"] = ratio(summary["A"]["median"], summary["B"]["median"])
    summary["ratio_cold"] = ratio(summary["A_cold"]["median"], summary["B_cold"]["median"])
    # A and B of one round ran back to back, so their ratio cancels most of the machine's drift.
    paired = [a["wall"] / b["wall"] for a, b in zip(results["A"], results["B"]) if b["wall"]]
    summary["ratio_warm_paired"] = {"median": med(paired), "samples": paired}
    firsts = [f["first_line_s"] for f in results["first_line"]]
    statics = [s["process_s"] for s in results["static_report"]]
    summary["first_line"] = {"median": med(firsts), "min": min(firsts, default=None), "samples": firsts}
    summary["static_report"] = {
        "median": med(statics), "min": min(statics, default=None), "samples": statics,
        "import_median": med([s["import_s"] for s in results["static_report"]]),
        "spec_load_median": med([s["spec_load_s"] for s in results["static_report"]]),
        "static_checks_median": med([s["static_report_s"] for s in results["static_report"]]),
        "check_medians": {
            check: med([s["checks"][check][1] for s in results["static_report"]])
            for check in (results["static_report"][0]["checks"] if results["static_report"] else {})
        },
    }
    facts = {}
    for key in ("A", "A_cold"):
        names = {n for s in results[key] for n in s["facts"]}
        facts[key] = {n: med([s["facts"][n] for s in results[key] if n in s["facts"]]) for n in sorted(names)}
    summary["grader_facts_medians"] = facts
    summary["raw"] = results
    return summary


def print_tables(s: dict) -> None:
    def row(label: str, entry: dict) -> None:
        samples = " ".join(f"{x:.2f}" for x in entry["samples"])
        print(f"  {label:<38} {fmt(entry['median'])} {fmt(entry['min'])}   [{samples}]")

    print("\nwall time, seconds                       median     min   samples")
    row("A  grader, warm cache", s["A"])
    row("B  docker CLI by hand, warm cache", s["B"])
    if s["ratio_warm"]:
        print(f"  {'A/B (median/median), warm':<38} {s['ratio_warm']:7.2f}x")
        paired = s["ratio_warm_paired"]
        samples = " ".join(f"{x:.2f}" for x in paired["samples"])
        print(f"  {'A/B per round (median), warm':<38} {paired['median']:7.2f}x   [{samples}]")
    if s["A_cold"]["samples"] and s["B_cold"]["samples"]:
        row("A_cold  grader, pip layer rebuilt", s["A_cold"])
        row("B_cold  docker CLI, pip layer rebuilt", s["B_cold"])
        print(f"  {'A_cold/B_cold (median/median)':<38} {s['ratio_cold']:7.2f}x")
    print("\ntime to first feedback, seconds          median     min   samples")
    sr = s["static_report"]
    if s["first_line"]["samples"]:
        row("grader: start -> first progress line", s["first_line"])
    if sr["samples"]:
        row("static_report snippet: start -> exit", sr)
        checks = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in sr["check_medians"].items())
        print(f"    of which (medians): import grader {sr['import_median']:.2f} s, labs.yaml {sr['spec_load_median']:.3f} s, "
              f"static checks {sr['static_checks_median']:.3f} s ({checks})")

    for key, title in (("A", "A warm"), ("A_cold", "A cold")):
        if not s[key]["samples"]:
            continue
        print(f"\n{title}: where the grader's time goes (median seconds between its stderr progress lines)")
        for name, value in s[key]["phase_medians"].items():
            print(f"  {name:<62} {fmt(value)}")
        facts = s["grader_facts_medians"][key]
        if facts:
            print("  grader's own figures (medians): " + ", ".join(f"{k}={v:g}" for k, v in facts.items()))
    for key, title in (("B", "B warm"), ("B_cold", "B cold")):
        if not s[key]["samples"]:
            continue
        phases = ", ".join(f"{name} {value:.2f}" for name, value in s[key]["phase_medians"].items())
        print(f"\n{title} phases (median seconds): {phases}")


def write_json(path: Path, info: dict, summary: dict) -> None:
    document = {**info, **summary}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
