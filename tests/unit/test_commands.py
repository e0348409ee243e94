"""grader/commands.py without an engine: the docker CLI's grammar, the allow-list, refusals and explanations."""

from __future__ import annotations

import pytest

from tests.unit.unit_helpers import REPO_ROOT  # noqa: F401  (puts the repository on sys.path)

from grader.commands import MAX_LINES, Refused, parse_line, parse_publish, read_plan
from grader.i18n import set_language

SOLUTION = (REPO_ROOT / "solutions" / "exercise-07" / "commands.sh").read_bytes()


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language(None)


def refusal(line: str) -> str:
    with pytest.raises(Refused) as caught:
        parse_line(1, line)
    return caught.value.key


def keys(text: str) -> list[str]:
    return [p.key for p in read_plan(text.encode()).problems]


def test_the_solution_reads_as_nine_commands_with_no_problem():
    plan = read_plan(SOLUTION)
    assert plan.fatal is None and plan.problems == []
    assert [c.verb for c in plan.commands] == ["build", "images", "run", "ps", "curl", "logs", "stop", "rm", "rmi"]


@pytest.mark.parametrize("line", [
    "docker run -d -p 5001:5001 --name my-api-container my-iris-api:v1",
    "docker run -dp 5001:5001 --name=my-api-container my-iris-api:v1",
    "docker run --detach --publish=5001:5001 --name my-api-container my-iris-api:v1",
    "docker run -d -p5001:5001 --name my-api-container my-iris-api:v1",
    "docker container run -d -p 127.0.0.1:5001:5001 --name my-api-container my-iris-api:v1",
    "docker run -d -p 5001:5001 \\\n  --name my-api-container my-iris-api:v1",
])
def test_every_spelling_of_the_same_run_means_the_same(line):
    plan = read_plan(line.encode())
    (run,) = plan.commands
    assert run.flag("detach") and run.value("name") == "my-api-container" and run.args == ("my-iris-api:v1",)
    assert parse_publish(run.value("publish")).container == 5001


def test_run_stops_reading_options_at_the_image():
    run = parse_line(1, "docker run -d my-iris-api:v1 python app.py -p 80")
    assert run.args == ("my-iris-api:v1",) and run.container_command == ("python", "app.py", "-p", "80")
    assert "publish" not in run.options


def test_management_commands_map_to_the_short_ones():
    assert parse_line(1, "docker image rm my-iris-api:v1").verb == "rmi"
    assert parse_line(1, "docker container ls -a").verb == "ps"
    assert parse_line(1, "docker image build -t a:v1 .").verb == "build"


@pytest.mark.parametrize("line, key", [
    ("docker ps; rm -rf ~", "commands.operator"),
    ("docker ps && docker images", "commands.operator"),
    ("docker logs my-api-container | grep Serving", "commands.operator"),
    ("docker logs my-api-container > out.txt", "commands.operator"),
    ("docker run -d my-iris-api:v1 &", "commands.operator"),
    ("docker rm $(docker ps -aq)", "commands.substitution"),
    ("docker rm `docker ps -aq`", "commands.substitution"),
    ("docker run -d $IMAGE", "commands.variable"),
    ("docker run --privileged -d my-iris-api:v1", "commands.privileged"),
    ("docker run -d -v /:/host my-iris-api:v1", "commands.host_root"),
    ("docker run -d -v/:/host my-iris-api:v1", "commands.host_root"),
    ("docker run -d --volume=/etc:/etc my-iris-api:v1", "commands.host_root"),
    ("docker run -d -v data:/data my-iris-api:v1", "commands.volume"),
    ("docker run -d --network host my-iris-api:v1", "commands.network_option"),
    ("curl http://example.com:5001/predict_iris", "commands.curl_host"),
    ("curl http://10.0.0.8:5001/predict_iris", "commands.curl_host"),
    ("curl file:///etc/passwd", "commands.curl_scheme"),
    ("sudo docker ps", "commands.sudo"),
    ("docker -H tcp://10.0.0.8:2375 ps", "commands.global_option"),
    ("docker exec my-api-container sh", "commands.subcommand"),
    ("rm -rf /", "commands.not_docker"),
    ("docker run -d -p 10.0.0.8:5001:5001 my-iris-api:v1", "commands.publish_address"),
    ("docker build -t a:v1 /", "commands.context"),
    ("docker build -t a:v1 ../..", "commands.context"),
    ("docker run -d --name", "commands.option_needs_value"),
    ("docker run -d --nmae x my-iris-api:v1", "commands.option"),
    ("docker logs 'my-api-container", "commands.quotes"),
])
def test_refused_lines_name_their_reason(line, key):
    assert refusal(line) == key


def test_a_quoted_operator_is_data_not_an_operator():
    curl = parse_line(1, """curl -d '{"a": "x;y|z"}' http://localhost:5001/predict_iris""")
    assert curl.value("data") == '{"a": "x;y|z"}'


def test_a_refused_line_is_left_out_and_the_rest_stays():
    plan = read_plan(b"docker ps; rm -rf ~\ndocker images\n")
    assert [c.verb for c in plan.commands] == ["images"]
    assert [(p.line, p.key, p.refused) for p in plan.problems] == [(1, "commands.operator", True)]
    assert "`;`" in plan.problems[0].message()


def test_empty_binary_and_huge_files_are_one_fatal_sentence():
    assert read_plan(b"# only a comment\n\n").fatal.key == "commands.empty"
    assert read_plan(b"\x7fELF\x00\x01").fatal.key == "commands.binary"
    assert read_plan(b"\xff\xfe d\x00o").fatal.key == "commands.binary"
    assert read_plan(b"docker ps\n" * (MAX_LINES + 1)).fatal.key == "commands.too_long"
    sentence = read_plan(b"docker ps\n" * 5000).fatal.message()
    assert "\n" not in sentence and sentence.endswith(".") and sentence.count(". ") == 0


