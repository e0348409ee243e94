"""The local stand-in for python:3.11-slim is laid out and configured as the Docker Hub image.

scripts/make-standin-image.sh builds it where no registry answers. These tests run short
containers in it (labelled, removed on every path) and grade a learner's multi-stage variant
that only works with CPython in /usr/local. They skip on the real Docker Hub image, which
passes them anyway. LABKIT_STANDIN_IMAGE names another image to check (a new recipe being
tried under another tag); the default is the one the exercises build FROM.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from grader.engine.limits import SESSION_LABEL
from tests.integration.conftest import grade_folder

pytestmark = pytest.mark.usefixtures("no_leftovers")

IMAGE = os.environ.get("LABKIT_STANDIN_IMAGE", "python:3.11-slim")
OFFICIAL_PATH = "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SITE_PACKAGES = "/usr/local/lib/python3.11/site-packages"

# What a learner's program sees of the interpreter, as JSON.
LAYOUT_PROBE = """
import json, os, platform, shutil, site, subprocess, sys
pip_show = subprocess.run([sys.executable, "-m", "pip", "show", "pip"], capture_output=True, text=True).stdout
print(json.dumps({
    "prefix": sys.prefix, "base_prefix": sys.base_prefix, "exec_prefix": sys.exec_prefix,
    "site_packages": site.getsitepackages(),
    "version": platform.python_version(),
    "which": {name: shutil.which(name) for name in ("python", "python3", "pip", "pip3")},
    "usr_local_bin": sorted(os.listdir("/usr/local/bin")),
    "debian_python": [p for p in ("/usr/bin/python", "/usr/bin/python3", "/usr/bin/python3.11") if os.path.lexists(p)],
    "pip_location": [line.split(": ", 1)[1] for line in pip_show.splitlines() if line.startswith("Location: ")],
}))
"""

# A package with a console script installed by `pip install --prefix=/install` (offline: a
# local project, built with the image's own setuptools), then the tree copied to /usr/local as
# `COPY --from=builder /install /usr/local` does; the script and the module must work there.
PREFIX_PROBE = r"""
set -e
mkdir -p /tmp/demo/labkit_demo
printf 'def main():\n    print("labkit-demo works")\n' >/tmp/demo/labkit_demo/__init__.py
printf '[project]\nname = "labkit-demo"\nversion = "1.0"\n[project.scripts]\nlabkit-demo = "labkit_demo:main"\n[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n' >/tmp/demo/pyproject.toml
pip install --quiet --no-cache-dir --no-index --no-build-isolation --disable-pip-version-check \
    --root-user-action=ignore --prefix=/install /tmp/demo
test -x /install/bin/labkit-demo
test -f /install/lib/python3.11/site-packages/labkit_demo/__init__.py
cp -a /install/. /usr/local/
cd /
labkit-demo
python -c 'import labkit_demo; print(labkit_demo.__file__)'
"""  # noqa: E501  (the printf line writes a whole pyproject.toml: one shell line, kept verbatim)

# A learner's exercise-04: the builder installs into /install and trains with it; the
# runtime copies /install into /usr/local, as the official image's layout allows.
PREFIX_INSTALL_DOCKERFILE = """\
FROM python:3.11-slim AS builder
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --prefix=/install -r requirements.txt
COPY train.py .
RUN PYTHONPATH=/install/lib/python3.11/site-packages python train.py

FROM python:3.11-slim
WORKDIR /app
COPY --from=builder /install /usr/local
COPY flask_api_v2.py .
COPY --from=builder /app/iris_binary_model.pkl .
EXPOSE 5001
CMD ["python", "flask_api_v2.py"]
"""


@pytest.fixture(scope="module")
def standin(engine):
    """The image's inspect data; skips on the real Docker Hub image (it passes these anyway)."""
    import docker

    try:
        attrs = engine.api.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        if os.environ.get("CI") or os.environ.get("LABKIT_REQUIRE_ENGINE"):
            pytest.fail(f"{IMAGE} is not on the engine: `make setup` builds it")
        pytest.skip(f"{IMAGE} is not on the engine (run `make setup`)")
    if (attrs["Config"].get("Labels") or {}).get("org.labkit.standin") != "true":
        pytest.skip(f"{IMAGE} is the Docker Hub image, not a labkit stand-in")
    return attrs


