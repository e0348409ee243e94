"""The command line when nothing can be graded: exit code 2, one clear message, no traceback."""

from __future__ import annotations

import os

import pytest

from unit_helpers import LABS, NO_ENGINE, SOLUTION
from grader import cli


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_clear_error(err: str, *phrases: str) -> None:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


def test_unknown_exercise(capsys):
    code, out, err = run(capsys, "exercise-99")
    assert code == 2
    assert_one_clear_error(err, "unknown exercise `exercise-99`", "known: exercise-01", "python -m grader list")
    assert out == ""


def test_path_to_a_missing_folder(capsys, tmp_path):
    missing = tmp_path / "nope"
    code, out, err = run(capsys, "exercise-01", "--path", str(missing))
    assert code == 2
    assert_one_clear_error(err, f"no folder at {missing}", "--path")


def test_invalid_labs_file(capsys, tmp_path):
    bad = tmp_path / "labs.yaml"
    bad.write_text("exercises:\n  - id: exercise-01\n    title: [unclosed\n", encoding="utf-8")
    code, out, err = run(capsys, "exercise-01", "--labs", str(bad))
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("error: labs.yaml is invalid, nothing graded.")
    assert str(bad) in err and "not valid YAML at line" in err


def test_invalid_labs_lists_every_error(capsys, tmp_path):
    bad = tmp_path / "labs.yaml"
    bad.write_text(
        "exercises:\n  - id: exercise-01\n    title: T\n    folder: f\n    checks:\n"
        "      - {id: a, kind: nope, points: 1, title: A}\n      - {id: b, kind: no_todo, points: -1, title: B}\n",
        encoding="utf-8",
    )
    code, _, err = run(capsys, "list", "--labs", str(bad))
    assert code == 2
    assert "2 error(s)" in err
    assert "exercises[0].checks[0].kind" in err and "exercises[0].checks[1].points" in err


def test_no_engine(capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    code, out, err = run(capsys, "exercise-01", "--path", str(SOLUTION))
    assert code == 2
    assert_one_clear_error(err, "no Docker engine answered at", NO_ENGINE, "DOCKER_HOST")
    assert out == ""


def test_clean_without_engine(capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    code, _, err = run(capsys, "clean")
    assert code == 2
    assert_one_clear_error(err, "no Docker engine answered")


@pytest.mark.parametrize("url", ["ssh://grader@build-2.invalid", "tcp://build-3.invalid:2376"])
def test_an_engine_on_another_machine_is_asked_like_any_other(url, capsys, monkeypatch):
    """No refusal by address: the grader reaches learner containers through the engine, wherever it runs."""
    import docker

    asked = []

    def from_env(*args, **kwargs):
        asked.append(kwargs)
        raise docker.errors.DockerException("no route to the engine")

    monkeypatch.setenv("DOCKER_HOST", url)
    monkeypatch.setattr(docker, "from_env", from_env)
    code, out, err = run(capsys, "exercise-01", "--path", str(SOLUTION))
    assert code == 2 and out == ""
    assert_one_clear_error(err, "no Docker engine answered", url)
    assert asked and asked[0]["use_ssh_client"] is url.startswith("ssh://")  # ssh:// through the ssh binary


def test_a_batch_takes_an_engine_on_another_machine(monkeypatch):
    from grader.engine import pool as engines

    class Client:
        def version(self):
            return {"Version": "28.1.1"}

        def close(self):
            pass

    contacted = []
    monkeypatch.setattr(engines, "client_for", lambda url, **kwargs: contacted.append(url) or Client())
    engine = engines.Engine("tcp://10.20.30.40:2376", jobs=1)
    assert engine.connect() is True
    assert contacted == ["tcp://10.20.30.40:2376"] and engine.version == "28.1.1" and not engine.dead


def test_list(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0
    assert err == ""
    (line,) = [line for line in out.splitlines() if line.startswith("exercise-01")]
    assert "Your first ML API image" in line and "100 points" in line and "exercises/exercise-01" in line


def test_list_with_explicit_labs(capsys):
    code, out, _ = run(capsys, "list", "--labs", str(LABS))
    assert code == 0 and "exercise-01" in out


def test_no_arguments_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main([])
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_environment_guard_is_active():
    assert os.environ["DOCKER_HOST"] == NO_ENGINE
