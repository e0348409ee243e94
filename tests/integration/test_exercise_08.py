"""exercise-08 on the real engine: publish.sh against a registry of the grading's own, its mistakes, nothing left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.model import Status
from grader.engine.registry import start_process
from tests.integration.conftest import grade_folder, labelled, lost, result

pytestmark = pytest.mark.usefixtures("no_leftovers", "registry_program", "no_registry_left")

RMI_BOTH = "docker rmi my-iris-api:1.0.0 $REGISTRY/my-iris-api:1.0.0\n"
LABELS = """LABEL org.opencontainers.image.version="1.0.0" \\
      org.opencontainers.image.source="https://github.com/example/docker-ml-lab"
"""


@pytest.fixture(scope="module")
def registry_program():
    """Debian's docker-registry (make setup installs it as root); skipped without it, a failure under CI=true."""
    program = shutil.which("docker-registry")
    if program is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs docker-registry (scripts/setup.sh installs it as root on Debian)")
        pytest.skip("no docker-registry: apt-get install docker-registry (make setup does it as root)")
    return program


def _registries() -> tuple[set[str], set[str]]:
    """The registry processes and storage folders of the grader on this machine."""
    folders = {str(p) for p in Path(tempfile.gettempdir()).glob("labkit-registry-*")}
    found = subprocess.run(["pgrep", "-f", "docker-registry serve"], capture_output=True, text=True).stdout.split()
    return set(found), folders


@pytest.fixture
def no_registry_left():
    """Fails when a grading leaves a registry process or its storage behind."""
    processes, folders = _registries()
    yield
    now_processes, now_folders = _registries()
    assert now_processes - processes == set(), "a registry process outlived its grading"
    assert now_folders - folders == set(), "a registry's storage outlived its grading"


@pytest.fixture(scope="module")
def exercise08(exercise_spec):
    return exercise_spec("exercise-08")


@pytest.fixture
def submission(repo, tmp_path):
    """A copy of the solution with publish.sh and the Dockerfile edited."""

    def make(edit=lambda text: text, edit_dockerfile=lambda text: text):
        folder = tmp_path / f"exercise-08-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(repo / "solutions" / "exercise-08", folder)
        for name, change in (("publish.sh", edit), ("Dockerfile", edit_dockerfile)):
            path = folder / name
            path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
        return folder

    return make


def test_the_registry_runs_on_loopback_and_goes_with_its_storage(registry_program):
    with start_process(registry_program) as registry:
        host, port = registry.address.split(":")
        assert host == "127.0.0.1" and int(port) > 1024 and registry.tags("nothing") == []
        assert registry.folder.is_dir()
    assert registry.process.poll() is not None and not registry.folder.exists()


def test_clean_keeps_a_live_registry_and_removes_a_dead_ones_storage(registry_program, tmp_path):
    from grader.engine.registry import sweep_registries

    with start_process(registry_program) as registry:
        dead = Path(tempfile.mkdtemp(prefix="labkit-registry-"))
        assert sweep_registries() >= 1
        assert registry.folder.is_dir() and not dead.exists()
        assert registry.tags("x") == []  # still serving


def test_solution_gets_full_marks(exercise08, repo, engine):
    report = grade_folder(exercise08, repo / "solutions" / "exercise-08", engine)
    assert {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED} == {}
    assert report.score == report.max_score == 100
    assert report.facts["registry"] == "docker-registry"


def test_starter_gets_little(exercise08, repo, engine):
    report = grade_folder(exercise08, repo / "exercises" / "exercise-08", engine)
    assert lost(report) == {
        "dockerfile-no-todo": 5, "publish-no-todo": 5, "oci-labels": 15, "version-tag": 15, "digest-matches": 15,
        "pulled-by-digest": 15, "runs-by-digest": 20,
    }
    assert report.score == 10


