"""Replays a learner's parsed commands (grader.commands.Plan) through the engine, the safe way; returns facts.

Never a shell: each allowed command becomes one SDK call of the grading's Session, under names of
the grader's own (the learner's `my-iris-api:v1` becomes `labkit-replay-<session>/my-iris-api:v1`,
`my-api-container` becomes `labkit-<exercise>-<session>-my-api-container`), labelled with the
session's label, on the grading's internal network. `-p` is published on 127.0.0.1 only, at a
random port; `curl http://localhost:HOST/...` goes through the grader's probe to the container
port that HOST was published for, as the engine's proxy would forward it. `docker stop` kills at
once (Python as PID 1 may ignore SIGTERM: a real 10 s wait would teach nothing). What the learner
forgets to remove the Session removes anyway. The facts are per step; checks read them.
"""

from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import docker.errors
import requests

from grader.commands import (
    DIGEST_PLACEHOLDER, REGISTRY_PLACEHOLDER, Command, Plan, Publish, curl_target, image_names, normalize_image, parse_publish,
    valid_reference,
)
from grader.engine.limits import RunLimits

if TYPE_CHECKING:  # types only: the Session imports this module when a grading replays, never the reverse
    from grader.engine.session import RunningContainer, Session

REPLAY_READY_TIMEOUT = 30.0
MAX_LOG_LINES = 200
# A commands.sh of 1000 `docker run` lines must not hold the grader for hours: the steps after
# this many, or after the builds' time limit plus this many seconds, are not replayed.
MAX_STEPS = 100
EXTRA_SECONDS = 180.0
# The lesson runs one container and builds once: a file that starts dozens (each may hold 512 MB)
# must not fill a shared machine.
MAX_CONTAINERS = 3
MAX_BUILDS = 3


@dataclass
class Step:
    """What one replayed command did: ok or the engine's own words, and what was true right after it."""

    line: int
    verb: str
    ok: bool
    error: str = ""  # the engine's (or the docker CLI's, or curl's) own words
    facts: dict[str, Any] = field(default_factory=dict)
    # When the grader itself did not replay the step: a catalog key and its parameters (checks render it).
    refusal: str = ""
    refusal_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Replay:
    """Every step in order, and what was left at the end (learner names)."""

    steps: list[Step] = field(default_factory=list)
    containers_left: list[str] = field(default_factory=list)
    images_left: list[str] = field(default_factory=list)
    build_error: str = ""  # the learner-facing explanation of a failed build
    seconds: float = 0.0
    built_image_id: str | None = None
    # exercise-08: what the grading's registry holds at the end, by the learner's repository name:
    # {repository: {tag: {"digest": manifest digest, "config": the config digest, i.e. the image id}}}
    registry: dict[str, dict[str, dict[str, str | None]]] = field(default_factory=dict)
    registry_kind: str = ""  # which registry stood in for Docker Hub: "docker-registry" or "registry:2"

    def of(self, verb: str) -> list[Step]:
        """The steps of one verb, in order."""
        return [s for s in self.steps if s.verb == verb]


@dataclass
class _Container:
    running: RunningContainer
    image: str  # the learner's reference, normalised
    publish: list[Publish]
    alive: bool = True
    auto_remove: bool = False  # `docker run --rm`: the engine removes it once it stops


