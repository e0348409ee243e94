"""The classic builder through the engine's /build API: every RUN step a container the grader caps and watches."""

from __future__ import annotations

import collections
import itertools
import json
import queue
import re
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import docker.errors

from grader.context import BuildResult
from grader.dockerfile import Dockerfile
from grader.engine import limits  # read at call time: tests lower the limits
from grader.engine.build_context import ContextTooLarge, context_tar, instruction_named_by_error, step_instruction, stop_facts
from grader.engine.connect import engine_address
from grader.engine.limits import (
    BUILD_MEMORY_BYTES, BUILD_WIND_DOWN_SECONDS, DISK_FULL_TAIL_LINES, DISK_LOOK_SECONDS, LOG_TAIL_LINES,
)
from grader.engine.podman import podman_build_context
from grader.engine.signals import quietly, signals_held
from grader.errors import EngineDiskFull, EngineUnavailable

if TYPE_CHECKING:
    from grader.engine.session import Session


def build(
    session: "Session",
    folder: Path,
    dockerfile: Dockerfile | None,
    timeout: float,
    on_progress: Callable[[str], None],
    buildargs: dict[str, str] | None,
) -> BuildResult:
    """The classic builder through the API: every RUN step a container the grader can cap and watch."""
    started = time.monotonic()
    events: "queue.Queue[tuple[str, Any]]" = queue.Queue()
    holder: dict[str, Any] = {"abandoned": threading.Event()}
    abandoned = holder["abandoned"]
    try:
        context = context_tar(folder)
    except ContextTooLarge as error:
        return BuildResult(ok=False, duration=time.monotonic() - started, failure="context", facts=error.facts)
    api = session.client.api
    appended = len(session.image_labels)  # steps the engine adds after the learner's
    if session.podman:
        context, appended = podman_build_context(context, session.image_labels, buildargs)
    params = {
        "rm": True,
        "forcerm": True,  # remove intermediate containers even when a step fails
        "pull": False,
        "nocache": False,
        "dockerfile": "Dockerfile",
        # A label unique to this session makes the final image this session's own,
        # so two gradings of the same files never share (and remove) one image.
        "labels": json.dumps(session.image_labels),
    }
    if session.podman:
        del params["labels"]  # Podman puts them on every step: see podman_build_context
    if buildargs:
        params["buildargs"] = json.dumps(buildargs)
    # What the classic builder can cap for RUN steps: memory (and swap). It has no pids
    # limit and no disk quota (the grader watches writes instead) and needs the network.
    params.update({"memory": BUILD_MEMORY_BYTES, "memswap": BUILD_MEMORY_BYTES})

    def stream() -> None:
        try:
            response = api._post(
                api._url("/build"),
                data=_upload(context, abandoned),
                params=params,
                headers={"Content-Type": "application/tar"},
                stream=True,
                timeout=None,
            )
            holder["response"] = response
            api._raise_for_status(response)
            for event in api._stream_helper(response, decode=True):
                events.put(("event", event))
            events.put(("done", None))
        except Exception as error:  # handed to the reading side, which decides what it means
            events.put(("exception", error))

    worker = threading.Thread(target=stream, name=f"build-{session.id}", daemon=True)
    worker.start()
    lines: "collections.deque[str]" = collections.deque(maxlen=LOG_TAIL_LINES)  # a step may print gigabytes
    step, total, image_id, error_text = None, 0, None, ""
    cached = 0
    cached_at: list[int | None] = []  # the steps taken from the cache
    output = _LineAssembler()
    running_in = None  # the container of the RUN step in progress (the classic builder names it)
    next_disk_look = started + DISK_LOOK_SECONDS
    try:
        while True:
            remaining = timeout - (time.monotonic() - started)
            written = None
            if running_in and time.monotonic() >= next_disk_look:
                # The classic builder cannot cap what a step writes: watch it and stop it instead.
                next_disk_look = time.monotonic() + DISK_LOOK_SECONDS
                written = _bytes_written(api, running_in)
            if remaining <= 0 or (written or 0) > limits.MAX_STEP_WRITE_BYTES:
                _wind_down_build(session, worker, events, holder, running_in, output)
                instruction = step_instruction(dockerfile, step)
                return BuildResult(
                    ok=False,
                    duration=time.monotonic() - started,
                    failure="timeout" if remaining <= 0 else "disk",
                    facts=stop_facts(timeout),
                    step=step,
                    instruction=instruction,
                    log_tail=_tail(lines),
                    timed_out=remaining <= 0,
                    cached_steps=cached,
                    total_steps=total,
                )
            try:
                kind, payload = events.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if kind == "exception":
                if isinstance(payload, docker.errors.APIError) and payload.status_code and payload.status_code < 500:
                    error_text = str(payload.explanation or payload)
                    break
                if isinstance(payload, docker.errors.APIError):
                    error_text = str(payload.explanation or payload)
                    break
                raise EngineUnavailable("engine.lost", during="docker build", error=f"{type(payload).__name__}: {payload}")
            if kind == "done":
                break
            event = payload
            if "stream" in event:
                for text in output.feed(event["stream"]):
                    text = text.rstrip()
                    if not text:
                        continue
                    lines.append(text)
                    match = STEP_LINE.match(text)
                    if match:
                        step, total = int(match.group(1)), int(match.group(2))
                        learner_steps = total - appended
                        if step <= learner_steps:
                            on_progress(f"step {step}/{learner_steps}: {match.group(3)[:70]}")
                        else:
                            on_progress("labelling the image")
                    elif "Using cache" in text:
                        cached += 1
                        cached_at.append(step)
                    else:
                        running_in = _step_container(text) or running_in
            image_id = _built_image_id(event) or image_id
            if "error" in event:
                error_text = event.get("errorDetail", {}).get("message") or event["error"]
    except BaseException:  # Ctrl-C, SIGTERM, the engine lost: whatever the build made must be known
        _wind_down_build(session, worker, events, holder, running_in, output)
        raise
    duration = time.monotonic() - started
    lines.extend(text for text in output.rest() if text.strip())
    if error_text:
        # The engine's own writes fail with ENOSPC in the error; a RUN step's writes fail inside
        # the step, which then exits non-zero and only its output says why. Either way the
        # machine is out of disk: not the learner's mistake, and not a grade.
        for text in (error_text, *itertools.islice(reversed(lines), DISK_FULL_TAIL_LINES)):
            if "no space left on device" in text.lower():
                raise EngineDiskFull(text, engine_address())
    # The engine appends one LABEL step per label; learners count only their own steps.
    learner_total = max(total - appended, 0) if total else 0
    if error_text or not image_id:
        instruction = step_instruction(dockerfile, step)
        return BuildResult(
            ok=False,
            duration=duration,
            failure="error",
            facts={"memory_bytes": BUILD_MEMORY_BYTES},
            dockerfile=dockerfile,
            raw_error=error_text,
            step=step,
            instruction=instruction if step else instruction_named_by_error(error_text, dockerfile),
            log_tail=_tail(lines),
            cached_steps=cached,
            total_steps=learner_total,
        )
    session.image_ids.append(image_id)
    cached_lines = (step_instruction(dockerfile, number) for number in cached_at)
    if session.podman and not buildargs:  # a build with random arguments is no cache worth keeping
        session.keep_parents.add(image_id)
    return BuildResult(
        ok=True,
        image_id=image_id,
        duration=duration,
        log_tail=_tail(lines),
        cached_steps=min(cached, learner_total),
        total_steps=learner_total,
        cached_lines=frozenset(instruction.line for instruction in cached_lines if instruction),
    )


