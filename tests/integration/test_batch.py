"""`python -m grader batch` on real engines: a generated class, a killed batch, resume, regrade diff, two engines."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from grader import spec
from grader.engine.pool import default_url
from grader.gradebook import Gradebook
from grader.rows import FINAL_STATES, GRADED, TIMED_OUT
from grader.grading import grade, static_report
from tests.integration.cohort import CLASS_OF_20, make_cohort
from tests.integration.conftest import labelled

REQUIRED = bool(os.environ.get("CI") or os.environ.get("LABKIT_REQUIRE_ENGINE"))
TIME_LIMIT = 45  # --timeout: the build that sleeps forever is cut here
READY_TIMEOUT = 30  # container_ready's timeout in the test labs.yaml (60 in the real one)


def batch(*args, prefix: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run `python -m grader batch ARGS` to completion, its sessions named with PREFIX."""
    command = [sys.executable, "-m", "grader", "batch", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=batch_env(prefix), capture_output=True, text=True, timeout=timeout)


def batch_env(prefix: str) -> dict[str, str]:
    """The environment of a batch: its sessions named with PREFIX, the grader version pinned
    (others edit the grader's code while these tests run; a code change would regrade everyone)."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "LABKIT_SESSION_PREFIX": prefix, "LABKIT_GRADER_VERSION": "batch-tests"}


def leftovers(client, prefix: str) -> list[str]:
    """Containers, images and networks on an engine whose session id starts with PREFIX."""
    containers, images, networks = labelled(client, prefix)
    return [f"container {c}" for c in containers] + [f"image {i}" for i in images] + [f"network {n}" for n in networks]


def wait_clean(client, prefix: str, limit: float = 90) -> list[str]:
    """Wait until nothing with PREFIX is left (gradings being stopped clean up within seconds)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        left = leftovers(client, prefix)
        if not left:
            return []
        time.sleep(1)
    return leftovers(client, prefix)


def final_rows(out: Path) -> list[tuple[str, str]]:
    """(learner, state) of every final grading in the gradebook, read as an instructor's sqlite3 would."""
    path = out / "gradebook.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        marks = ",".join("?" for _ in FINAL_STATES)
        try:
            return db.execute(f"SELECT learner, state FROM gradings WHERE state IN ({marks})", FINAL_STATES).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):  # the batch has made the file but not yet its tables
                return []
            raise


@pytest.fixture(scope="module")
def fast_labs(tmp_path_factory, repo) -> Path:
    """labs.yaml with a 30 s readiness limit, beside a copy of the starter (the similarity template)."""
    root = tmp_path_factory.mktemp("labs")
    document = yaml.safe_load((repo / "labs.yaml").read_text())
    exercise = next(e for e in document["exercises"] if e["id"] == "exercise-01")
    for check in exercise["checks"]:
        if check["kind"] == "container_ready":
            check["params"]["timeout"] = READY_TIMEOUT
    (root / "labs.yaml").write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    shutil.copytree(repo / "exercises" / "exercise-01", root / "exercises" / "exercise-01")
    return root / "labs.yaml"


@pytest.fixture(scope="module")
def fast_exercise(fast_labs):
    return spec.find_exercise(spec.load(fast_labs), "exercise-01")


def new_prefix() -> str:
    return f"tb{uuid.uuid4().hex[:6]}-"


@pytest.fixture(scope="module")
def class_run(tmp_path_factory, fast_labs, engine, repo):
    """A class of 20 graded with 2 workers: solutions, mistakes, a hang at start, a hang in the build, crashes."""
    root = tmp_path_factory.mktemp("class")
    learners = make_cohort(root / "submissions", CLASS_OF_20)
    prefix = new_prefix()
    started = time.monotonic()
    completed = batch(
        "exercise-01", root / "submissions", "--out", root / "out", "--labs", fast_labs, "-j", "2", "--timeout", TIME_LIMIT,
        prefix=prefix, cwd=repo,
    )
    wall = time.monotonic() - started
    assert completed.returncode == 0, completed.stdout + completed.stderr
    yield SimpleNamespace(submissions=root / "submissions", out=root / "out", learners=learners, completed=completed, wall=wall, prefix=prefix)