def test_allowed_variables_are_put_in():
    plan = read_plan(b"docker push $REGISTRY/my-iris-api:v1\n", variables={"REGISTRY": "127.0.0.1:5000"})
    assert plan.commands[0].args == ("127.0.0.1:5000/my-iris-api:v1",)


# The mistakes the lesson's learners make: allowed, replayed, but explained.
BUILD = "docker build -t my-iris-api:v1 .\n"
RUN = "docker run -d -p 5001:5001 --name my-api-container my-iris-api:v1\n"


@pytest.mark.parametrize("text, key", [
    (BUILD + "docker run -d -p 5001:5000 --name my-api-container my-iris-api:v1\n", "commands.publish_wrong_side"),
    (BUILD + "docker run -d -p 5000:5001 --name c my-iris-api:v1\ncurl http://localhost:5001/health\n", "commands.curl_unpublished"),
    (BUILD + RUN + "docker rm my-api-container\n", "commands.rm_before_stop"),
    (BUILD + "docker run -p 5001:5001 --name my-api-container my-iris-api:v1\n", "commands.run_foreground"),
    (BUILD + "docker run -d -p 5001:5001 my-iris-api:v1\ndocker logs my-api-container\n", "commands.unknown_container"),
    (BUILD + RUN + "docker stop my-api-container\ndocker rmi my-iris-api:v1\n", "commands.rmi_before_rm"),
    (BUILD + "docker run -d -p 5001:5001 --name c my-iris-api:v2\n", "commands.run_unknown_image"),
    (BUILD + "docker run -d --name c my-iris-api:v1\n", "commands.run_no_publish"),
    (BUILD + RUN + "curl http://localhost:5001/predict_iris\n", "commands.curl_method"),
    (BUILD + RUN + "docker logs -f my-api-container\n", "commands.logs_follow"),
])
def test_mistakes_are_explained_on_their_line(text, key):
    plan = read_plan(text.encode())
    found = [p for p in plan.problems if p.key == key]
    assert found and not found[0].refused
    assert found[0].line == len(text.splitlines()) or key in (
        "commands.publish_wrong_side", "commands.run_foreground", "commands.run_unknown_image", "commands.run_no_publish",
    )
    assert found[0].message()  # every explanation renders


def test_rm_after_stop_and_rmi_after_rm_are_fine():
    assert keys(BUILD + RUN + "docker stop my-api-container\ndocker rm my-api-container\ndocker rmi my-iris-api:v1\n") == []
    assert keys(BUILD + RUN + "docker rm -f my-api-container\ndocker rmi my-iris-api:v1\n") == []


def test_a_run_rm_container_is_gone_after_stop():
    text = BUILD + RUN.replace("-d ", "-d --rm ") + "docker stop my-api-container\ndocker rm my-api-container\n"
    assert keys(text) == ["commands.auto_removed"]
    assert keys(BUILD + RUN.replace("-d ", "-d --rm ") + "docker stop my-api-container\ndocker rmi my-iris-api:v1\n") == []


# exercise-08: push and pull, to the grading's registry only.
from grader.commands import DIGEST_PLACEHOLDER, REGISTRY_PLACEHOLDER, REGISTRY_VARIABLES  # noqa: E402


def test_push_and_pull_are_refused_without_a_registry():
    assert refusal("docker push my-iris-api:1.0.0") == "commands.no_registry"
    assert refusal("docker pull python:3.11-slim") == "commands.no_registry"


def test_push_and_pull_go_to_the_given_registry_only():
    plan = read_plan(b"docker pull python:3.11-slim\ndocker push docker.io/me/my-iris-api:1.0.0\n", variables=REGISTRY_VARIABLES)
    assert [p.key for p in plan.problems] == ["commands.registry_elsewhere"] * 2
    plan = read_plan(b"docker pull $REGISTRY/my-iris-api@$DIGEST\n", variables=REGISTRY_VARIABLES)
    assert plan.commands[0].args == (f"{REGISTRY_PLACEHOLDER}/my-iris-api@{DIGEST_PLACEHOLDER}",)


def test_the_exercise_08_solution_reads_without_a_problem():
    text = (REPO_ROOT / "solutions" / "exercise-08" / "publish.sh").read_bytes()
    plan = read_plan(text, variables=REGISTRY_VARIABLES)
    assert plan.problems == [] and [c.verb for c in plan.commands][:4] == ["build", "tag", "push", "rmi"]


def test_pushing_a_name_never_tagged_is_explained():
    plan = read_plan(b"docker build -t a:1 .\ndocker push $REGISTRY/a:1\n", variables=REGISTRY_VARIABLES)
    assert [p.key for p in plan.problems] == ["commands.push_unknown_image"]


@pytest.mark.parametrize("reference, valid", [
    ("my-iris-api:v1", True), ("My-Iris-Api:v1", False), ("my_iris:1.0.0", True), ("my iris", False),
    (f"{REGISTRY_PLACEHOLDER}/my-iris-api@{DIGEST_PLACEHOLDER}", True), ("127.0.0.1:5000/a/b:1", True), ("a:-x", False),
])
def test_image_names_follow_the_engines_grammar(reference, valid):
    from grader.commands import valid_reference

    assert valid_reference(reference) is valid


def test_an_upper_case_tag_is_explained():
    assert keys("docker build -t My-Api:v1 .\n") == ["commands.invalid_reference"]
