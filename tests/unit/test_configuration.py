"""Configuration checks without an engine: ENTRYPOINT + CMD, ENV, a second container, build args, secrets."""

from __future__ import annotations

import pytest

from fakes import FakeSession
from unit_helpers import REPO_ROOT, FakeContainer, built, make_response, proc_net, running, tcp_line
from test_efficiency import HISTORY, docker_save_tar
from grader.checks import second_run
from grader.checks.image_contents import secret_values
from grader.grading import run_check
from grader.model import CheckSpec, Status

SOLUTION = (REPO_ROOT / "solutions" / "exercise-05" / "Dockerfile").read_text()
ENTRYPOINT = 'ENTRYPOINT ["python", "serve.py"]'
CMD = 'CMD ["--log-level", "info"]'
SECRET = "labkit-demo-token-3c9f1b7e5a20"
IMAGE = {
    "Id": "sha256:" + "1" * 64,
    "Size": 1,
    "Config": {
        "Env": ["PATH=/usr/local/bin", "PORT=5001", "MODEL_PATH=/app/iris_binary_model.pkl", "WORKERS=2", "APP_VERSION=dev"],
        "Entrypoint": ["python", "serve.py"],
        "Cmd": ["--log-level", "info"],
    },
}


def check(kind: str, **params) -> CheckSpec:
    return CheckSpec(id=kind.replace("_", "-"), kind=kind, points=10, title=kind, params=params)


def line_of(text: str, needle: str) -> str:
    return f"Dockerfile:{next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)}"


# -- entrypoint_with_default_args ---------------------------------------------------------------


def test_exec_entrypoint_with_default_args_passes(make_ctx):
    result = run_check(check("entrypoint_with_default_args"), make_ctx(SOLUTION))
    assert result.status is Status.PASSED
    assert result.location == line_of(SOLUTION, ENTRYPOINT)


@pytest.mark.parametrize(
    "old, new, words, where",
    [
        (ENTRYPOINT, "ENTRYPOINT python serve.py", 'shell form', "ENTRYPOINT python"),
        (ENTRYPOINT, "ENTRYPOINT []", "empty list", "ENTRYPOINT []"),
        (ENTRYPOINT + "\n" + CMD, 'CMD ["python", "serve.py", "--log-level", "info"]', "no ENTRYPOINT", "CMD ["),
        (CMD, "", "no CMD", "ENTRYPOINT ["),
        (CMD, "CMD --log-level info", "`CMD --log-level info` is shell form", "CMD --log-level"),
        (CMD, 'CMD ["python", "serve.py"]', "starts with the program", 'CMD ["python"'),
    ],
    ids=["shell-entrypoint", "empty-entrypoint", "no-entrypoint", "no-cmd", "shell-cmd", "cmd-repeats-program"],
)
def test_entrypoint_and_cmd_mistakes(make_ctx, old, new, words, where):
    text = SOLUTION.replace(old, new)
    assert text != SOLUTION
    result = run_check(check("entrypoint_with_default_args"), make_ctx(text))
    assert result.status is Status.FAILED
    assert words in result.message
    assert result.location == line_of(text, where)


def test_shell_entrypoint_message_points_to_the_json_form_without_writing_it(make_ctx):
    result = run_check(check("entrypoint_with_default_args"), make_ctx(SOLUTION.replace(ENTRYPOINT, "ENTRYPOINT python serve.py")))
    assert "JSON array" in result.message and '["python", "serve.py"]' not in result.message


# -- image_env_settings ------------------------------------------------------------------------------


def test_env_settings_present(make_ctx):
    ctx = make_ctx(SOLUTION, build=built(), image=IMAGE)
    result = run_check(check("image_env_settings", names=["PORT", "MODEL_PATH", "WORKERS"]), ctx)
    assert result.status is Status.PASSED
    assert "WORKERS=2" in result.message
    assert result.location == line_of(SOLUTION, "ENV PORT")


def test_env_settings_missing_are_named(make_ctx):
    image = {**IMAGE, "Config": {**IMAGE["Config"], "Env": ["PATH=/usr/bin", "PORT=5001"]}}
    ctx = make_ctx(SOLUTION, build=built(), image=image)
    result = run_check(check("image_env_settings", names=["PORT", "MODEL_PATH", "WORKERS"]), ctx)
    assert result.status is Status.FAILED
    assert "MODEL_PATH, WORKERS" in result.message and "with ENV" in result.message


