"""exercise-03's checks (grader/checks/container.py) without an engine: fake containers and a fake session."""

from __future__ import annotations

import pytest

from fakes import FakeSession
from unit_helpers import REPO_ROOT, FakeContainer, built, running, spec_of
from grader import spec
from grader.kinds import registry
from grader.checks.container import is_root, probe_program, runs_gunicorn
from grader.context import Context
from grader.dockerfile import parse_text

SOLUTION_TEXT = (REPO_ROOT / "solutions" / "exercise-03" / "Dockerfile").read_text()
GUNICORN = ["gunicorn", "--bind", "0.0.0.0:5001", "--workers", "2", "flask_api_v2:app"]
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HEALTHCHECK = {"Test": ["CMD", "python", "healthcheck.py"], "Interval": 2_000_000_000}
GUNICORN_LOGS = """\
[2026-11-29 00:23:36 +0000] [1] [INFO] Starting gunicorn 27.0.1
[2026-11-29 00:23:36 +0000] [1] [INFO] Listening at: http://0.0.0.0:5001 (1)
[2026-11-29 00:23:36 +0000] [7] [INFO] Booting worker with pid: 7
"""
DEV_SERVER_LOGS = """\
Serving iris model on 0.0.0.0:5001 (development server)
 * Serving Flask app 'flask_api_v2'
WARNING: This is a development server. Do not use it in a production deployment. Use a production WSGI server instead.
 * Running on all addresses (0.0.0.0)
"""


def line_of(text: str, prefix: str) -> str:
    """Dockerfile:N of the last line starting with prefix."""
    numbers = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith(prefix)]
    return f"Dockerfile:{numbers[-1]}"


class Container(FakeContainer):
    """A fake container that answers each exec command from a table."""

    def __init__(self, outputs: dict[str, tuple[int, str]] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.outputs = outputs or {}

    def exec_output(self, command: list[str]) -> tuple[int, str]:
        self.commands.append(list(command))
        return self.outputs.get(" ".join(command), (126, "OCI runtime exec failed: container is not running"))


def cmdline(argv: list[str]) -> tuple[int, str]:
    return 0, "\0".join(argv) + "\0"


@pytest.fixture(scope="module")
def exercise03(exercises):
    found = spec.find_exercise(exercises, "exercise-03")
    assert found is not None
    return found


@pytest.fixture
def ctx_for(exercise03):
    def make(text=SOLUTION_TEXT, config=None, container=None, session=None, ready=True) -> Context:
        base = {"User": "appuser", "Env": [PATH, "PYTHONUNBUFFERED=1"], "Cmd": GUNICORN, "Healthcheck": HEALTHCHECK}
        ctx = Context(exercise=exercise03, submission=REPO_ROOT / "solutions" / "exercise-03", dockerfile=parse_text(text))
        ctx.build = built()
        ctx.image = {"Config": {**base, **(config or {})}}
        ctx.run = running(container or Container(), ready=ready)
        ctx.session = session or FakeSession()
        return ctx

    return make


def run(exercise03, kind, ctx, **overrides):
    params = {**spec_of(exercise03, kind).params, **overrides}
    return registry()[kind].func(ctx, params)


# -- helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (GUNICORN, True),
        (["/usr/local/bin/python", "/usr/local/bin/gunicorn", "-b", "0.0.0.0:5001", "flask_api_v2:app"], True),
        (["python3", "-m", "gunicorn", "flask_api_v2:app"], True),
        (["python", "flask_api_v2.py"], False),
        (["/bin/sh", "-c", "gunicorn flask_api_v2:app"], False),
        ([], False),
    ],
)
def test_runs_gunicorn(argv, expected):
    assert runs_gunicorn(argv) is expected


@pytest.mark.parametrize("user, root", [("", True), ("root", True), ("0", True), ("0:0", True), ("root:app", True), ("appuser", False), ("1000:1000", False)])
def test_is_root(user, root):
    assert is_root(user) is root


@pytest.mark.parametrize(
    "test, program",
    [
        (["CMD", "python", "healthcheck.py"], "python"),
        (["CMD-SHELL", "curl -f http://127.0.0.1:5001/health || exit 1"], "curl"),
        (["CMD-SHELL", "PYTHONWARNINGS=ignore python healthcheck.py"], "python"),
        (["NONE"], None),
        ([], None),
    ],
)
def test_probe_program(test, program):
    assert probe_program(test) == program


# -- gunicorn_pid1 ------------------------------------------------------------------------------


def test_gunicorn_pid1_passes_when_pid1_is_gunicorn(exercise03, ctx_for):
    container = Container({"cat /proc/1/cmdline": cmdline(["/usr/bin/python3", "/usr/local/bin/gunicorn", *GUNICORN[1:]])})
    outcome = run(exercise03, "gunicorn_pid1", ctx_for(container=container))
    assert outcome.passed and "gunicorn" in outcome.message
    assert outcome.location == line_of(SOLUTION_TEXT, "CMD")