def run(engine, image_id: str, command: list[str], prefix: str) -> str:
    """Run COMMAND in the image (no network) and return its stdout; the container goes on every path."""
    container = engine.containers.create(
        image_id, command, labels={SESSION_LABEL: f"{prefix}standin"}, network_disabled=True,
    )
    try:
        container.start()
        status = container.wait(timeout=120)
        assert status["StatusCode"] == 0, container.logs(stdout=True, stderr=True).decode()
        return container.logs(stdout=True, stderr=False).decode()
    finally:
        container.remove(force=True)


def test_config_is_the_official_images(standin):
    config = standin["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert list(env) == ["PATH", "LANG", "GPG_KEY", "PYTHON_VERSION", "PYTHON_SHA256"]
    assert env["PATH"] == OFFICIAL_PATH
    assert env["LANG"] == "C.UTF-8"
    assert re.fullmatch(r"[0-9A-F]{40}", env["GPG_KEY"])
    assert re.fullmatch(r"3\.11\.\d+", env["PYTHON_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", env["PYTHON_SHA256"])
    assert config["Cmd"] == ["python3"]
    assert not config.get("Entrypoint") and not config.get("ExposedPorts") and not config.get("WorkingDir")
    # Nothing the real image lacks, but the two labels setup.sh reads.
    assert set(config["Labels"]) == {"org.labkit.standin", "org.labkit.standin.recipe"}


def test_cpython_lives_in_usr_local(engine, standin, no_leftovers):
    facts = json.loads(run(engine, standin["Id"], ["python", "-c", LAYOUT_PROBE], no_leftovers))
    assert facts["prefix"] == facts["base_prefix"] == facts["exec_prefix"] == "/usr/local"
    assert facts["site_packages"] == [SITE_PACKAGES]
    assert facts["pip_location"] == [SITE_PACKAGES]
    assert facts["which"] == {name: f"/usr/local/bin/{name}" for name in ("python", "python3", "pip", "pip3")}
    assert {"python", "python3", "python3.11", "pip", "pip3"} <= set(facts["usr_local_bin"])
    assert facts["debian_python"] == []
    env = dict(item.split("=", 1) for item in standin["Config"]["Env"])
    assert facts["version"] == env["PYTHON_VERSION"]


def test_pip_prefix_tree_copies_into_usr_local(engine, standin, no_leftovers):
    # The probe fails unless /install has bin/labkit-demo and lib/python3.11/site-packages/.
    lines = run(engine, standin["Id"], ["sh", "-c", PREFIX_PROBE], no_leftovers).splitlines()
    assert lines[-2:] == ["labkit-demo works", f"{SITE_PACKAGES}/labkit_demo/__init__.py"]


def test_prefix_install_variant_gets_full_marks(exercise_spec, copy_solution, engine, standin):
    dockerfile = PREFIX_INSTALL_DOCKERFILE.replace("FROM python:3.11-slim", f"FROM {IMAGE}")
    folder = copy_solution("exercise-04", {"Dockerfile": lambda _: dockerfile})
    report = grade_folder(exercise_spec("exercise-04"), folder, engine)
    # A recipe on trial has another name, which the static base-image check reads in FROM.
    renamed = {"base-image"} if IMAGE != "python:3.11-slim" else set()
    lost = {r.spec.id: r.message for r in report.results if r.score < r.max_score and r.spec.id not in renamed}
    assert lost == {}
    assert report.score == report.max_score - sum(r.max_score for r in report.results if r.spec.id in renamed)