def test_class_batch_gives_every_learner_one_result_and_leaves_nothing(class_run, engine):
    rows = final_rows(class_run.out)
    assert sorted(learner for learner, _ in rows) == sorted(class_run.learners)
    assert "Traceback" not in class_run.completed.stderr
    assert "20 submission(s)" in class_run.completed.stdout
    assert "ETA" in class_run.completed.stderr  # plain progress lines when not a terminal
    assert wait_clean(engine, class_run.prefix, limit=10) == []


def test_class_batch_scores_equal_grading_each_alone(class_run, fast_exercise, engine, no_leftovers):
    standing = Gradebook.in_folder(class_run.out).current("exercise-01")
    alone: dict[str, float] = {}  # content hash -> score; identical folders grade identically
    for learner, variant in class_run.learners.items():
        grading = standing[learner]
        if variant == "hangs-in-build":
            # The per-submission limit cut it: static checks keep their points, the rest is blocked with the reason.
            assert grading.state == TIMED_OUT
            assert f"grading exceeded {TIME_LIMIT} s" in grading.message and "RUN sleep 100000" in grading.message
            static, _ = static_report(fast_exercise, Path(grading.submission))
            assert grading.score == static.score
            continue
        assert grading.state == GRADED, (learner, grading.message)
        if grading.content_hash not in alone:
            alone[grading.content_hash] = grade(fast_exercise, Path(grading.submission), build_timeout=300, client=engine).score
        assert grading.score == alone[grading.content_hash], learner
    scores = {variant: standing[learner].score for learner, variant in class_run.learners.items()}
    assert scores["solution"] == scores["solution-nested"] == scores["copy-a"] == 100
    assert scores["no-expose"] == 90 and scores["todo-left"] == 95 and scores["empty"] == 0
    assert scores["crashes-at-start"] == scores["hangs-at-start"] == 70


def test_outputs_follow_their_formats(class_run, fast_exercise):
    out, learners = class_run.out, class_run.learners
    standing = Gradebook.in_folder(out).current("exercise-01")
    for learner in learners:
        gradescope = json.loads((out / "gradescope" / learner / "results.json").read_text())
        assert gradescope["score"] == standing[learner].score
        assert {"score", "execution_time", "output", "tests"} <= set(gradescope)
        assert all({"name", "score", "max_score", "status", "output"} <= set(t) for t in gradescope["tests"])
        prairie = json.loads((out / "prairielearn" / learner / "results.json").read_text())
        assert prairie["gradable"] is True and 0 <= prairie["score"] <= 1 and prairie["message"]
        assert prairie["score"] == pytest.approx(standing[learner].score / 100)
        assert all({"name", "points", "max_points", "message"} <= set(t) for t in prairie["tests"])
        classroom = json.loads((out / "github-classroom" / learner / "results.json").read_text())
        assert classroom["version"] == 1 and classroom["max_score"] == 100
        assert classroom["status"] == ("pass" if standing[learner].score == 100 else "fail")
        assert sum(t["score"] for t in classroom["tests"]) == standing[learner].score
    root = ET.parse(out / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == sorted(learners)
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases) == len(fast_exercise.checks)
        assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
    csv_lines = (out / "gradebook.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(learners)
    similarity = (out / "similarity.csv").read_text().splitlines()
    assert len(similarity) == 2, similarity  # only the two who share unusual lines, not the many correct solutions
    assert "copy-a" in similarity[1] and "copy-b" in similarity[1]
    html = (out / "report.html").read_text()
    assert all(learner in html for learner in learners) and "<svg" in html and "<script" not in html


def test_report_opens_in_a_headless_browser(class_run, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs chromium for the report.html test: `make setup` installs it (Debian, root)")
        pytest.skip("chromium is not installed (`make setup` installs it as root on Debian): the page is checked as text only")
    completed = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path}", "--dump-dom", (class_run.out / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    dom = completed.stdout
    assert "Summary" in dom and "Alike Dockerfiles" in dom
    assert all(learner in dom for learner in class_run.learners)


def test_rerun_resumes_and_a_changed_submission_shows_its_diff(class_run, repo, fast_labs, engine):
    args = ("exercise-01", class_run.submissions, "--out", class_run.out, "--labs", fast_labs, "-j", "2", "--timeout", TIME_LIMIT)
    rows_before = len(final_rows(class_run.out))
    started = time.monotonic()
    rerun = batch(*args, prefix=class_run.prefix, cwd=repo)
    assert rerun.returncode == 0, rerun.stderr
    assert "20 unchanged" in rerun.stdout and len(final_rows(class_run.out)) == rows_before
    assert time.monotonic() - started < 30
    learner = next(name for name, variant in class_run.learners.items() if variant == "solution")
    dockerfile = class_run.submissions / learner / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("EXPOSE 5001\n", ""))
    changed = batch(*args, prefix=class_run.prefix, cwd=repo)
    assert changed.returncode == 0, changed.stderr
    assert "19 unchanged" in changed.stdout
    assert f"{learner}: 100 -> 90 (-10): expose-port passed -> failed (-10)" in changed.stdout
    assert len(final_rows(class_run.out)) == rows_before + 1
    assert wait_clean(engine, class_run.prefix, limit=10) == []


