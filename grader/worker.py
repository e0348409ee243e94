"""One grading in its own process, both sides of the pipe.

Why a process and not a thread: a thread cannot be stopped, so a grading that outlives its time
limit (a hostile submission, a wedged engine call) would keep its slot and its containers; a process
can be told to clean up (SIGTERM unwinds every `with Session`) and, failing that, killed, after which
the parent sweeps everything whose session id starts with the prefix it gave the child
(LABKIT_SESSION_PREFIX). A crash of the grading code on a strange
submission ends the child, never the batch. The cost is ~0.3 s of interpreter start per grading.

The child (`python -m grader.worker ...`) writes one JSON object per line on stdout: `progress`,
`result` (each check as it ends), then `report` or `not_gradable`. Exit codes: 0 graded, 2 not gradable, 130 interrupted, anything else a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grader.codec import report_from_dict, report_to_dict, result_from_dict, result_to_dict
from grader.model import CheckResult, ExerciseSpec, Report, Status
from grader.rows import GRADED, GRADER_ERROR, NOT_GRADABLE, TIMED_OUT

INTERRUPTED = "interrupted"  # the batch itself is stopping: nothing is recorded
EXIT_NOT_GRADABLE, EXIT_INTERRUPTED = 2, 130
TERM_GRACE = 20.0  # seconds a child gets to remove its containers after SIGTERM before SIGKILL
# Texts that mean the machine, not the learner, failed: the grading is not charged.
INFRASTRUCTURE_MARKERS = ("no space left on device", "cannot allocate memory", "too many open files")


@dataclass
class Attempt:
    """What one try at grading a submission produced."""

    state: str
    report: Report | None = None
    message: str = ""
    duration: float = 0.0
    session_prefix: str = ""  # every Session of this grading has an id starting with it
    last_progress: str = ""


# -- parent side -------------------------------------------------------------------------------


class Children:
    """The grading processes alive right now, so an interrupted batch can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.stopping = threading.Event()

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)
        if self.stopping.is_set():
            _signal_group(proc, signal.SIGTERM)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop_all(self) -> None:
        """Ask every child to clean up and exit (each worker thread then waits for its own)."""
        self.stopping.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the child leads its own group: hadolint and friends go too
    except (ProcessLookupError, PermissionError):
        pass


