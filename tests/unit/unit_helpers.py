"""Helpers shared by the unit tests (import them from here, not from conftest: several conftest.py
files exist under tests/, and `import conftest` would pick whichever pytest loaded last)."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any, Callable

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from grader.context import BuildResult, RunState  # noqa: E402
from grader.model import CheckSpec, ExerciseSpec  # noqa: E402

LABS = REPO_ROOT / "labs.yaml"
FIXTURES = REPO_ROOT / "tests" / "fixtures"
INSPECT = FIXTURES / "inspect"
SOLUTION = REPO_ROOT / "solutions" / "exercise-01"
STARTER = REPO_ROOT / "exercises" / "exercise-01"
NO_ENGINE = "unix:///nonexistent/docker.sock"

# A Dockerfile that passes every static check; tests derive failing variants from it.
GOOD_DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -r requirements.txt
EXPOSE 5001
CMD ["python", "flask_api_v2.py"]
"""


def spec_of(exercise: ExerciseSpec, kind: str) -> CheckSpec:
    """The first check of this kind in the exercise."""
    for check in exercise.checks:
        if check.kind == kind:
            return check
    raise AssertionError(f"labs.yaml's {exercise.id} has no check of kind {kind}")


# -- recorded `docker image inspect` -------------------------------------------------------


def load_inspect(name: str) -> dict:
    """A recorded inspect document: the first element of `docker image inspect` output."""
    document = json.loads((INSPECT / name).read_text(encoding="utf-8"))
    return document[0] if isinstance(document, list) else document


def built() -> BuildResult:
    """A successful build."""
    return BuildResult(ok=True, image_id="sha256:" + "1" * 64, duration=12.5, cached_steps=2, total_steps=6)


# -- a fake running container --------------------------------------------------------------


def make_response(status: int = 200, body: Any = None, text: str | None = None, content_type: str | None = None) -> requests.Response:
    """A real requests.Response with a JSON body (body=...) or raw text (text=...)."""
    response = requests.Response()
    response.status_code = status
    if text is None:
        text = json.dumps(body)
        content_type = content_type or "application/json"
    response._content = text.encode("utf-8")
    response.headers["Content-Type"] = content_type or "text/html; charset=utf-8"
    response.encoding = "utf-8"
    response.url = "http://172.18.0.2:5001/"
    return response


Responder = Callable[[str, str, dict], Any]


class FakeContainer:
    """Implements grader.context.Container without an engine: canned HTTP answers and /proc/net/tcp."""

    def __init__(
        self,
        responder: Responder | None = None,
        proc_net: str = "",
        exec_code: int = 0,
        state: dict | None = None,
        logs: str = "",
        port: int = 5001,
    ):
        self.port = port
        self.address: str | None = "172.18.0.2"
        self.responder = responder or (lambda method, path, kwargs: make_response(200, {"status": "ok"}))
        self.proc_net = proc_net
        self.exec_code = exec_code
        self._state = state if state is not None else {"Status": "running", "Running": True, "ExitCode": 0}
        self.logs = logs
        self.requests: list[tuple[str, str, dict]] = []
        self.commands: list[list[str]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self.requests.append((method, path, kwargs))
        answer = self.responder(method, path, kwargs)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def exec_output(self, command: list[str]) -> tuple[int, str]:
        self.commands.append(list(command))
        return self.exec_code, self.proc_net

    def state(self) -> dict:
        return dict(self._state)

    def logs_tail(self, lines: int = 20) -> str:
        return "\n".join(self.logs.splitlines()[-lines:])


def running(container: FakeContainer, ready: bool = True, problem: str = "", startup: float = 1.25) -> RunState:
    """A RunState around a fake container."""
    return RunState(container, ready=ready, problem=problem, startup_seconds=startup)


# -- /proc/net/tcp text --------------------------------------------------------------------

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
TCP6_HEADER = (
    "  sl  local_address                         remote_address                        "
    "st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
)


def tcp_line(number: int, local: str, state: str = "0A", remote: str | None = None) -> str:
    """One /proc/net/tcp or tcp6 row; local is 'HEXADDR:HEXPORT' as the kernel writes it."""
    if remote is None:
        remote = ("0" * (len(local.split(":")[0]))) + ":0000"
    return (
        f"{number:4d}: {local} {remote} {state} 00000000:00000000 00:00000000 00000000     0        0 "
        f"{21000 + number} 1 0000000000000000 100 0 0 10 0"
    )


def proc_net(tcp_rows: list[str] = (), tcp6_rows: list[str] = ()) -> str:
    """What `cat /proc/net/tcp /proc/net/tcp6` prints."""
    return "\n".join([TCP_HEADER, *tcp_rows, TCP6_HEADER, *tcp6_rows]) + "\n"


def _tar(members: list[tuple[str, bytes | None, str | None]]) -> bytes:
    """A tar of (name, content or None for a folder, symlink target or None)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content, target in members:
            info = tarfile.TarInfo(name)
            if target is not None:
                info.type, info.linkname = tarfile.SYMTYPE, target
                archive.addfile(info)
            elif content is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def docker_save_tar(layers: list[list[tuple[str, bytes | None]]], config: dict, repeat_last: bool = False) -> bytes:
    """A `docker save` archive in the classic layout: <id>/layer.tar per layer, the config, manifest.json last.

    With repeat_last, the manifest names a last layer that is a symlink to the first one (as
    `docker save` writes a layer that occurs twice).
    """
    members: list[tuple[str, bytes | None, str | None]] = []
    names = []
    for index, files in enumerate(layers):
        folder = f"{index:064x}"
        members += [(folder + "/", None, None), (f"{folder}/VERSION", b"1.0", None)]
        members.append((f"{folder}/layer.tar", _tar([(name, content, None) for name, content in files]), None))
        names.append(f"{folder}/layer.tar")
    if repeat_last:
        members += [("f" * 64 + "/", None, None), ("f" * 64 + "/layer.tar", None, f"../{names[0]}")]
        names.append("f" * 64 + "/layer.tar")
    members.append(("c" * 64 + ".json", json.dumps(config).encode(), None))
    manifest = [{"Config": "c" * 64 + ".json", "RepoTags": None, "Layers": names}]
    members.append(("manifest.json", json.dumps(manifest).encode(), None))
    return _tar(members)


def chunks(data: bytes, size: int = 7000):
    """The archive as the engine streams it: many small chunks."""
    for start in range(0, len(data), size):
        yield data[start:start + size]