def test_killed_batch_resumes_and_grades_everyone_exactly_once(tmp_path, repo, fast_labs, engine):
    learners = make_cohort(tmp_path / "submissions", ["solution"] * 4 + ["no-expose", "shell-form-cmd", "todo-left", "build-error"])
    out, prefix = tmp_path / "out", new_prefix()
    args = ["exercise-01", tmp_path / "submissions", "--out", out, "--labs", fast_labs, "-j", "2"]
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", "batch", *map(str, args)], cwd=repo, env=batch_env(prefix),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while len(final_rows(out)) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.kill()  # SIGKILL: no chance to clean up; its gradings get SIGTERM from the kernel and clean up themselves
    process.wait()
    graded_before = len(final_rows(out))
    assert 2 <= graded_before < len(learners), "the batch should have been killed half-way"
    assert wait_clean(engine, prefix) == []
    resumed = batch(*args, prefix=prefix, cwd=repo)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{graded_before} unchanged" in resumed.stdout
    rows = final_rows(out)
    assert sorted(learner for learner, _ in rows) == sorted(learners)  # each exactly once
    regrade = batch(*args, "--regrade", prefix=prefix, cwd=repo)
    assert regrade.returncode == 0, regrade.stderr
    assert "Regrade diff: 0 learner(s) changed" in regrade.stdout
    assert len(final_rows(out)) == 2 * len(learners)
    assert wait_clean(engine, prefix, limit=10) == []


# -- two engines -------------------------------------------------------------------------------


ENGINE2_SUBNET = "172.30.72.0/24"


