"""grader/engine/replay.py's limits, on a fake session: a hostile commands.sh cannot hold or fill the machine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tests.unit.unit_helpers import REPO_ROOT  # noqa: F401  (puts the repository on sys.path)

import docker.errors

from grader.engine import replay
from grader.commands import read_plan


class FakeSession:
    """Only what the read-only verbs and the limits touch."""

    id = "fake0001"
    exercise_id = "exercise-07"

    def __init__(self):
        self.client = SimpleNamespace(api=SimpleNamespace(containers=lambda **kwargs: [], inspect_container=self._gone))

    @staticmethod
    def _gone(container_id):
        raise docker.errors.NotFound("gone")

    def inspect_image(self, reference):
        return None


def replayer(tmp_path: Path) -> replay.Replayer:
    return replay.Replayer(FakeSession(), tmp_path, port=5001, start_line="x", prediction={}, build_timeout=10)


def test_steps_beyond_the_limit_are_not_replayed(tmp_path):
    facts = replayer(tmp_path).run(read_plan(b"docker ps\n" * (replay.MAX_STEPS + 5)))
    assert [s.ok for s in facts.steps].count(True) == replay.MAX_STEPS
    assert all(s.refusal == "replay.limit" for s in facts.steps[replay.MAX_STEPS:])


def test_a_run_beyond_the_container_limit_is_refused_before_the_engine(tmp_path):
    runner = replayer(tmp_path)
    gone = SimpleNamespace(running=SimpleNamespace(id="removed"))
    runner.containers = {f"c{n}": gone for n in range(replay.MAX_CONTAINERS)}
    facts = runner.run(read_plan(b"docker run -d --name x my-iris-api:v1\n"))
    assert not facts.steps[0].ok and facts.steps[0].refusal == "replay.too_many_containers"


def test_a_name_the_engine_would_refuse_fails_its_step(tmp_path):
    facts = replayer(tmp_path).run(read_plan(b"docker build -t My-Api:v1 .\n"))
    assert not facts.steps[0].ok and "invalid reference format" in facts.steps[0].error


def test_the_graders_names_never_collide_with_the_learners(tmp_path):
    runner = replayer(tmp_path)
    assert runner.grader_image("my-iris-api:v1") == "labkit-replay-fake0001/my-iris-api:v1"
    assert runner.grader_image("my-iris-api") == "labkit-replay-fake0001/my-iris-api:latest"
    assert runner.grader_container("my-api-container") == "labkit-exercise-07-fake0001-my-api-container"


def test_clean_removes_registry_storage_nobody_serves(tmp_path):
    from grader.engine.registry import sweep_registries

    (tmp_path / "labkit-registry-dead").mkdir()
    (tmp_path / "unrelated").mkdir()
    assert sweep_registries(tmp_path) == 1
    assert not (tmp_path / "labkit-registry-dead").exists() and (tmp_path / "unrelated").exists()