# -- a second container ----------------------------------------------------------------------------------


def answering(health=None, prediction=1):
    """A responder: GET /health gives `health`, POST /predict_iris gives `prediction`."""

    def respond(method, path, kwargs):
        if method == "GET":
            return make_response(200, {"status": "ok", **(health or {})})
        return make_response(200, {"prediction": prediction})

    return respond


def _ready_ctx(make_ctx, session, text=SOLUTION, image=IMAGE, source=None):
    ctx = make_ctx(text, build=built(), image=image, session=session, run=running(FakeContainer()), submission=source)
    return ctx


ENV_PORT = dict(
    port=8080,
    environment={"WORKERS": "3"},
    expect={"port": 8080, "workers": 3},
    case={"features": [6.7, 3.0, 5.2, 2.3], "prediction": 1},
    source="serve.py",
    source_line="def settings_from_environment",
    timeout=2,
)
SOURCE = REPO_ROOT / "solutions" / "exercise-05"


def test_env_port_serves_on_the_port_it_is_given(make_ctx):
    session = FakeSession(container=FakeContainer(answering({"port": 8080, "workers": 3})))
    result = run_check(check("env_port", **ENV_PORT), _ready_ctx(make_ctx, session))
    assert result.status is Status.PASSED, result.message
    assert session.started == [{"port": 8080, "environment": {"PORT": "8080", "WORKERS": "3"}, "command": None, "mounts": None}]


def test_env_port_gives_up_early_on_a_port_written_in_the_code(make_ctx):
    listening_on_5001 = proc_net([tcp_line(0, "00000000:1389")])
    session = FakeSession(container=FakeContainer(proc_net=listening_on_5001), ready=False)
    ctx = _ready_ctx(make_ctx, session, source=SOURCE)
    result = run_check(check("env_port", **{**ENV_PORT, "timeout": 30}), ctx)
    assert result.status is Status.FAILED
    assert "0.0.0.0:5001, not on port 8080" in result.message
    assert result.duration < 5  # two looks, not the 30 s limit
    assert result.location.startswith("serve.py:")


def test_env_port_setting_not_read(make_ctx):
    session = FakeSession(container=FakeContainer(answering({"port": 8080, "workers": 1})))
    result = run_check(check("env_port", **ENV_PORT), _ready_ctx(make_ctx, session))
    assert result.status is Status.FAILED and "workers=1" in result.message


def test_env_port_wrong_prediction(make_ctx):
    session = FakeSession(container=FakeContainer(answering({"port": 8080, "workers": 3}, prediction=0)))
    result = run_check(check("env_port", **ENV_PORT), _ready_ctx(make_ctx, session))
    assert result.status is Status.FAILED and "instead of 1" in result.message


def test_env_port_container_refused(make_ctx):
    session = FakeSession(refuse='failed to create shim task: exec: "serve": executable file not found in $PATH: unknown')
    result = run_check(check("env_port", **ENV_PORT), _ready_ctx(make_ctx, session))
    assert result.status is Status.FAILED
    assert 'exec: "serve": executable file not found in $PATH' in result.message and "shim" not in result.message


def test_model_path_mount_answers_with_the_mounted_model(make_ctx):
    session = FakeSession(container=FakeContainer(answering(prediction=1)))
    params = dict(model="always_one_model.pkl", mount_at="/models/m.pkl", case={"features": [5.1, 3.5, 1.4, 0.2], "prediction": 1})
    result = run_check(check("model_path_mount", **params), _ready_ctx(make_ctx, session))
    assert result.status is Status.PASSED
    started = session.started[0]
    assert started["environment"] == {"MODEL_PATH": "/models/m.pkl"}
    (host, inside), = started["mounts"].items()
    assert host.endswith("grader/data/always_one_model.pkl") and inside == "/models/m.pkl"


def test_model_path_ignored(make_ctx):
    session = FakeSession(container=FakeContainer(answering(prediction=0)))
    params = dict(mount_at="/models/m.pkl", case={"features": [5.1, 3.5, 1.4, 0.2], "prediction": 1}, source="serve.py")
    result = run_check(check("model_path_mount", **params), _ready_ctx(make_ctx, session, source=SOURCE))
    assert result.status is Status.FAILED and "ignores MODEL_PATH" in result.message


def test_the_always_one_model_ships_with_the_grader():
    assert (second_run.DATA / "always_one_model.pkl").stat().st_size > 100