def test_gunicorn_pid1_explains_shell_form(exercise03, ctx_for):
    text = SOLUTION_TEXT.replace(parse_cmd_line(SOLUTION_TEXT), "CMD gunicorn --bind 0.0.0.0:5001 flask_api_v2:app")
    shell = ["/bin/sh", "-c", "gunicorn --bind 0.0.0.0:5001 flask_api_v2:app"]
    container = Container({"cat /proc/1/cmdline": cmdline(shell)})
    outcome = run(exercise03, "gunicorn_pid1", ctx_for(text, {"Cmd": shell}, container))
    assert not outcome.passed
    assert "shell form" in outcome.message and "/bin/sh" in outcome.message and "SIGTERM" in outcome.message
    assert outcome.location == line_of(text, "CMD")


def test_gunicorn_pid1_explains_the_dev_server(exercise03, ctx_for):
    dev = ["python", "flask_api_v2.py"]
    outcome = run(exercise03, "gunicorn_pid1", ctx_for(config={"Cmd": dev}, container=Container({"cat /proc/1/cmdline": cmdline(dev)})))
    assert not outcome.passed
    assert "`python flask_api_v2.py`" in outcome.message and "gunicorn" in outcome.message


def test_gunicorn_pid1_accepts_an_init_in_front(exercise03, ctx_for):
    argv = ["/usr/bin/tini", "--", "gunicorn", "flask_api_v2:app"]
    assert run(exercise03, "gunicorn_pid1", ctx_for(container=Container({"cat /proc/1/cmdline": cmdline(argv)}))).passed


def test_gunicorn_pid1_when_the_container_is_gone(exercise03, ctx_for):
    gone = Container(state={"Running": False, "Status": "exited", "ExitCode": 3})
    outcome = run(exercise03, "gunicorn_pid1", ctx_for(container=gone))
    assert not outcome.passed and "exit code 3" in outcome.message


def parse_cmd_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("CMD"))


# -- non_root_user ------------------------------------------------------------------------------


def test_non_root_user_passes_with_a_user_and_a_nonzero_uid(exercise03, ctx_for):
    outcome = run(exercise03, "non_root_user", ctx_for(container=Container({"id -u": (0, "1000\n")})))
    assert outcome.passed and "appuser" in outcome.message and "1000" in outcome.message
    assert outcome.location == line_of(SOLUTION_TEXT, "USER")


def test_non_root_user_without_user_points_at_the_cmd(exercise03, ctx_for):
    text = "\n".join(line for line in SOLUTION_TEXT.splitlines() if not line.startswith(("USER", "RUN useradd"))) + "\n"
    outcome = run(exercise03, "non_root_user", ctx_for(text, {"User": ""}, Container({"id -u": (0, "0\n")})))
    assert not outcome.passed and "no USER" in outcome.message
    assert outcome.location == line_of(text, "CMD")


@pytest.mark.parametrize("user", ["root", "0", "0:0"])
def test_non_root_user_rejects_root_by_name(exercise03, ctx_for, user):
    text = SOLUTION_TEXT.replace("USER appuser", f"USER {user}")
    outcome = run(exercise03, "non_root_user", ctx_for(text, {"User": user}))
    assert not outcome.passed and outcome.location == line_of(text, "USER")


def test_non_root_user_checks_the_uid_inside(exercise03, ctx_for):
    outcome = run(exercise03, "non_root_user", ctx_for(container=Container({"id -u": (0, "0\n")})))
    assert not outcome.passed and "prints 0" in outcome.message
    broken = run(exercise03, "non_root_user", ctx_for(container=Container({"id -u": (1, "id: cannot find name for user ID")})))
    assert not broken.passed and "useradd" in broken.message


# -- healthcheck_healthy -------------------------------------------------------------------------


def test_healthcheck_passes_when_healthy(exercise03, ctx_for):
    session = FakeSession(present={"/usr/bin/python"})
    outcome = run(exercise03, "healthcheck_healthy", ctx_for(session=session))
    assert outcome.passed and outcome.location == line_of(SOLUTION_TEXT, "HEALTHCHECK")
    assert "/usr/local/bin/python" in session.asked[0] and "/usr/bin/python" in session.asked[0]


def test_healthcheck_missing(exercise03, ctx_for):
    outcome = run(exercise03, "healthcheck_healthy", ctx_for(config={"Healthcheck": None}))
    assert not outcome.passed and "no HEALTHCHECK" in outcome.message
    disabled = run(exercise03, "healthcheck_healthy", ctx_for(config={"Healthcheck": {"Test": ["NONE"]}}))
    assert not disabled.passed


def test_healthcheck_with_curl_in_a_slim_image_says_so(exercise03, ctx_for):
    text = SOLUTION_TEXT.replace('CMD ["python", "healthcheck.py"]', "CMD curl -f http://127.0.0.1:5001/health || exit 1")
    config = {"Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://127.0.0.1:5001/health || exit 1"]}}
    session = FakeSession(present={"/usr/bin/python"}, health=("unhealthy", "/bin/sh: 1: curl: not found"))
    outcome = run(exercise03, "healthcheck_healthy", ctx_for(text, config, session=session))
    assert not outcome.passed
    assert "`curl`" in outcome.message and "healthcheck.py" in outcome.message and '["python", "healthcheck.py"]' not in outcome.message
    assert outcome.location == line_of(text, "HEALTHCHECK")