MISTAKES = {
    "no-labels": (dict(edit_dockerfile=lambda text: text.replace(LABELS, "")), {"oci-labels": 15}),
    "only-latest-pushed": (
        dict(edit=lambda text: text.replace("$REGISTRY/my-iris-api:1.0.0", "$REGISTRY/my-iris-api")), {"version-tag": 15},
    ),
    "local-copy-never-removed": (dict(edit=lambda text: text.replace(RMI_BOTH, "")), {"pulled-by-digest": 15}),
    "one-local-name-left": (
        dict(edit=lambda text: text.replace(RMI_BOTH, "docker rmi my-iris-api:1.0.0\n")), {"pulled-by-digest": 15},
    ),
    "pulled-by-tag": (
        dict(edit=lambda text: text.replace("docker pull $REGISTRY/my-iris-api@$DIGEST", "docker pull $REGISTRY/my-iris-api:1.0.0")),
        {"pulled-by-digest": 15},
    ),
    "run-by-tag": (  # after the pull by digest the image has no tag: the grader never pulls for a run
        dict(edit=lambda text: text.replace("--name my-api-container $REGISTRY/my-iris-api@$DIGEST", "--name my-api-container $REGISTRY/my-iris-api:1.0.0")),
        {"runs-by-digest": 20},
    ),
    "pull-from-docker-hub": (
        dict(edit=lambda text: text.replace("# Clean up.\n", "docker pull python:3.11-slim\n")), {"commands-allowed": 10},
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_mistake_loses_exactly_its_points(mistake, exercise08, submission, engine):
    edits, expected_lost = MISTAKES[mistake]
    report = grade_folder(exercise08, submission(**edits), engine)
    assert lost(report) == expected_lost, {r.spec.id: r.message for r in report.results}
    assert report.score == 100 - sum(expected_lost.values())


def test_an_image_pushed_elsewhere_is_refused_and_never_leaves(exercise08, submission, engine):
    folder = submission(edit=lambda text: text.replace("docker push $REGISTRY/my-iris-api:1.0.0", "docker push docker.io/someone/my-iris-api:1.0.0"))
    report = grade_folder(exercise08, folder, engine)
    assert "only the registry the grader gives you" in result(report, "commands-allowed").message
    assert result(report, "version-tag").status is Status.FAILED


@pytest.fixture
def registry_image(engine, registry_program, no_leftovers, tmp_path):
    """A stand-in for the registry:2 image (no registry is reachable here): this machine's docker-registry in an image."""
    from grader.engine.limits import SESSION_LABEL

    shutil.copy(registry_program, tmp_path / "registry")
    (tmp_path / "config.yml").write_text(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: 0.0.0.0:5000\n", encoding="utf-8"
    )
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11-slim\nCOPY registry /bin/registry\nCOPY config.yml /etc/docker/registry/config.yml\n"
        'EXPOSE 5000\nENTRYPOINT ["/bin/registry", "serve"]\nCMD ["/etc/docker/registry/config.yml"]\n',
        encoding="utf-8",
    )
    tag = f"labkit-test-registry:{no_leftovers.rstrip('-')}"
    image, _ = engine.images.build(path=str(tmp_path), tag=tag, labels={SESSION_LABEL: no_leftovers + "registry-image"}, rm=True, forcerm=True)
    try:
        yield tag
    finally:
        engine.images.remove(image.id, force=True)


def test_without_docker_registry_the_registry_2_image_serves(exercise08, repo, engine, registry_image, monkeypatch):
    from grader.engine import registry

    monkeypatch.setattr(registry, "REGISTRY_IMAGE", registry_image)
    monkeypatch.setattr(registry, "registry_program", lambda: None)
    report = grade_folder(exercise08, repo / "solutions" / "exercise-08", engine)
    assert report.facts["registry"] == "registry:2"
    assert report.score == 100, {r.spec.id: r.message for r in report.results if r.status is not Status.PASSED}


def test_without_any_registry_the_grading_is_not_a_score(exercise08, repo, engine, monkeypatch):
    from grader.engine import registry
    from grader.errors import EngineUnavailable

    monkeypatch.setattr(registry, "REGISTRY_IMAGE", "labkit-no-such-registry:0")
    monkeypatch.setattr(registry, "registry_program", lambda: None)
    with pytest.raises(EngineUnavailable, match="docker-registry"):
        grade_folder(exercise08, repo / "solutions" / "exercise-08", engine)


def _grading(repo: Path, folder: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "grader", "exercise-08", "--path", str(folder), "--no-record"],
        cwd=repo, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_push(process: subprocess.Popen) -> None:
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "replaying: docker push" in line:
            time.sleep(1.0)  # well into the push (it takes seconds)
            return
    pytest.fail("the push never started: " + "".join(seen)[-2000:])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_push_leaves_no_registry(sig, repo, engine):
    process = _grading(repo, repo / "solutions" / "exercise-08")
    try:
        _wait_for_push(process)
        assert _registries()[0], "the grading's registry should be running now"
        process.send_signal(sig)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    # no_leftovers and no_registry_left check the engine, the process and the storage


def test_a_killed_grading_takes_its_registry_with_it_and_clean_takes_the_rest(repo, engine, no_leftovers):
    """`python -m grader clean` sweeps every grader on the engine (other gradings too): its registry part is called here."""
    from grader.engine.registry import sweep_registries
    from grader.engine.sweep import remove_container

    process = _grading(repo, repo / "solutions" / "exercise-08")
    try:
        _wait_for_push(process)
    finally:
        process.kill()  # SIGKILL: no handler runs
        process.wait(timeout=10)
    deadline = time.monotonic() + 5
    while _registries()[0] and time.monotonic() < deadline:  # the death signal reaches the registry
        time.sleep(0.1)
    assert not _registries()[0], "the registry outlived its killed grader"
    assert sweep_registries() >= 1  # its storage
    containers, images, networks = labelled(engine, no_leftovers)  # this test's own leftovers only
    for container in containers:
        remove_container(engine, container)
    for image in images:
        engine.images.remove(image, force=True)
    for network in networks:
        engine.api.remove_network(network)
