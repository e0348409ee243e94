"""Fixtures for gradings on the real engine."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest

from grader import spec
from grader.grading import grade
from grader.model import Status
from grader.engine.limits import SESSION_LABEL


def labelled(client, prefix: str = "") -> tuple[list[str], list[str], list[str]]:
    """Ids of the containers, images and networks on the engine whose grader label starts with PREFIX.

    The low-level lists: the high-level ones inspect each item, which fails with NotFound when a
    grading removes it in between.
    """
    selector = {"label": SESSION_LABEL}
    mine = lambda item: (item.get("Labels") or {}).get(SESSION_LABEL, "").startswith(prefix)  # noqa: E731
    containers = [c["Id"] for c in client.api.containers(all=True, filters=selector) if mine(c)]
    images = [i["Id"] for i in client.api.images(all=True, filters=selector) if mine(i)]
    return containers, images, [n["Id"] for n in client.api.networks(filters=selector) if mine(n)]


@pytest.fixture(scope="session")
def exercise_spec(repo):
    """Find an exercise's spec in the repository's labs.yaml: exercise_spec("exercise-03")."""
    exercises = spec.load(repo / "labs.yaml")

    def find(exercise_id: str):
        found = spec.find_exercise(exercises, exercise_id)
        assert found is not None, f"{exercise_id} is not in labs.yaml"
        return found

    return find


@pytest.fixture(scope="session")
def exercise01(exercise_spec):
    """The exercise-01 spec from the repository's labs.yaml."""
    return exercise_spec("exercise-01")


@pytest.fixture
def no_leftovers(engine, monkeypatch):
    """Fails the test when its gradings leave a container, a grader-labelled image or network behind.

    Each test's sessions get a prefix of their own (inherited by grader subprocesses), so
    another grader working on the same engine at the same time is not blamed on this test.
    """
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    monkeypatch.setenv("LABKIT_SESSION_PREFIX", prefix)
    containers_before = {c["Id"] for c in _containers(engine)}
    yield prefix
    containers, images, networks = labelled(engine, prefix)
    assert not containers, "containers left behind"
    assert not images, "images left behind"  # all=True: Podman's labelled intermediate images too
    assert not networks, f"networks left behind: {networks}"
    project_networks, volumes, pods = projects_left(engine, prefix)
    assert not project_networks, f"Compose networks left behind: {project_networks}"
    assert not volumes, f"volumes left behind: {volumes}"
    assert not pods, f"pods left behind: {pods}"
    # Build-step containers carry no label: a new unlabelled container that stays is a leak.
    # (Another build running on the same engine makes such containers come and go: wait a little.)
    deadline = time.monotonic() + 10
    while True:
        new = {c["Id"] for c in _containers(engine) if not (c.get("Labels") or {}).get(SESSION_LABEL)} - containers_before
        if not new or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not new, f"new containers left on the engine: {new}"


def projects_left(client, prefix: str) -> tuple[list[str], list[str], list[str]]:
    """Networks, volumes and (Podman) pods named after a Compose project of a session starting with PREFIX.

    A grader's project is `labkit-<session id>`; Compose names its network and volumes after it.
    """
    from grader.engine.connect import is_podman

    mine = f"labkit-{prefix}".lower()
    networks = [n["Name"] for n in client.api.networks() if n.get("Name", "").startswith(mine)]
    volumes = [v["Name"] for v in (client.api.volumes().get("Volumes") or []) if v.get("Name", "").startswith(mine)]
    pods: list[str] = []
    if is_podman(client):  # Podman's own endpoint: Docker's API has no pods
        api = client.api
        pods = [p.get("Name", "") for p in api._result(api._get(api._url("/libpod/pods/json")), json=True) or []]
        pods = [name for name in pods if name.lower().startswith(mine) or "labkit" in name.lower()]
    return networks, volumes, pods


def _containers(engine) -> list[dict]:
    """Every container as the list endpoint returns it (no per-container inspect that could race)."""
    return engine.api.containers(all=True)


@pytest.fixture
def copy_solution(tmp_path, repo):
    """Copy an exercise's solution into a temporary folder and edit it, as a learner's mistake.

    copy_solution("exercise-03", {"Dockerfile": edit}, remove=["healthcheck.py"]): each edit
    maps a file's text to its new text (None deletes the file); an edit that changes nothing
    fails, because the mistake it meant to make no longer applies to the solution.
    """

    def make(exercise_id: str, edits=None, remove=(), name: str = "submission") -> Path:
        folder = tmp_path / name
        shutil.copytree(repo / "solutions" / exercise_id, folder)
        for relative, edit in (edits or {}).items():
            if edit is None:
                continue
            path = folder / relative
            before = path.read_text() if path.exists() else ""
            after = edit(before)
            if after is None:
                path.unlink()
                continue
            assert after != before, f"the edit of {relative} changed nothing: the solution moved on"
            path.write_text(after)
        for relative in remove:
            (folder / relative).unlink()
        return folder

    return make


@pytest.fixture
def submission(copy_solution):
    """An edited copy of the exercise-01 solution."""

    def make(edit_dockerfile=None, edit_app=None, name="submission") -> Path:
        return copy_solution("exercise-01", {"Dockerfile": edit_dockerfile, "flask_api_v2.py": edit_app}, name=name)

    return make


def statuses(report) -> dict[str, Status]:
    """Check id -> status."""
    return {r.spec.id: r.status for r in report.results}


def grade_folder(exercise, folder, engine, **kwargs):
    """Grade a folder on the real engine with a sensible build limit."""
    kwargs.setdefault("build_timeout", 300)
    return grade(exercise, folder, client=engine, **kwargs)


def lost(report) -> dict[str, float]:
    """Check id -> points lost, for the checks that did not pass."""
    return {r.spec.id: r.max_score for r in report.results if r.status is not Status.PASSED and r.max_score}


def result(report, check_id):
    """The result of one check."""
    return next(r for r in report.results if r.spec.id == check_id)