@pytest.mark.parametrize(
    "health, words",
    [
        (("unhealthy", "unhealthy: [Errno 111] Connection refused"), "Connection refused"),
        (("starting", ""), "still `starting`"),
        (("none", ""), "stopped before"),
    ],
)
def test_healthcheck_reports_how_it_ended(exercise03, ctx_for, health, words):
    session = FakeSession(present={"/usr/local/bin/python"}, health=health)
    outcome = run(exercise03, "healthcheck_healthy", ctx_for(session=session))
    assert not outcome.passed and words in outcome.message


def test_healthcheck_with_an_absolute_program(exercise03, ctx_for):
    config = {"Healthcheck": {"Test": ["CMD", "/opt/probe"]}}
    session = FakeSession(present=set())
    outcome = run(exercise03, "healthcheck_healthy", ctx_for(config=config, session=session))
    assert not outcome.passed and session.asked == [["/opt/probe"]]


# -- stops_quickly --------------------------------------------------------------------------------


def test_stops_quickly_passes_and_records_the_time(exercise03, ctx_for):
    session = FakeSession()
    ctx = ctx_for(session=session)
    outcome = run(exercise03, "stops_quickly", ctx)
    assert outcome.passed and "0.8 s" in outcome.message
    assert ctx.facts["stop_seconds"] == 0.8 and session.stopped == [5]


def test_stops_quickly_explains_shell_form(exercise03, ctx_for):
    session = FakeSession(stop=(5.3, {"Running": False, "ExitCode": 137}))
    shell = ["/bin/sh", "-c", "gunicorn flask_api_v2:app"]
    text = SOLUTION_TEXT.replace(SOLUTION_TEXT.splitlines()[-1], "CMD gunicorn flask_api_v2:app")  # as the image says
    outcome = run(exercise03, "stops_quickly", ctx_for(text=text, config={"Cmd": shell}, session=session))
    assert not outcome.passed
    assert "5.3 s" in outcome.message and "killed" in outcome.message and "/bin/sh is PID 1" in outcome.message


def test_stops_quickly_explains_python_as_pid1(exercise03, ctx_for):
    session = FakeSession(stop=(5.2, {"Running": False, "ExitCode": 137}))
    outcome = run(exercise03, "stops_quickly", ctx_for(config={"Cmd": ["python", "flask_api_v2.py"]}, session=session))
    assert not outcome.passed and "PID 1 is `python`" in outcome.message and "SIGTERM" in outcome.message


def test_stops_quickly_slow_but_clean_exit(exercise03, ctx_for):
    session = FakeSession(stop=(3.4, {"Running": False, "ExitCode": 0}))
    outcome = run(exercise03, "stops_quickly", ctx_for(session=session))
    assert not outcome.passed and "but slowly" in outcome.message


def test_stops_quickly_needs_a_running_container(exercise03, ctx_for):
    session = FakeSession()
    exited = Container(state={"Running": False, "Status": "exited", "ExitCode": 0})
    outcome = run(exercise03, "stops_quickly", ctx_for(container=exited, session=session))
    assert not outcome.passed and session.stopped == []


# -- unbuffered_logs and no_dev_server ----------------------------------------------------------


def test_unbuffered_logs_passes_with_env_and_a_startup_line(exercise03, ctx_for):
    outcome = run(exercise03, "unbuffered_logs", ctx_for(container=Container(logs=GUNICORN_LOGS)))
    assert outcome.passed and "Listening at" in outcome.message


def test_unbuffered_logs_needs_the_env(exercise03, ctx_for):
    outcome = run(exercise03, "unbuffered_logs", ctx_for(config={"Env": [PATH]}, container=Container(logs=GUNICORN_LOGS)))
    assert not outcome.passed and "with ENV" in outcome.message and "PYTHONUNBUFFERED=1" not in outcome.message


def test_unbuffered_logs_needs_a_startup_line(exercise03, ctx_for):
    outcome = run(exercise03, "unbuffered_logs", ctx_for(container=Container(logs="")))
    assert not outcome.passed and outcome.location == line_of(SOLUTION_TEXT, "CMD")


def test_no_dev_server(exercise03, ctx_for):
    assert run(exercise03, "no_dev_server", ctx_for(container=Container(logs=GUNICORN_LOGS))).passed
    outcome = run(exercise03, "no_dev_server", ctx_for(container=Container(logs=DEV_SERVER_LOGS)))
    assert not outcome.passed and "gunicorn" in outcome.message and outcome.location == line_of(SOLUTION_TEXT, "CMD")


def test_exercise_03_totals_100(exercise03):
    assert exercise03.max_score == 100
    kinds = {check.kind for check in exercise03.checks}
    assert {"gunicorn_pid1", "non_root_user", "healthcheck_healthy", "stops_quickly", "unbuffered_logs", "no_dev_server"} <= kinds