def test_args_reach_the_server(make_ctx):
    session = FakeSession(container=FakeContainer(answering({"log_level": "debug"})))
    params = dict(args=["--log-level", "debug"], expect={"log_level": "debug"})
    result = run_check(check("args_reach_server", **params), _ready_ctx(make_ctx, session))
    assert result.status is Status.PASSED
    assert session.started[0]["command"] == ["--log-level", "debug"]


def test_args_dropped_by_a_shell_form_entrypoint(make_ctx):
    session = FakeSession(container=FakeContainer(answering({"log_level": "info"})))
    image = {**IMAGE, "Config": {**IMAGE["Config"], "Entrypoint": ["/bin/sh", "-c", "python serve.py"]}}
    text = SOLUTION.replace(ENTRYPOINT, "ENTRYPOINT python serve.py")
    params = dict(args=["--log-level", "debug"], expect={"log_level": "debug"})
    result = run_check(check("args_reach_server", **params), _ready_ctx(make_ctx, session, text=text, image=image))
    assert result.status is Status.FAILED
    assert "shell-form ENTRYPOINT" in result.message and "log_level='info'" in result.message
    assert result.location == line_of(text, "ENTRYPOINT python")


def test_args_replace_a_cmd_without_entrypoint(make_ctx):
    session = FakeSession(refuse='OCI runtime create failed: exec: "--log-level": executable file not found in $PATH: unknown')
    image = {**IMAGE, "Config": {**IMAGE["Config"], "Entrypoint": None}}
    params = dict(args=["--log-level", "debug"], expect={"log_level": "debug"})
    result = run_check(check("args_reach_server", **params), _ready_ctx(make_ctx, session, image=image))
    assert result.status is Status.FAILED
    assert 'exec: "--log-level"' in result.message and "ENTRYPOINT" in result.message


# -- build_arg_changes_build --------------------------------------------------------------------------------


def _with_version(value_holder):
    """An image whose Env holds whatever APP_VERSION the last build got."""

    class Images(dict):
        def get(self, reference, default=None):
            version = (value_holder.builds[-1].buildargs or {}).get("APP_VERSION", "dev")
            return {**IMAGE, "Config": {**IMAGE["Config"], "Env": [f"APP_VERSION={version}"]}}

    return Images()


def test_build_arg_reaches_the_image(make_ctx):
    session = FakeSession()
    session.images = _with_version(session)
    ctx = _ready_ctx(make_ctx, session)
    result = run_check(check("build_arg_changes_build", arg="APP_VERSION", prefix="graded-"), ctx)
    assert result.status is Status.PASSED, result.message
    assert session.builds[0].buildargs["APP_VERSION"].startswith("graded-")
    assert "ENV APP_VERSION" in result.message and "2 of 12 steps" in result.message
    assert "Note" not in result.message  # the ARG comes after the pip install


def test_build_arg_before_the_install_is_pointed_out(make_ctx):
    text = SOLUTION.replace("ARG APP_VERSION=dev\n", "").replace("WORKDIR /app\n", "WORKDIR /app\nARG APP_VERSION=dev\n")
    session = FakeSession()
    session.images = _with_version(session)
    result = run_check(check("build_arg_changes_build", arg="APP_VERSION"), _ready_ctx(make_ctx, session, text=text))
    assert result.status is Status.PASSED
    assert f"before the install on line {line_of(text, 'RUN pip').split(':')[1]}" in result.message


def test_build_arg_not_declared(make_ctx):
    text = SOLUTION.replace("ARG APP_VERSION=dev\n", "")
    result = run_check(check("build_arg_changes_build", arg="APP_VERSION"), _ready_ctx(make_ctx, FakeSession(), text=text))
    assert result.status is Status.FAILED and "`APP_VERSION`" in result.message and "ARG APP_VERSION=dev" not in result.message


def test_build_arg_that_stays_in_the_build(make_ctx):
    session = FakeSession(images={"sha256:second": IMAGE})
    result = run_check(check("build_arg_changes_build", arg="APP_VERSION"), _ready_ctx(make_ctx, session))
    assert result.status is Status.FAILED
    assert "only while the image builds" in result.message
    assert result.location == line_of(SOLUTION, "ARG APP_VERSION")


# -- no_secret_in_image ------------------------------------------------------------------------------------