def _wind_down_build(
    session: "Session", reader: threading.Thread, events: "queue.Queue[tuple[str, Any]]", holder: dict[str, Any], running_in: str | None,
    output: "_LineAssembler",
) -> None:
    """End a build the grader gives up on, so that any image it made is known and removed.

    Cutting the stream alone races the engine: the step it is doing still completes, and a
    step committed at one of the grader's LABEL steps is an image with the session label
    that nobody hears of (measured: every stop at the LABEL step left one). So the build is
    ended from the inside: each RUN step's container is removed as soon as it starts, the
    build fails there or finishes its metadata steps, and its last event (an error or an
    image id) is read. Only after BUILD_WIND_DOWN_SECONDS is the stream cut.
    """
    holder["abandoned"].set()  # a context still being sent stops: the engine gets no build to run
    deadline = time.monotonic() + BUILD_WIND_DOWN_SECONDS
    ended = False
    try:
        with signals_held():  # a first stop is why we are here; a second one cuts at once
            while time.monotonic() < deadline and (reader.is_alive() or not events.empty()):
                if running_in:
                    stopping, running_in = running_in, None
                    quietly(lambda: session.client.api.remove_container(stopping, force=True))
                try:
                    kind, payload = events.get(timeout=0.1)
                except queue.Empty:
                    continue
                if kind != "event":  # "done" or "exception": the build is over
                    ended = True
                    break
                for text in output.feed(str(payload.get("stream", ""))):
                    running_in = _step_container(text) or running_in
                if _built_image_id(payload):
                    session.image_ids.append(_built_image_id(payload))
            ended = ended or (not reader.is_alive() and events.empty())
    finally:
        if not ended:
            _abort_response(holder.get("response"))
            if running_in:
                quietly(lambda: session.client.api.remove_container(running_in, force=True))
            session.unsure = True  # the engine may still commit a step: sweep by label at cleanup