def _stop(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM (the child removes its containers), then SIGKILL after `grace` seconds."""
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def grade_in_subprocess(
    exercise: ExerciseSpec,
    labs: Path,
    folder: Path,
    engine_url: str,
    *,
    time_limit: float,
    build_timeout: float,
    children: Children,
    session_prefix: str = "",
    on_progress: Callable[[str], None] = lambda text: None,
    term_grace: float = TERM_GRACE,
) -> Attempt:
    """Grade FOLDER in a child process on the engine at ENGINE_URL, within TIME_LIMIT seconds."""
    started = time.monotonic()
    package_root = str(Path(__file__).resolve().parent.parent)
    # Prefixes nest: a caller's own prefix (a test's) stays in front of this grading's.
    session_prefix = os.environ.get("LABKIT_SESSION_PREFIX", "") + session_prefix
    env = {
        **os.environ, "PYTHONUNBUFFERED": "1", "LABKIT_SESSION_PREFIX": session_prefix,
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
    }
    command = [
        sys.executable, "-m", "grader.worker", "--exercise", exercise.id, "--labs", str(labs), "--path", str(folder),
        "--engine", engine_url, "--build-timeout", str(build_timeout), "--parent-pid", str(os.getpid()),
    ]
    events: dict[str, Any] = {"results": [], "report": None, "not_gradable": None, "progress": ""}

    def read(stream) -> None:
        for line in stream:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")
            if kind == "progress":
                events["progress"] = str(event.get("text", ""))
                on_progress(events["progress"])
            elif kind == "result":
                events["results"].append(result_from_dict(event["result"]))
            elif kind == "report":
                events["report"] = report_from_dict(event["report"])
            elif kind == "not_gradable":
                events["not_gradable"] = str(event.get("message", ""))

    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env,
            start_new_session=True, text=True, encoding="utf-8", errors="replace",
        )
        children.add(proc)
        reader = threading.Thread(target=read, args=(proc.stdout,), name=f"worker-reader-{proc.pid}", daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(proc, term_grace)
        finally:
            if proc.poll() is None:  # an exception in this thread (KeyboardInterrupt): leave nothing running
                _stop(proc, term_grace)
            children.discard(proc)
        reader.join(timeout=10)
        stderr.seek(0)
        stderr_tail = stderr.read()[-4000:].decode("utf-8", "replace").strip()
    attempt = Attempt(state=GRADED, duration=time.monotonic() - started, session_prefix=session_prefix, last_progress=events["progress"])
    code = proc.returncode
    if timed_out:
        where = f" while {events['progress']}" if events["progress"] else ""
        attempt.state = TIMED_OUT
        attempt.message = (
            f"grading exceeded {time_limit:.0f} s{where}; the checks not reached are not scored. "
            "A step that never ends (a server started in RUN, a container that never answers) causes this"
        )
        attempt.report = partial_report(exercise, folder, events["results"], f"not checked: {attempt.message}", attempt.duration)
    elif children.stopping.is_set() and code != 0:
        attempt.state = INTERRUPTED
    elif code == EXIT_NOT_GRADABLE or events["not_gradable"] is not None:
        attempt.state = NOT_GRADABLE
        attempt.message = events["not_gradable"] or _last_line(stderr_tail) or "the grading process said the submission cannot be graded"
    elif code == 0 and events["report"] is not None:
        attempt.report = events["report"]
        infra = infrastructure_problem(attempt.report)
        if infra:
            attempt.state, attempt.message = NOT_GRADABLE, infra
    else:
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        attempt.state = GRADER_ERROR
        attempt.message = f"the grader crashed on this submission ({how}): {_last_line(stderr_tail) or 'no message'}"
        attempt.report = partial_report(exercise, folder, events["results"], f"not checked: {attempt.message}", attempt.duration)
    return attempt


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def partial_report(exercise: ExerciseSpec, folder: Path, results: list[CheckResult], reason: str, duration: float) -> Report:
    """The checks that ended, and every other check blocked with the reason, in the exercise's order."""
    done = {r.spec.id: r for r in results}
    ordered = [done.get(spec.id) or CheckResult(spec, Status.BLOCKED, reason) for spec in exercise.checks]
    return Report(exercise, folder, ordered, duration)


def infrastructure_problem(report: Report) -> str:
    """A failure the machine caused (out of disk) hiding in a report, or ''."""
    for result in report.results:
        if result.status is Status.PASSED:
            continue
        text = f"{result.message}\n{result.detail}".lower()
        for marker in INFRASTRUCTURE_MARKERS:
            if marker in text:
                return f"the engine failed, not the submission: `{marker}` during {result.spec.id}"
    return ""


# -- child side --------------------------------------------------------------------------------

_emit_lock = threading.Lock()


def _emit(event: str, **fields: Any) -> None:
    """Send one event to the batch; never raises, so a progress line cannot cut a cleanup short.

    A broken pipe means the batch is gone: its SIGTERM (PR_SET_PDEATHSIG) is what stops the
    grading, through the same cleanup as any stop; until then the events go nowhere.
    """
    line = json.dumps({"event": event, **fields}, ensure_ascii=False, default=str)
    with _emit_lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # ValueError: stdout already swapped and closed
            sys.stdout = open(os.devnull, "w", encoding="utf-8")


def _die_with_parent(parent_pid: int) -> None:
    """Get SIGTERM when the batch dies (Linux), so a killed batch leaves no grading running."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        return
    if parent_pid and os.getppid() != parent_pid:  # the parent died before prctl
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """The child: grade one folder and stream what happens as JSON lines."""
    parser = argparse.ArgumentParser(prog="python -m grader.worker", description="Grade one submission for `python -m grader batch`.")
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--labs", type=Path, required=True)
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--build-timeout", type=float, required=True)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    from grader.startup import importing, unwind_on_signals

    unwind_on_signals()  # before the imports: a batch stopping now still gets exit code 130
    with importing():
        import grader.checks  # noqa: F401  (the check families register their kinds)
        from grader import spec
        from grader.engine.pool import client_for
        from grader.grading import grade
        from grader.errors import EngineUnavailable

    try:
        _die_with_parent(args.parent_pid)
        exercise = spec.find_exercise(spec.load(args.labs), args.exercise)
        if exercise is None:
            _emit("not_gradable", message=f"unknown exercise {args.exercise} in {args.labs}")
            return EXIT_NOT_GRADABLE
        client = client_for(args.engine)
        report = grade(
            exercise, args.path.resolve(), build_timeout=args.build_timeout, client=client,
            progress=lambda text: _emit("progress", text=text),
            on_result=lambda result: _emit("result", result=result_to_dict(result)),
        )
        _emit("report", report=report_to_dict(report))
        return 0
    except EngineUnavailable as error:
        _emit("not_gradable", message=str(error))
        return EXIT_NOT_GRADABLE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    from grader.startup import leaving

    sys.exit(leaving(main()))