def test_secret_values_read_name_value_lines(tmp_path):
    env = tmp_path / ".env"
    env.write_text(f"# a comment\nMODEL_REGISTRY_TOKEN={SECRET}\nexport API_KEY='abcdefghij'\nSHORT=abc\nnot a line\n")
    assert secret_values(env, tmp_path / "missing") == {"MODEL_REGISTRY_TOKEN": SECRET, "API_KEY": "abcdefghij"}


def _secret_ctx(make_ctx, tmp_path, layers, config=None, text=SOLUTION):
    (tmp_path / ".env").write_text(f"MODEL_REGISTRY_TOKEN={SECRET}\n")
    archive = docker_save_tar(layers, config or HISTORY)
    session = FakeSession(archive=archive)
    return make_ctx(text, build=built(), image=IMAGE, session=session, submission=tmp_path), session


CLEAN = [[("bin/sh", b"x")], [("app/", None), ("app/serve.py", b"print('serve')")]]


def test_no_secret_passes_on_a_clean_image(make_ctx, tmp_path):
    ctx, _ = _secret_ctx(make_ctx, tmp_path, CLEAN)
    result = run_check(check("no_secret_in_image", secrets_file=".env"), ctx)
    assert result.status is Status.PASSED and "1 value(s)" in result.message


def test_secret_in_a_copied_file_names_the_copy(make_ctx, tmp_path):
    layers = CLEAN + [[("app/", None), ("app/.env", f"MODEL_REGISTRY_TOKEN={SECRET}\n".encode())]]
    text = SOLUTION.replace("COPY flask_api_v2.py serve.py iris_binary_model.pkl ./", "COPY . .")
    ctx, _ = _secret_ctx(make_ctx, tmp_path, layers, text=text)
    result = run_check(check("no_secret_in_image"), ctx)
    assert result.status is Status.FAILED
    assert "`/app/.env`" in result.message and ".dockerignore" in result.message
    assert result.location == line_of(text, "COPY . .")
    assert SECRET not in result.message + result.detail


def test_secret_in_env_and_history_is_found_and_masked(make_ctx, tmp_path):
    config = {
        "config": {"Env": [f"MODEL_REGISTRY_TOKEN={SECRET}"]},
        "history": HISTORY["history"] + [{"created_by": f"/bin/sh -c #(nop)  ENV MODEL_REGISTRY_TOKEN={SECRET}", "empty_layer": True}],
    }
    text = SOLUTION.replace("EXPOSE 5001", f"ENV MODEL_REGISTRY_TOKEN={SECRET}\nEXPOSE 5001")
    ctx, _ = _secret_ctx(make_ctx, tmp_path, CLEAN, config=config, text=text)
    result = run_check(check("no_secret_in_image"), ctx)
    assert result.status is Status.FAILED
    assert "environment as `MODEL_REGISTRY_TOKEN`" in result.message and "1 more place" in result.message
    assert result.location == line_of(text, "ENV MODEL_REGISTRY_TOKEN")
    assert SECRET not in result.message + result.detail
    assert "history: " in result.detail and "•••" in result.detail


def test_a_secret_arg_is_built_with_the_secret_and_found(make_ctx, tmp_path):
    text = SOLUTION.replace("EXPOSE 5001", "ARG MODEL_REGISTRY_TOKEN\nENV MODEL_REGISTRY_TOKEN=$MODEL_REGISTRY_TOKEN\nEXPOSE 5001")
    ctx, session = _secret_ctx(make_ctx, tmp_path, CLEAN, text=text)
    session.archives["sha256:second"] = docker_save_tar(
        CLEAN, {"config": {"Env": [f"MODEL_REGISTRY_TOKEN={SECRET}"]}, "history": HISTORY["history"]}
    )
    result = run_check(check("no_secret_in_image"), ctx)
    assert result.status is Status.FAILED
    assert [build.buildargs for build in session.builds] == [{"MODEL_REGISTRY_TOKEN": SECRET}]
    assert "--build-arg MODEL_REGISTRY_TOKEN=…" in result.message
    assert SECRET not in result.message


def test_no_secrets_file_means_nothing_to_find(make_ctx, tmp_path):
    ctx = make_ctx(SOLUTION, build=built(), image=IMAGE, session=FakeSession(archive=b""), submission=tmp_path)
    result = run_check(check("no_secret_in_image"), ctx)
    assert result.status is Status.PASSED and "no secret to look for" in result.message