# The classic builder writes `Step 4/7 : RUN ...`, Podman's (buildah) `STEP 4/7: RUN ...`.
STEP_LINE = re.compile(r"^(?:Step|STEP) (\d+)/(\d+) ?: (.*)$")


TERMINAL_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the classic builder paints a step's stderr red


class BuildAbandoned(Exception):
    """The grader gave up on a build while its context was still being sent."""


def _upload(context: Any, abandoned: threading.Event, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The context tar in chunks, ending the upload once the build is abandoned.

    Until the context has arrived there is no response to cut, and the engine would go on to
    build whatever it got and label the image after the grader had cleaned up.
    """
    try:
        while True:
            if abandoned.is_set():
                raise BuildAbandoned()
            data = context.read(chunk)
            if not data:
                return
            yield data
    finally:
        context.close()


def _step_container(text: str) -> str | None:
    """The container of the RUN step a build output line announces, if it announces one."""
    return text.split()[-1] if text.startswith(" ---> Running in ") else None


def _built_image_id(event: dict) -> str | None:
    """The image id a build stream event carries (the classic builder's `aux` at the end)."""
    aux = event.get("aux")
    return aux.get("ID") if isinstance(aux, dict) else None


class _LineAssembler:
    """Whole lines out of the build stream, whose events may split a line; bounded, colours removed."""

    def __init__(self, limit: int = 64 * 1024):
        self.pending = ""
        self.limit = limit  # a step may print gigabytes without a newline

    def feed(self, chunk: str) -> list[str]:
        """The lines this chunk completes."""
        *complete, pending = (self.pending + chunk).split("\n")
        self.pending = pending[-self.limit:]
        return [TERMINAL_COLOUR.sub("", text) for text in complete]

    def rest(self) -> list[str]:
        """What is left once the stream has ended."""
        rest, self.pending = self.pending, ""
        return [TERMINAL_COLOUR.sub("", rest)] if rest else []


def _abort_response(response: Any) -> None:
    """Cut the build's HTTP stream: the engine then cancels the build and kills its step's container."""
    if response is None:
        return
    try:
        sock = response.raw._fp.fp.raw._sock
        sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        pass
    quietly(response.close)


def _bytes_written(api: Any, container_id: str) -> int | None:
    """Bytes a build step's container has written so far (its read-write layer), None when unknown."""
    try:
        # The SDK's inspect_container has no `size` argument; the API's `?size=1` gives SizeRw.
        response = api._get(api._url("/containers/{0}/json", container_id), params={"size": 1})
        return api._result(response, json=True).get("SizeRw")
    except Exception:  # the step may have just finished and its container gone
        return None


def _tail(lines) -> str:
    return "\n".join(list(lines)[-LOG_TAIL_LINES:])