class Replayer:
    """One replay: the learner's names mapped to the grader's, and one handler per verb."""

    def __init__(
        self, session: Session, folder: Path, *, port: int, start_line: str, prediction: dict, build_timeout: float,
        dockerfile: Any = None, progress: Callable[[str], None] = lambda text: None, registry: Any = None,
    ):
        self.session = session
        self.folder = folder.resolve()
        self.port = port
        self.start_line = re.compile(start_line)
        self.prediction = prediction
        self.build_timeout = build_timeout
        self.dockerfile = dockerfile
        self.progress = progress
        self.images: dict[str, str] = {}  # learner reference (with tag) -> grader reference
        self.containers: dict[str, _Container] = {}  # learner name -> container
        self.unnamed = 0
        self.registry = registry  # a grader.registry.LocalRegistry, for `$REGISTRY/...` references
        self.last_digest: str | None = None  # what `$DIGEST` stands for: the digest the last push printed
        self.pushed: set[str] = set()  # the learner's repository names pushed to the registry
        self.result = Replay()

    # -- names ------------------------------------------------------------------------------

    def grader_image(self, reference: str) -> str:
        """The grader's own reference for a learner's image reference: same tag or digest, in the grading's registry for `$REGISTRY/...`."""
        if self.last_digest:
            reference = reference.replace(DIGEST_PLACEHOLDER, self.last_digest)
        name, _, digest = reference.partition("@")
        host = ""
        if name.startswith(REGISTRY_PLACEHOLDER + "/") and self.registry is not None:
            host, name = self.registry.address + "/", name[len(REGISTRY_PLACEHOLDER) + 1 :]
        repository, _, tag = normalize_image(name).rpartition(":")
        path = self.registry_path(repository)
        return f"{host}{path}@{digest}" if digest else f"{host}{path}:{tag}"

    def registry_path(self, repository: str) -> str:
        """A learner's repository name as the grader names it (in the engine and in the registry)."""
        safe = re.sub(r"[^a-z0-9._/-]", "-", repository.lower()).strip("/") or "image"
        return f"labkit-replay-{self.session.id}/{safe}"

    @staticmethod
    def learner_repository(reference: str) -> str:
        """The repository part of a learner's `$REGISTRY/NAME:TAG`, without the registry and the tag."""
        name = reference.partition("@")[0].removeprefix(REGISTRY_PLACEHOLDER + "/")
        return normalize_image(name).rpartition(":")[0]

    def grader_container(self, name: str) -> str:
        """The grader's own container name for a learner's container name."""
        return f"labkit-{self.session.exercise_id}-{self.session.id}-{name}"

    # -- the replay -------------------------------------------------------------------------

    def run(self, plan: Plan) -> Replay:
        """Replay every allowed command in order; record the facts; the Session removes what is left."""
        started = time.monotonic()
        deadline = started + self.build_timeout + EXTRA_SECONDS
        for number, command in enumerate(plan.commands):
            if number >= MAX_STEPS or time.monotonic() > deadline:
                self.result.steps.append(Step(command.line, command.verb, False, refusal="replay.limit", refusal_params={"steps": MAX_STEPS}))
                continue
            self.progress(command.text)
            handler = getattr(self, "_" + command.verb)
            invalid = next((name for name in image_names(command) if not valid_reference(name)), None)
            try:
                # The engine's own refusal of a name it cannot parse (the grader's names would hide it).
                step = handler(command) if invalid is None else Step(
                    command.line, command.verb, False, f'invalid reference format: "{invalid}" (repository names must be lowercase)'
                )
            except docker.errors.APIError as error:
                step = Step(command.line, command.verb, False, str(error.explanation or error)[:300])
            self.result.steps.append(step)
        if self.registry is not None:
            self.result.registry = self.registry_facts()
        self.result.containers_left = [name for name, c in self.containers.items() if self._exists(c.running.id)]
        self.result.images_left = [ref for ref, mine in self.images.items() if self.session.inspect_image(mine) is not None]
        self.result.seconds = time.monotonic() - started
        return self.result

    def _exists(self, container_id: str) -> bool:
        try:
            self.session.client.api.inspect_container(container_id)
            return True
        except docker.errors.NotFound:
            return False

    def _build(self, command: Command) -> Step:
        if len(self.result.of("build")) >= MAX_BUILDS:
            return Step(command.line, "build", False, refusal="replay.too_many_builds", refusal_params={"count": MAX_BUILDS})
        context = (self.folder / command.args[0]).resolve()
        if context != self.folder and self.folder not in context.parents or not (context / "Dockerfile").is_file():
            return Step(command.line, "build", False, refusal="replay.no_dockerfile", refusal_params={"path": command.args[0]})
        built = self.session.build(context, self.dockerfile if context == self.folder else None, self.build_timeout)
        if not built.ok:
            self.result.build_error = built.error
            return Step(command.line, "build", False, built.raw_error or built.error, {"timed_out": built.timed_out})
        exists: dict[str, bool] = {}
        for tag in command.values("tag"):
            mine = self.grader_image(tag)
            repository, _, version = mine.rpartition(":")
            self.session.client.api.tag(built.image_id, repository, version)
            self.images[normalize_image(tag)] = mine
            exists[normalize_image(tag)] = self.session.inspect_image(mine) is not None
        self.result.built_image_id = built.image_id
        labels = ((self.session.inspect_image(built.image_id) or {}).get("Config") or {}).get("Labels") or {}
        return Step(command.line, "build", True, facts={"tags": exists, "seconds": round(built.duration, 2), "labels": dict(labels)})

    def _tag(self, command: Command) -> Step:
        source, target = (normalize_image(a) for a in command.args)
        if source not in self.images:
            return Step(command.line, "tag", False, f"No such image: {command.args[0]}")
        mine = self.grader_image(target)
        repository, _, version = mine.rpartition(":")
        self.session.client.api.tag(self.images[source], repository, version)
        self.images[target] = mine
        return Step(command.line, "tag", True)

    def _run(self, command: Command) -> Step:
        if len(self.containers) >= MAX_CONTAINERS:
            return Step(command.line, "run", False, refusal="replay.too_many_containers", refusal_params={"count": MAX_CONTAINERS})
        image = normalize_image(command.args[0])
        mine = self.images.get(image) or (self.grader_image(command.args[0]) if "@" in command.args[0] else None)
        inspected = self.session.inspect_image(mine) if mine else None
        if inspected is None:  # never a pull: an image the commands did not build is not there
            return Step(command.line, "run", False, f"Unable to find image '{command.args[0]}' locally")
        name = command.value("name")
        if name in self.containers and self._exists(self.containers[name].running.id):
            return Step(command.line, "run", False, f'Conflict. The container name "/{name}" is already in use')
        if name is None:
            self.unnamed += 1
        publish = [parse_publish(value) for value in command.values("publish")]
        environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in command.values("env"))
        running = self.session.start(
            inspected["Id"], self.port, RunLimits(), environment=environment, command=list(command.container_command) or None,
            name=self.grader_container(name or f"unnamed-{self.unnamed}"), publish=sorted({p.container for p in publish}),
        )
        key = name or f"<unnamed {self.unnamed}>"
        self.containers[key] = _Container(running, image, publish, auto_remove=command.flag("rm"))
        ready = self.session.wait_ready(running, "/", REPLAY_READY_TIMEOUT)
        answers = {p.container: self._predict(running, p.container) for p in publish} if ready.ready else {}
        return Step(
            command.line, "run", True,
            facts={"name": name, "detached": command.flag("detach"), "ready": ready.ready, "problem": ready.problem,
                   "by_digest": "@sha256:" in mine, "image_id": inspected["Id"],
                   "published": [p.container for p in publish], "answers": answers},
        )

    def _predict(self, running: RunningContainer, container_port: int) -> bool:
        """True when a prediction request to this container port gets a JSON answer with a prediction."""
        response = self._request(running, container_port, "POST", "/predict_iris", json=self.prediction, timeout=(1.0, 5.0))
        return response is not None and response.status_code == 200 and "prediction" in _json(response)

    @staticmethod
    def _request(running: RunningContainer, container_port: int, method: str, path: str, **kwargs: Any) -> requests.Response | None:
        view = copy.copy(running)  # the same container, asked on another of its ports
        view.port = container_port
        try:
            return view.request(method, path, **kwargs)
        except requests.RequestException:
            return None

    def _curl(self, command: Command) -> Step:
        host_port, method, path, body = curl_target(command)
        target = next(((c, p) for c in self.containers.values() if c.alive for p in c.publish if p.host == host_port), None)
        if target is None:
            return Step(command.line, "curl", False, f"curl: (7) Failed to connect to localhost port {host_port}: Connection refused")
        container, publish = target
        if body is not None and body.startswith("@") and command.value("data-raw") is None:
            body = self._data_file(body[1:])  # curl's `-d @FILE`: the body is the file's content
            if body is None:
                return Step(command.line, "curl", False, "curl: (26) Failed to open/read local data from file/application")
        headers = dict(h.split(":", 1) for h in command.values("header") if ":" in h)
        headers = {k.strip(): v.strip() for k, v in headers.items()}
        if command.value("json") is not None:
            headers.setdefault("Content-Type", "application/json")
        response = self._request(container.running, publish.container, method, path, data=body, headers=headers, timeout=(1.0, 5.0))
        if response is None:
            return Step(command.line, "curl", False, f"curl: (56) Recv failure: Connection reset by peer (port {host_port})")
        answer = _json(response)
        return Step(command.line, "curl", True, facts={"status": response.status_code, "prediction": "prediction" in answer, "path": path})

    def _data_file(self, name: str, limit: int = 64 * 1024) -> str | None:
        """A file of the exercise folder that curl would send, None when it is elsewhere, missing or too big."""
        path = (self.folder / name).resolve()
        if self.folder not in path.parents or not path.is_file() or path.stat().st_size > limit:
            return None
        return path.read_text(encoding="utf-8", errors="replace")

    def _logs(self, command: Command) -> Step:
        container = self.containers.get(command.args[0])
        if container is None or not self._exists(container.running.id):
            return Step(command.line, "logs", False, f"Error: No such container: {command.args[0]}")
        logs = container.running.logs_tail(MAX_LOG_LINES)
        return Step(command.line, "logs", True, facts={"start_line": bool(self.start_line.search(logs)), "name": command.args[0]})

    def _stop(self, command: Command) -> Step:
        missing = [name for name in command.args if name not in self.containers or not self._exists(self.containers[name].running.id)]
        for name in command.args:
            if name not in missing:
                # Killed at once: the lesson's app may ignore SIGTERM as PID 1, and waiting teaches nothing.
                self.session.client.api.stop(self.containers[name].running.id, timeout=0)
                self.containers[name].alive = False
                if self.containers[name].auto_remove:  # as the engine would, without keeping its logs from the grader earlier
                    self.session.client.api.remove_container(self.containers[name].running.id, force=True)
        if missing:
            return Step(command.line, "stop", False, f"Error: No such container: {missing[0]}")
        return Step(command.line, "stop", True)

    def _rm(self, command: Command) -> Step:
        gone: dict[str, bool] = {}
        for name in command.args:
            container = self.containers.get(name)
            if container is None or not self._exists(container.running.id):
                return Step(command.line, "rm", False, f"Error: No such container: {name}", {"gone": gone})
            # The engine itself refuses to remove a running container without force (a 409).
            self.session.client.api.remove_container(container.running.id, force=command.flag("force"))
            container.alive = False
            gone[name] = not self._exists(container.running.id)
        return Step(command.line, "rm", True, facts={"gone": gone})

    def _rmi(self, command: Command) -> Step:
        gone: dict[str, bool] = {}
        for reference in command.args:
            mine = self.images.get(normalize_image(reference))
            if mine is None or self.session.inspect_image(mine) is None:
                return Step(command.line, "rmi", False, f"Error: No such image: {reference}", {"gone": gone})
            # The engine refuses to remove an image a container (even a stopped one) uses (a 409).
            # noprune: the parent layers stay as the next grading's build cache.
            self.session.client.api.remove_image(mine, force=command.flag("force"), noprune=True)
            gone[normalize_image(reference)] = self.session.inspect_image(mine) is None
        return Step(command.line, "rmi", True, facts={"gone": gone})

    def _ps(self, command: Command) -> Step:
        listed = self.session.client.api.containers(all=command.flag("all"), filters={"label": f"org.labkit.session={self.session.id}"})
        return Step(command.line, "ps", True, facts={"count": len(listed)})

    def _images(self, command: Command) -> Step:
        return Step(command.line, "images", True, facts={"count": sum(self.session.inspect_image(m) is not None for m in self.images.values())})

    def _inspect(self, command: Command) -> Step:
        for name in command.args:
            container = self.containers.get(name)
            mine = self.images.get(normalize_image(name))
            if not (container and self._exists(container.running.id)) and not (mine and self.session.inspect_image(mine)):
                return Step(command.line, "inspect", False, f"Error: No such object: {name}")
        return Step(command.line, "inspect", True)

    def _push(self, command: Command) -> Step:
        if self.registry is None:
            return Step(command.line, "push", False, refusal="commands.no_registry", refusal_params={"subcommand": "push"})
        mine = self.grader_image(command.args[0])
        if self.session.inspect_image(mine) is None:
            return Step(command.line, "push", False, f"An image does not exist locally with the tag: {command.args[0]}")
        repository, _, tag = mine.rpartition(":")
        digest, error = None, ""
        for event in self.session.client.api.push(repository, tag=tag, stream=True, decode=True):
            error = event.get("error") or error
            digest = ((event.get("aux") or {}).get("Digest")) or digest
        if not error and not digest:
            digest = self._registry_digest(mine)
        if error or not digest:
            return Step(command.line, "push", False, error or "the registry gave no digest")
        self.last_digest = digest
        self.pushed.add(self.learner_repository(command.args[0]))
        return Step(command.line, "push", True, facts={"digest": digest, "tag": tag})

    def _registry_digest(self, reference: str) -> str | None:
        """The manifest digest the grading's registry holds for `ADDRESS/PATH:TAG`.

        Podman's Docker-compatible push (4.3) streams no `aux` event with the digest that Docker's
        does; the registry itself is the authority on what it now holds."""
        address = self.registry.address + "/" if self.registry is not None else None
        if not address or not reference.startswith(address):
            return None
        path, _, tag = reference[len(address):].rpartition(":")
        return self.registry.manifest(path, tag)[0]

    def _pull(self, command: Command) -> Step:
        if self.registry is None:
            return Step(command.line, "pull", False, refusal="commands.no_registry", refusal_params={"subcommand": "pull"})
        mine = self.grader_image(command.args[0])
        built = self.result.built_image_id
        # Whether the local copy was really gone: otherwise the pull proves nothing about the registry.
        present = bool(built) and self.session.inspect_image(built) is not None
        repository, _, reference = mine.rpartition("@") if "@" in mine else mine.rpartition(":")
        error = ""
        for event in self.session.client.api.pull(repository, tag=reference, stream=True, decode=True):
            error = event.get("error") or error
        if error:
            return Step(command.line, "pull", False, error)
        self.images[normalize_image(command.args[0])] = mine
        pulled = self.session.inspect_image(mine) or {}
        return Step(command.line, "pull", True, facts={
            "present_before": present, "by_digest": "@" in mine, "image_id": pulled.get("Id"), "reference": mine,
        })

    def registry_facts(self) -> dict[str, dict[str, dict[str, str | None]]]:
        """What the registry holds for each repository the learner pushed: tag -> manifest and config digests."""
        held: dict[str, dict[str, dict[str, str | None]]] = {}
        for repository in sorted(self.pushed):
            path = self.registry_path(repository)
            held[repository] = {}
            for tag in self.registry.tags(path):
                digest, manifest = self.registry.manifest(path, tag)
                held[repository][tag] = {"digest": digest, "config": (manifest.get("config") or {}).get("digest")}
        return held


def _json(response: requests.Response) -> dict:
    try:
        answer = response.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return answer if isinstance(answer, dict) else {}


def replay(session: Session, folder: Path, plan: Plan, **settings: Any) -> Replay:
    """Replay a plan's allowed commands in the grading's session (see Replayer for the settings)."""
    return Replayer(session, folder, **settings).run(plan)
