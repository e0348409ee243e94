"""Exercise READMEs a newcomer can follow alone: each says how to set up and grade, what done looks like,
and that `hint`, `--watch` and `--lang ko` exist; each by-hand section says what to expect."""

from __future__ import annotations

import pytest

from unit_helpers import REPO_ROOT

READMES = sorted(REPO_ROOT.glob("exercises/*/README*.md"))


@pytest.mark.parametrize("readme", READMES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_readme_says_how_to_start_and_what_done_looks_like(readme):
    text = readme.read_text(encoding="utf-8")
    exercise = readme.parent.name
    assert ("## Before you start" in text) or ("## 시작하기 전에" in text)
    for needed in ("make setup", f"python -m grader {exercise}", "Score: 100/100", f"python -m grader hint {exercise}", "--watch", "--lang ko"):
        assert needed in text, needed
    assert ("### What you should see" in text) or ("### 이렇게 나와야 합니다" in text)


def test_exercise_02_shows_how_to_make_what_dockerignore_keeps_out():
    for name in ("README.md", "README.ko.md"):
        text = (REPO_ROOT / "exercises" / "exercise-02" / name).read_text(encoding="utf-8")
        for path in (".git/HEAD", "venv/bin", "__pycache__", ".env"):
            assert path in text


def test_exercise_03_names_the_instructions_it_needs():
    for name in ("README.md", "README.ko.md"):
        text = (REPO_ROOT / "exercises" / "exercise-03" / name).read_text(encoding="utf-8")
        for word in ("useradd", "`USER`", "`HEALTHCHECK`", "--interval", "--timeout", "--start-period", "--retries"):
            assert word in text, word


@pytest.mark.parametrize("exercise", ["exercise-04", "exercise-05"])
def test_exercises_04_and_05_say_why_they_keep_flask_s_server_as_root(exercise):
    assert "Flask's server, as root" in (REPO_ROOT / "exercises" / exercise / "README.md").read_text(encoding="utf-8")
    assert "Flask 서버를 root로" in (REPO_ROOT / "exercises" / exercise / "README.ko.md").read_text(encoding="utf-8")


def test_exercise_06_has_a_compose_skeleton_with_todos():
    text = (REPO_ROOT / "exercises" / "exercise-06" / "compose.yaml").read_text(encoding="utf-8")
    assert text.count("# TODO") >= 7 and "services:" in text
