"""Grade a folder of submissions: the grader version, bounded workers over engines, resume, retries, regrade diff.

Finding the learners' folders and hashing them is grader/submissions.py."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader import __version__
from grader.engine.pool import Engine
from grader.gradebook import Gradebook
from grader.grading_sources import PACKAGE, grading_sources
from grader.model import ExerciseSpec
from grader.outputs.common import points
from grader.rows import GRADED, GRADER_ERROR, NOT_GRADABLE, STATE_LABELS, Grading
from grader.submissions import Submission, discover
from grader.worker import INTERRUPTED, Attempt, Children, grade_in_subprocess, partial_report

DEFAULT_TIMEOUT = 900.0
MAX_ATTEMPTS = 3  # tries per submission and run when the infrastructure fails


# -- the grader version ----------------------------------------------------------------------


def grader_version(exercise: ExerciseSpec, package: Path = PACKAGE) -> str:
    """`0.1.0+<hash>`: the release plus a hash of the grading code and of the exercise's checks as configured.

    The code is every file that can change a grade, found from the grading's imports (grader/grading_sources.py):
    a renderer's change re-renders the outputs without regrading anyone.
    LABKIT_GRADER_VERSION, when set, stands for the code (a course pins a release, so that editing
    the grader's code does not regrade everyone; a change of checks or points still does).
    """
    digest = hashlib.sha256()
    pinned = os.environ.get("LABKIT_GRADER_VERSION")
    if pinned:
        digest.update(b"pinned\0" + pinned.encode())
    for file in () if pinned else grading_sources(package):
        digest.update(file.relative_to(package).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    checks = [{"id": c.id, "kind": c.kind, "points": c.points, "params": c.params} for c in exercise.checks]
    configured = {"id": exercise.id, "port": exercise.port, "network": exercise.network, "checks": checks}
    digest.update(json.dumps(configured, sort_keys=True, default=str).encode())
    return f"{__version__}+{digest.hexdigest()[:12]}"


# -- shards ------------------------------------------------------------------------------------


def parse_shard(text: str) -> tuple[int, int]:
    """`2/3` -> (2, 3); ValueError unless 1 <= K <= N."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit() or not 1 <= int(k) <= int(n):
        raise ValueError(f"--shard takes K/N with 1 <= K <= N, e.g. 1/2 (got `{text}`)")
    return int(k), int(n)


def shard_of(learner: str, count: int) -> int:
    """The shard (1..COUNT) a learner belongs to: a hash of the name alone, so it never depends on who
    else is in the class, on the machine or on the order folders are listed."""
    return int.from_bytes(hashlib.sha256(learner.encode("utf-8", "surrogateescape")).digest()[:8], "big") % count + 1


# -- regrade diff ------------------------------------------------------------------------------


@dataclass
class Change:
    """How a learner's new grading differs from the previous one."""

    learner: str
    old_score: float | None
    new_score: float | None
    checks: list[tuple[str, str, str, float]]  # (check id, old status, new status, points gained or lost)

    def line(self) -> str:
        """`alice: 75 -> 85 (+10): expose-port failed -> passed (+10)`."""
        old = "—" if self.old_score is None else points(self.old_score)
        new = "—" if self.new_score is None else points(self.new_score)
        delta = ""
        if self.old_score is not None and self.new_score is not None:
            difference = self.new_score - self.old_score
            delta = f" ({'+' if difference >= 0 else ''}{points(difference)})"
        parts = [f"{cid} {a} -> {b} ({'+' if d >= 0 else ''}{points(d)})" for cid, a, b, d in self.checks]
        return f"{self.learner}: {old} -> {new}{delta}" + (": " + ", ".join(parts) if parts else "")


def diff(old: Grading, new: Grading) -> Change | None:
    """The change between two final gradings of one learner, or None when score and every check agree."""
    before, after = old.report, new.report
    old_results = {r.spec.id: r for r in before.results} if before else {}
    new_results = {r.spec.id: r for r in after.results} if after else {}
    checks = []
    for check_id in list(new_results) + [c for c in old_results if c not in new_results]:
        a, b = old_results.get(check_id), new_results.get(check_id)
        old_status = a.status.value if a else "absent"
        new_status = b.status.value if b else "absent"
        gained = (b.score if b else 0.0) - (a.score if a else 0.0)
        if old_status != new_status or gained:
            checks.append((check_id, old_status, new_status, gained))
    if not checks and old.score == new.score:
        return None
    return Change(new.learner, old.score, new.score, checks)


# -- scheduling --------------------------------------------------------------------------------


@dataclass
class Task:
    """A submission to grade, with the engines where the infrastructure already failed it."""

    submission: Submission
    attempt: int = 0
    tried: set[str] = field(default_factory=set)


GradeOne = Callable[[Task, Engine], Attempt]


class Queue:
    """Tasks shared by every engine's workers; an idle worker waits while others may hand work back."""

    def __init__(self, tasks: list[Task]):
        self._todo: deque[Task] = deque(tasks)
        self._cond = threading.Condition()
        self._in_flight = 0
        self.stopping = False

    def take(self, engine: Engine, engines: list[Engine]) -> Task | None:
        """The next task for ENGINE; None when there is nothing left it could do."""
        with self._cond:
            while True:
                if self.stopping or engine.dead:
                    return None
                task = self._pick(engine, engines)
                if task is not None:
                    self._in_flight += 1
                    return task
                if not self._todo and self._in_flight == 0:
                    return None
                self._cond.wait(timeout=0.5)

    def _pick(self, engine: Engine, engines: list[Engine]) -> Task | None:
        alive = {e.url for e in engines if not e.dead}
        for task in self._todo:
            # An engine that failed this task already takes it only when no other live engine could.
            if engine.url not in task.tried or alive <= task.tried:
                self._todo.remove(task)
                return task
        return None

    def done(self, task: Task, requeue: bool = False) -> None:
        """The task ended; REQUEUE hands it to the next free worker (on another engine if one is alive)."""
        with self._cond:
            self._in_flight -= 1
            if requeue:
                self._todo.appendleft(task)
            self._cond.notify_all()

    def drain(self) -> list[Task]:
        """What nobody took (every engine gone, or the batch stopped)."""
        with self._cond:
            left = list(self._todo)
            self._todo.clear()
            return left

    def stop(self) -> None:
        """Hand out nothing more."""
        with self._cond:
            self.stopping = True
            self._cond.notify_all()


# -- the batch ---------------------------------------------------------------------------------


@dataclass
class BatchOptions:
    """What `python -m grader batch` was asked to do."""

    exercise: ExerciseSpec
    labs: Path
    submissions: Path
    out: Path
    timeout: float = DEFAULT_TIMEOUT
    build_timeout: float = 600.0
    regrade: bool = False
    max_attempts: int = MAX_ATTEMPTS
    shard: tuple[int, int] | None = None  # (K, N): grade only the learners of shard K of N


@dataclass
class BatchResult:
    """What a batch did."""

    submissions: list[Submission]
    unchanged: list[str] = field(default_factory=list)
    recorded: list[Grading] = field(default_factory=list)  # every row written, not-gradable attempts included
    changes: list[Change] = field(default_factory=list)
    interrupted: bool = False
    wall: float = 0.0

    def final(self) -> list[Grading]:
        """The results this run produced."""
        return [g for g in self.recorded if g.final]

    def not_gradable(self) -> list[str]:
        """Learners left without a result by this run (their last row is not gradable)."""
        last: dict[str, Grading] = {}
        for grading in self.recorded:
            last[grading.learner] = grading
        return sorted(learner for learner, g in last.items() if not g.final)

    def counts(self) -> dict[str, int]:
        """How many learners ended in each state, plus `unchanged`."""
        last: dict[str, Grading] = {}
        for grading in self.recorded:
            last[grading.learner] = grading
        counts = {state: 0 for state in STATE_LABELS}
        for grading in last.values():
            counts[grading.state] += 1
        counts["unchanged"] = len(self.unchanged)
        return counts


class Listener:
    """What the batch tells its progress display; the default says nothing."""

    def start(self, total: int, skipped: int) -> None: ...
    def begin(self, task: Task, engine: Engine) -> None: ...
    def progress(self, task: Task, engine: Engine, text: str) -> None: ...
    def finish(self, grading: Grading, retrying: bool) -> None: ...
    def engine_lost(self, engine: Engine) -> None: ...


def plan(options: BatchOptions, gradebook: Gradebook) -> tuple[list[Submission], list[Submission], dict[str, Grading], str]:
    """(all submissions, those to grade, previous final gradings, grader version): resume skips what did not change."""
    version = grader_version(options.exercise)
    submissions = discover(options.submissions, options.exercise.id)
    if options.shard is not None:
        k, n = options.shard
        submissions = [s for s in submissions if shard_of(s.learner, n) == k]
    previous = gradebook.latest(options.exercise.id, final_only=True)
    todo = []
    for submission in submissions:
        before = previous.get(submission.learner)
        unchanged = before is not None and before.content_hash == submission.content_hash and before.grader_version == version
        if options.regrade or not unchanged:
            todo.append(submission)
    return submissions, longest_first(todo, previous), previous, version


def longest_first(todo: list[Submission], previous: dict[str, Grading]) -> list[Submission]:
    """The order to grade in: what is likely to take longest first, so no long grading runs alone at the end.

    A makespan rule with two estimates. A learner graded before is expected to take as long as
    last time (a submission that ran into --timeout starts first). For one never graded, a
    Dockerfile that nobody else in the class has is expected to be slower than a shared one:
    after the first of a shared Dockerfile, its layers come from the build cache, while a
    Dockerfile of its own builds its own steps (and is where builds that hang come from).
    Ties keep the folder names' order.
    """
    digests = {submission.learner: _dockerfile_digest(submission) for submission in todo}
    shared = Counter(digests.values())

    def estimate(item: tuple[int, Submission]) -> tuple[int, float, int]:
        index, submission = item
        before = previous.get(submission.learner)
        if before is not None:
            return (0, -before.duration, index)
        return (1, shared[digests[submission.learner]], index)

    return [submission for _, submission in sorted(enumerate(todo), key=estimate)]


def _dockerfile_digest(submission: Submission) -> str:
    """A digest of the submission's Dockerfile (of nothing, when it has none or it cannot be read)."""
    try:
        data = (submission.folder / "Dockerfile").read_bytes()
    except OSError:
        data = b""
    return hashlib.sha256(data).hexdigest()


def run(
    options: BatchOptions,
    engines: list[Engine],
    gradebook: Gradebook,
    grade_one: GradeOne | None = None,
    listener: Listener | None = None,
    children: Children | None = None,
) -> BatchResult:
    """Grade what changed over the live engines, recording each grading as it ends; KeyboardInterrupt stops cleanly."""
    started = time.monotonic()
    listener = listener or Listener()
    children = children or Children()
    submissions, todo, previous, version = plan(options, gradebook)
    result = BatchResult(submissions, unchanged=[s.learner for s in submissions if s not in todo])
    this = _Run(options, engines, gradebook, listener, children, previous, version, result, todo, grade_one)
    gradebook.set_meta({"exercise": options.exercise.id, "grader_version": version,
                        "shard": "" if options.shard is None else f"{options.shard[0]}/{options.shard[1]}"})
    stale = gradebook.unfinished_batches()
    sweep_batches(engines, stale)
    gradebook.begin_batch(this.batch_id, this.prefix, [e.url for e in engines])
    listener.start(len(todo), len(result.unchanged))
    this.run_workers()
    if not result.interrupted:
        this.record_leftovers()
    # Late leftovers (an image committed after its grading was stopped) go too. A batch stays
    # unfinished while one of its engines is unreachable: a later run sweeps it once it is back.
    batches = stale + [(this.batch_id, this.prefix, [e.url for e in engines])]
    sweep_batches(engines, batches)
    reachable = {e.url for e in engines if not e.dead}
    gradebook.finish_batches([b for b, _, urls in batches if set(urls) <= reachable])
    result.wall = time.monotonic() - started
    return result


class _Run:
    """One run of a batch: the queue its workers share, and how each of them grades and records a submission."""

    def __init__(
        self, options: BatchOptions, engines: list[Engine], gradebook: Gradebook, listener: Listener, children: Children,
        previous: dict[str, Grading], version: str, result: BatchResult, todo: list[Submission], grade_one: GradeOne | None,
    ) -> None:
        self.options, self.engines, self.gradebook, self.listener, self.children = options, engines, gradebook, listener, children
        self.previous, self.version, self.result = previous, version, result
        self.grade_one = grade_one or self.grade_in_subprocess
        self.batch_id = uuid.uuid4().hex[:12]
        # Every grading's Session ids start with the batch's prefix (after a caller's own), so what a
        # killed batch left is found by the next run; it is swept before and after grading.
        self.prefix = os.environ.get("LABKIT_SESSION_PREFIX", "") + f"b{self.batch_id[:6]}-"
        self.queue = Queue([Task(s) for s in todo])
        self.lock = threading.Lock()
        self.numbers = itertools.count(1)

    def grade_in_subprocess(self, task: Task, engine: Engine) -> Attempt:
        """Grade one submission in a grading process of its own (what a batch does unless told otherwise)."""
        options, listener = self.options, self.listener
        return grade_in_subprocess(
            options.exercise, options.labs, task.submission.folder, engine.url,
            time_limit=options.timeout, build_timeout=options.build_timeout, children=self.children,
            session_prefix=f"b{self.batch_id[:6]}-{next(self.numbers)}-", on_progress=lambda text: listener.progress(task, engine, text),
        )

    def record(self, task: Task, engine: Engine, attempt: Attempt) -> Grading:
        """Store the attempt as the learner's grading (in its own transaction) and note how it differs from the last."""
        report = attempt.report
        grading = Grading(
            learner=task.submission.learner, exercise=self.options.exercise.id, state=attempt.state,
            report=report if attempt.state != NOT_GRADABLE else None, message=attempt.message, duration=attempt.duration,
            content_hash=task.submission.content_hash, grader_version=self.version, engine=engine.url,
            engine_version=engine.version, base_image_id=str((report.facts if report else {}).get("base_image_id") or ""),
            submission=str(task.submission.folder), attempt=task.attempt, batch=self.batch_id,
        )
        self.gradebook.record(grading)
        with self.lock:
            self.result.recorded.append(grading)
            before = self.previous.get(grading.learner)
            if grading.final and before is not None:
                change = diff(before, grading)
                if change is not None:
                    self.result.changes.append(change)
        return grading

    def attempt(self, task: Task, engine: Engine) -> Attempt:
        """One try at grading TASK on ENGINE; a bug on the batch's side becomes a grader error, never an abort."""
        try:
            return self.grade_one(task, engine)
        except Exception as error:  # a bug on the batch's side must not lose the submission or the batch
            attempt = Attempt(GRADER_ERROR, None, f"the batch could not grade it ({type(error).__name__}: {error})")
            attempt.report = partial_report(self.options.exercise, task.submission.folder, [], f"not checked: {attempt.message}", 0.0)
            return attempt

    def work(self, engine: Engine) -> None:
        """A worker: take tasks ENGINE can do until none is left, and record each (requeued when the infrastructure failed it)."""
        while True:
            task = self.queue.take(engine, self.engines)
            if task is None:
                return
            requeue = False
            try:
                task.attempt += 1
                self.listener.begin(task, engine)
                attempt = self.attempt(task, engine)
                if attempt.state != GRADED:
                    engine.sweep_prefix(attempt.session_prefix)  # after a hard kill the child could not clean up
                if attempt.state == INTERRUPTED or self.children.stopping.is_set() and attempt.state != GRADED:
                    continue  # the batch is stopping: this submission stays ungraded, to be resumed
                if attempt.state != GRADED and not engine.alive():
                    # A timeout or crash while the engine went away is the engine's fault, not the learner's.
                    attempt = Attempt(NOT_GRADABLE, None, f"{engine.name} stopped answering: {engine.reason[:200]}", attempt.duration, attempt.session_prefix)
                    self.listener.engine_lost(engine)
                if attempt.state == NOT_GRADABLE:
                    task.tried.add(engine.url)
                    requeue = task.attempt < self.options.max_attempts and any(not e.dead for e in self.engines)
                grading = self.record(task, engine, attempt)
                self.listener.finish(grading, retrying=requeue)
            finally:
                self.queue.done(task, requeue=requeue)

    def run_workers(self) -> None:
        """Each live engine's workers until the queue is empty; a Ctrl-C stops every grading and marks the result interrupted."""
        threads = []
        try:
            # Started inside the try: a Ctrl-C while the first worker already grades (and the rest are
            # still starting) stops the batch like any other, instead of escaping as a traceback.
            for engine in self.engines:
                for n in range(engine.jobs if not engine.dead else 0):
                    thread = threading.Thread(target=self.work, args=(engine,), name=f"grade-{engine.name}-{n}", daemon=True)
                    thread.start()
                    threads.append(thread)
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.2)
        except KeyboardInterrupt:
            self.result.interrupted = True
            self.queue.stop()
            self.children.stop_all()
            for thread in threads:
                thread.join()

    def record_leftovers(self) -> None:
        """Whatever no live engine could take is recorded as not gradable, to be retried by the next run."""
        for task in self.queue.drain():
            reasons = "; ".join(f"{e.name}: {e.reason[:120]}" for e in self.engines if e.dead) or "no engine took it"
            engine = self.engines[0] if self.engines else Engine("none", 0)
            grading = self.record(task, engine, Attempt(NOT_GRADABLE, None, f"no engine left to grade it ({reasons})"))
            self.listener.finish(grading, retrying=False)


def sweep_batches(engines: list[Engine], batches: list[tuple[str, str, list[str]]]) -> None:
    """Remove what these batches' gradings left on the engines of this run that answer."""
    for engine in engines:
        if engine.dead:
            continue
        for _, prefix, urls in batches:
            if engine.url in urls:
                engine.sweep_prefix(prefix)

