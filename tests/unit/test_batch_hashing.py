"""Discovery of learners' folders, content hashes and the grader version (which code it hashes)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from unit_helpers import SOLUTION
from grader.batch import grader_version
from grader.submissions import content_hash, discover
from grader.grading_sources import PACKAGE, grading_sources, imported_names


def test_a_copy_has_the_same_hash_and_any_change_changes_it(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(SOLUTION, a)
    shutil.copytree(SOLUTION, b)
    assert content_hash(a) == content_hash(b)
    (b / "Dockerfile").write_text((b / "Dockerfile").read_text() + "\n")
    assert content_hash(a) != content_hash(b)
    shutil.copytree(SOLUTION, b, dirs_exist_ok=True)
    assert content_hash(a) == content_hash(b)
    (b / "requirements.txt").rename(b / "requirements2.txt")
    assert content_hash(a) != content_hash(b)


def test_git_and_pycache_do_not_count_and_links_are_not_followed(tmp_path):
    folder = tmp_path / "a"
    shutil.copytree(SOLUTION, folder)
    before = content_hash(folder)
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert content_hash(folder) == before
    os.symlink("/etc", folder / "etc-link")
    os.symlink("/etc/hostname", folder / "file-link")
    linked = content_hash(folder)
    assert linked != before
    (folder / "etc-link").unlink()
    os.symlink("/usr", folder / "etc-link")
    assert content_hash(folder) != linked  # a link counts by its target's name


def test_discover_names_learners_by_folder_and_prefers_the_exercise_folder(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / "bob" / "exercise-01").mkdir(parents=True)
    (tmp_path / "bob" / "exercise-01" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "notes.txt").write_text("not a learner")
    found = discover(tmp_path, "exercise-01")
    assert [(s.learner, s.folder.name) for s in found] == [("alice", "alice"), ("bob", "exercise-01")]
    assert found[0].content_hash == found[1].content_hash  # the same files, wherever they sit


def test_grader_version_follows_the_checks_as_configured(exercise):
    from dataclasses import replace

    version = grader_version(exercise)
    assert version.startswith("0.") and "+" in version and version == grader_version(exercise)
    more_points = replace(exercise, checks=(replace(exercise.checks[0], points=exercise.checks[0].points + 1),) + exercise.checks[1:])
    assert grader_version(more_points) != version


def test_a_pinned_grader_version_ignores_code_but_not_checks(exercise, monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("LABKIT_GRADER_VERSION", "course-2026")
    pinned = grader_version(exercise)
    monkeypatch.setenv("LABKIT_GRADER_VERSION", "course-2027")
    assert grader_version(exercise) != pinned
    fewer = replace(exercise, checks=exercise.checks[1:])
    assert grader_version(fewer) != grader_version(exercise)


# -- which code the version hashes -------------------------------------------------------------


@pytest.fixture
def package_copy(tmp_path):
    """A copy of the grader package to edit, whose version is computed like the real one's."""
    copy = tmp_path / "grader"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "locales", "data"))
    return copy


def _touch(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\n# edited\n")


@pytest.mark.parametrize("module", ["checks/lint.py", "grading.py", "engine/session.py", "engine/probe_agent.py", "worker.py"])
def test_changing_code_that_grades_changes_the_version(module, package_copy, exercise):
    before = grader_version(exercise, package_copy)
    _touch(package_copy / module)
    assert grader_version(exercise, package_copy) != before


@pytest.mark.parametrize("module", ["outputs/junit.py", "outputs/common.py", "cli/batch.py", "gradebook.py", "batch.py", "doctor.py"])
def test_changing_a_renderer_store_or_command_keeps_the_version(module, package_copy, exercise):
    """A renderer's fix re-renders every output from the gradebook; nobody is regraded for it."""
    before = grader_version(exercise, package_copy)
    _touch(package_copy / module)
    assert grader_version(exercise, package_copy) == before


def test_the_sources_are_found_from_the_grading_imports_lazy_ones_included():
    sources = {path.relative_to(PACKAGE).as_posix() for path in grading_sources()}
    assert {"grading.py", "worker.py", "spec.py", "model.py", "checks/__init__.py", "engine/session.py", "engine/probe_agent.py"} <= sources
    checks = {path.relative_to(PACKAGE).as_posix() for path in (PACKAGE / "checks").glob("*.py")}
    assert checks <= sources  # every check module, through the registry
    assert "grader.engine.pool" in imported_names(PACKAGE / "worker.py", "grader.worker")  # imported inside main()
    assert not {s for s in sources if s.startswith(("outputs/", "cli/"))} and not sources & {"gradebook.py", "progress_store.py", "batch.py"}


def test_imports_only_for_type_checkers_are_not_followed(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from grader.outputs import junit\ndef f():\n    import grader.rows\n")
    assert "grader.rows" in imported_names(module, "grader.m") and "grader.outputs.junit" not in imported_names(module, "grader.m")
