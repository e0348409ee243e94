"""What the grader does differently on Podman's Docker API, tested without an engine."""

from __future__ import annotations

import io
import tarfile
import time
from types import SimpleNamespace

import pytest

from grader import grading
from grader.engine import compose
from grader.dockerfile import parse_text
from grader.errors import EngineUnavailable
from grader.engine.classic import STEP_LINE
from grader.engine.podman import _podman_dockerfile, podman_build_context, podman_health_due

DOCKERFILE = """FROM python:3.11-slim
ARG APP_VERSION=dev
ENV APP_VERSION=$APP_VERSION
CMD ["python", "app.py"]
"""


def test_podman_step_lines_are_read_like_docker_ones():
    assert STEP_LINE.match("STEP 4/7: RUN pip install -r requirements.txt").groups() == ("4", "7", "RUN pip install -r requirements.txt")
    assert STEP_LINE.match("Step 4/7 : RUN pip install -r requirements.txt").group(1) == "4"


def test_the_session_label_is_one_final_step_not_on_every_cached_step():
    text, added = _podman_dockerfile(DOCKERFILE, {"org.labkit.session": "abc"}, None)
    assert added == 1
    assert text.rstrip().splitlines()[-1] == 'LABEL "org.labkit.session"="abc"'
    assert text.startswith(DOCKERFILE.rstrip())


def test_build_arguments_bust_the_cache_after_their_declaration_with_a_hash_only():
    secret = "labkit-fake-secret-7f3a"
    text, added = _podman_dockerfile(DOCKERFILE, {"org.labkit.session": "abc"}, {"APP_VERSION": secret})
    lines = text.splitlines()
    assert added == 2
    assert lines[1] == "ARG APP_VERSION=dev" and lines[2].startswith("ARG LABKIT_BUILD_ARGS=")
    assert secret not in text  # a value (a secret) never enters the history
    other, _ = _podman_dockerfile(DOCKERFILE, {"org.labkit.session": "abc"}, {"APP_VERSION": "other"})
    assert other.splitlines()[2] != lines[2]  # another value, another cache key
    assert [i.keyword for i in parse_text(text).commands()] == ["FROM", "ARG", "ARG", "ENV", "CMD", "LABEL"]


def test_the_context_keeps_every_file_and_rewrites_only_the_dockerfile():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:") as tar:
        for name, body in (("Dockerfile", DOCKERFILE.encode()), ("app.py", b"print('hi')\n")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    raw.seek(0)
    rebuilt, added = podman_build_context(raw, {"org.labkit.session": "abc"}, None)
    with tarfile.open(fileobj=rebuilt, mode="r:") as tar:
        files = {m.name: tar.extractfile(m).read().decode() for m in tar}
    assert added == 1 and files["app.py"] == "print('hi')\n"
    assert files["Dockerfile"].endswith('LABEL "org.labkit.session"="abc"\n')


def _state(status, ended_seconds_ago=None):
    log = []
    if ended_seconds_ago is not None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - ended_seconds_ago)) + ".5Z"
        log = [{"Start": stamp, "End": stamp, "ExitCode": 1}]
    return {"Running": True, "Health": {"Status": status, "Log": log}}


ATTRS = {"Config": {"Healthcheck": {"Interval": 2_000_000_000}}}


def test_a_health_probe_is_due_at_the_containers_interval():
    assert podman_health_due(_state("starting"), ATTRS)  # never probed
    assert not podman_health_due(_state("starting", ended_seconds_ago=0.5), ATTRS)
    assert podman_health_due(_state("starting", ended_seconds_ago=3), ATTRS)
    assert not podman_health_due({"Running": False, "Health": {"Status": "starting"}}, ATTRS)
    assert not podman_health_due({"Running": True}, ATTRS)  # no HEALTHCHECK at all


def test_exec_form_compose_health_checks_become_one_quoted_shell_line():
    service = {"healthcheck": {"test": ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://x')"]}}
    compose.podman_healthcheck(service)
    assert service["healthcheck"]["test"] == [
        "CMD-SHELL", "python -c 'import urllib.request; urllib.request.urlopen('\"'\"'http://x'\"'\"')'"
    ]
    missing = {"healthcheck": {"test": ["CMD", "curl", "-f", "http://localhost:5001/health"]}}
    compose.podman_healthcheck(missing)
    assert missing["healthcheck"]["test"] == ["CMD-SHELL", "curl -f http://localhost:5001/health"]  # sh names a missing curl
    shell = {"healthcheck": {"test": "curl -f http://x || exit 1"}}
    compose.podman_healthcheck(shell)
    assert shell["healthcheck"]["test"] == "curl -f http://x || exit 1"


def test_graded_document_rewrites_health_checks_only_on_podman(tmp_path):
    document = {"services": {"api": {"image": "x", "healthcheck": {"test": ["CMD", "sh", "-c", "exit 0"]}}}}
    labels = {"org.labkit.session": "s", "org.labkit.exercise": "e"}
    assert compose.graded_document(document, tmp_path, labels)["services"]["api"]["healthcheck"]["test"][0] == "CMD"
    podman = compose.graded_document(document, tmp_path, labels, podman=True)
    assert podman["services"]["api"]["healthcheck"]["test"] == ["CMD-SHELL", "sh -c 'exit 0'"]


def _ctx(manifest, healthcheck):
    dockerfile = parse_text("FROM python:3.11-slim\nHEALTHCHECK CMD python hc.py\n")
    image = {"ManifestType": manifest, "Config": {"Healthcheck": healthcheck}}
    return SimpleNamespace(image=image, dockerfile=dockerfile)


def test_an_oci_image_that_lost_its_healthcheck_is_not_gradable():
    with pytest.raises(EngineUnavailable, match="OCI"):
        grading._refuse_dropped_healthcheck(_ctx("application/vnd.oci.image.manifest.v1+json", None))
    grading._refuse_dropped_healthcheck(_ctx("application/vnd.docker.distribution.manifest.v2+json", None))  # the learner's to lose
    grading._refuse_dropped_healthcheck(_ctx("application/vnd.oci.image.manifest.v1+json", {"Test": ["CMD", "x"]}))
