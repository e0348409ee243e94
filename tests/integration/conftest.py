"""Fixtures for gradings on the real engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import spec
from grader.grading import grade
from grader.model import Status
from grader.session import SESSION_LABEL


def labelled(client) -> tuple[list, list]:
    """Containers and images on the engine that carry the grader's label."""
    selector = {"label": SESSION_LABEL}
    return client.containers.list(all=True, filters=selector), client.images.list(all=True, filters=selector)


@pytest.fixture(scope="session")
def exercise01(repo):
    """The exercise-01 spec from the repository's labs.yaml."""
    return spec.find_exercise(spec.load(repo / "labs.yaml"), "exercise-01")


@pytest.fixture
def no_leftovers(engine):
    """Fails the test when a grading leaves a container or a grader-labelled image behind.

    Compares before and after, so that another grader working on the same engine at the
    same time (a developer's benchmark) is not blamed on this test.
    """
    containers_before = {c.id for c in engine.containers.list(all=True)}
    images_before = {i.id for i in labelled(engine)[1]}
    yield
    containers, images = labelled(engine)
    new_labelled = [c.name for c in containers if c.id not in containers_before]
    assert not new_labelled, f"containers left behind: {new_labelled}"
    new_images = [i.id for i in images if i.id not in images_before]
    assert not new_images, f"images left behind: {new_images}"
    after = {c.id for c in engine.containers.list(all=True)}
    assert after <= containers_before, f"new containers left on the engine: {after - containers_before}"


@pytest.fixture
def submission(tmp_path, repo):
    """Copy the exercise-01 solution into a temporary folder; returns a function that edits it."""

    def make(edit_dockerfile=None, edit_app=None, name="submission") -> Path:
        folder = tmp_path / name
        shutil.copytree(repo / "solutions" / "exercise-01", folder)
        if edit_dockerfile:
            path = folder / "Dockerfile"
            path.write_text(edit_dockerfile(path.read_text()))
        if edit_app:
            path = folder / "flask_api_v2.py"
            path.write_text(edit_app(path.read_text()))
        return folder

    return make


def statuses(report) -> dict[str, Status]:
    """Check id -> status."""
    return {r.spec.id: r.status for r in report.results}


def grade_folder(exercise, folder, engine, **kwargs):
    """Grade a folder on the real engine with a sensible build limit."""
    kwargs.setdefault("build_timeout", 300)
    return grade(exercise, folder, client=engine, **kwargs)