def _nat(action: str, bridge: str) -> None:
    """Outbound NAT for the second engine's bridge (it runs with --iptables=false), for its one warm-up build."""
    tag = ["-m", "comment", "--comment", "labkit-batch-tests"]
    for table, chain, rule in (
        ("nat", "POSTROUTING", ["-s", ENGINE2_SUBNET, "!", "-o", bridge, "-j", "MASQUERADE"]),
        ("filter", "FORWARD", ["-i", bridge, "-j", "ACCEPT"]),
        ("filter", "FORWARD", ["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]),
    ):
        position = ["1"] if action == "-I" else []
        subprocess.run(["iptables", "-t", table, action, chain, *position, *rule, *tag], check=action == "-I", capture_output=True)


@pytest.fixture(scope="module")
def engine2(engine, repo):
    """A second dockerd (own socket, data root, exec root, pidfile, bridge) whose build cache holds the solution's pip layer."""
    from tests.integration.throwaway_engine import start_engine

    try:
        second = start_engine("batch2", ENGINE2_SUBNET.replace(".0/", ".1/"), ["python:3.11-slim"], tcp=True)
    except Exception as error:
        if REQUIRED:
            pytest.fail(f"the multi-engine tests need a second engine: {error}")
        pytest.skip(f"no second engine: {error}")
    try:
        _nat("-I", second.bridge)
        warm = subprocess.run(["docker", "-H", second.url, "build", "-q", "-t", "labkit-warm", str(repo / "solutions" / "exercise-01")],
                              capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=600)
        assert warm.returncode == 0, f"warm-up build on the second engine failed: {warm.stderr[-500:]}"
        yield second
    finally:
        _nat("-D", second.bridge)
        second.remove()


def test_two_engines_share_the_work(tmp_path, repo, fast_labs, engine, engine2):
    learners = make_cohort(tmp_path / "submissions", ["solution"] * 5 + ["no-expose", "shell-form-cmd", "todo-left", "build-error", "crashes-at-start"])
    prefix = new_prefix()
    completed = batch(
        "exercise-01", tmp_path / "submissions", "--out", tmp_path / "out", "--labs", fast_labs, "-j", "1",
        "--engine", default_url(), "--engine", engine2.url,
        prefix=prefix, cwd=repo,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    standing = Gradebook.in_folder(tmp_path / "out").current("exercise-01")
    assert sorted(standing) == sorted(learners)
    assert {g.engine for g in standing.values()} == {default_url(), engine2.url}  # both engines took work
    expected = {"solution": 100, "no-expose": 90, "shell-form-cmd": 85, "todo-left": 95, "crashes-at-start": 70}
    for learner, variant in learners.items():
        if variant in expected:
            assert standing[learner].score == expected[variant], (learner, standing[learner].engine)
    assert wait_clean(engine, prefix, limit=10) == [] and wait_clean(engine2.client(), prefix, limit=10) == []


def test_an_engine_over_tcp_on_loopback_grades_like_its_socket(tmp_path, repo, fast_labs, engine2):
    """The same second engine, reached as tcp://127.0.0.1:PORT; one that does not answer is left out with its reason.

    Engines elsewhere are accepted like local ones (the grader reaches apps through the engine):
    tests/integration/test_engine_elsewhere.py grades with the grader cut off from the engine's network.
    """
    learners = make_cohort(tmp_path / "submissions", ["solution", "no-expose"])
    prefix = new_prefix()
    completed = batch(
        "exercise-01", tmp_path / "submissions", "--out", tmp_path / "out", "--labs", fast_labs, "-j", "1",
        "--engine", engine2.tcp_url, "--engine", f"unix://{tmp_path}/no-engine.sock",
        prefix=prefix, cwd=repo,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "no Docker engine answered" in completed.stdout + completed.stderr
    standing = Gradebook.in_folder(tmp_path / "out").current("exercise-01")
    expected = {"solution": 100, "no-expose": 90}
    assert {learner: standing[learner].score for learner in learners} == {learner: expected[v] for learner, v in learners.items()}
    assert {g.engine for g in standing.values()} == {engine2.tcp_url}
    assert wait_clean(engine2.client(), prefix, limit=10) == []


def test_an_engine_that_dies_has_its_work_moved(tmp_path, repo, fast_labs, engine, engine2):
    learners = make_cohort(tmp_path / "submissions", ["solution"] * 6 + ["no-expose", "todo-left"])
    out, prefix = tmp_path / "out", new_prefix()
    args = ["exercise-01", tmp_path / "submissions", "--out", out, "--labs", fast_labs, "-j", "1", "--engine", default_url(), "--engine", engine2.url]
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", "batch", *map(str, args)], cwd=repo, env=batch_env(prefix),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Kill the second engine while it is building (its first grading is under way).
    client2 = engine2.client()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not client2.api.containers(all=True) and process.poll() is None:
        time.sleep(0.05)
    engine2.process.terminate()  # dockerd shuts down: it stops its containers and its socket goes away
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stdout + stderr
    assert "stopped answering" in stderr or "not gradable" in stderr
    standing = Gradebook.in_folder(out).current("exercise-01")
    assert sorted(standing) == sorted(learners)
    assert all(g.state == GRADED for g in standing.values()), {k: g.message for k, g in standing.items()}
    assert wait_clean(engine, prefix, limit=10) == []
