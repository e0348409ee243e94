"""Sentences a learner can act on, made from the facts the engine layer returns: why a build failed
or was stopped, how a container died, why nothing answers on the app's port."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from grader.dockerfile import Dockerfile
from grader.i18n import t
from grader.listeners import ENGINE_DNS, is_loopback, parse_listeners

if TYPE_CHECKING:
    from grader.context import BuildResult, RunState


def build_failure(result: "BuildResult") -> str:
    """Why a build gave no image, from its facts (`failure` says which kind of end it was)."""
    if result.failure == "context":
        return t("session.context_too_large", **result.facts)
    total = int(result.facts.get("total", result.total_steps))  # a builder may count steps its own way
    if result.failure in ("timeout", "disk"):
        return stopped_build_error(result.failure, result.instruction, result.step, total, result.facts)
    return explain_build_error(
        result.raw_error or "the build ended without an image", result.instruction, result.dockerfile, result.step,
        total, memory_bytes=int(result.facts.get("memory_bytes", 0)),
    )


def stopped_build_error(reason: str, instruction: Any, step: int | None, total: int, facts: dict) -> str:
    """Why the grader stopped a build (`timeout`, or `disk`: a step wrote too much), for either builder."""
    if reason == "disk":
        where = (t("session.build_step_where", step=step, total=total, keyword=instruction.keyword,
                   value=instruction.value[:60], location=instruction.location)
                 if instruction else t("session.build_step_unknown"))
        return t("session.step_wrote_too_much", where=where, limit=f"{facts.get('limit_bytes', 0) // 1_000_000:,}")
    where = t("build_timeout.where", step=step, total=total, keyword=instruction.keyword,
              value=instruction.value[:60], location=instruction.location) if instruction else ""
    return t("build_timeout.message", seconds=facts.get("seconds", 0), where=where)


def explain_build_error(
    error_text: str, instruction: Any, dockerfile: Dockerfile | None, step: int | None, total: int, memory_bytes: int = 0
) -> str:
    """Turn the engine's build error into a sentence a beginner can act on."""
    where = t(
        "build_error.where", step=step, total=total, keyword=instruction.keyword,
        value=instruction.value[:70], location=instruction.location,
    ) if instruction and step else ""
    lowered = error_text.lower()
    if "requires buildkit" in lowered or "--mount" in lowered:
        return t("build_error.buildkit", where=where or t("build_error.a_run"))
    if "more than one source file" in lowered:  # the classic builder's rule; BuildKit lets `COPY a b .` through
        return t("build_error.copy_many_sources", where=where or t("build_error.a_copy"))
    parse_error = re.search(r"parse error (?:on )?line (\d+): (.*)", error_text, re.I)
    if parse_error:
        line, problem = parse_error.group(1), parse_error.group(2)
        text = dockerfile.line_text(int(line)) if dockerfile else ""
        earlier = dockerfile.lines[: int(line)] if dockerfile else []
        extra = ""
        # The classic builder reports a heredoc's body line, not the `<<EOF` line itself.
        if any("<<" in earlier_line for earlier_line in earlier):
            extra = t("build_error.heredoc")
        elif "todo" in text.lower():
            extra = t("build_error.todo_text")
        return t("build_error.parse", line=line, text=text[:70], problem=problem, extra=extra)
    unknown = re.search(r"unknown instruction: (\S+)", error_text, re.I)
    if unknown:
        return t("build_error.unknown_instruction", word=unknown.group(1))
    if any(
        marker in lowered
        for marker in ("pull access denied", "repository does not exist", "manifest unknown", "no such host", "not found: manifest", "failed to resolve")
    ) or (
        instruction is not None and instruction.keyword == "FROM"
    ):
        named = re.search(r"(?:pull access denied for|repository|image) ([\w./:@-]+)", error_text)
        if instruction is not None and instruction.keyword == "FROM":
            image = instruction.value.split()[0]
        elif named:
            image = named.group(1).rstrip(",")
        else:
            image = t("build_error.the_from_image")
        return t("build_error.base_image", image=image, error=error_text.strip()[:120])
    missing_source = re.search(r'(?:failed to compute cache key: )?(?:failed to calculate checksum of ref \S+ )?"/?([^"]+)" not found', error_text)
    if missing_source:  # BuildKit's words for a COPY source that is not in the context
        return t("build_error.copy_missing", where=where or t("build_error.a_copy"), name=missing_source.group(1))
    copy_missing = re.search(
        r"(?:COPY|ADD) failed: (?:file not found|forbidden path|stat [^:]*).*?(?:stat )?([^\s:]+): (?:file does not exist|no such file)", error_text, re.I,
    )
    if "copy failed" in lowered or "add failed" in lowered:
        name = copy_missing.group(1) if copy_missing else t("build_error.a_source")
        return t("build_error.copy_missing", where=where or t("build_error.a_copy"), name=name)
    # Docker: "returned a non-zero code: 3"; Podman (buildah): "while running runtime: exit status 3".
    code = re.search(r"(?:returned a non-zero code:|while running runtime: exit status) (\d+)", error_text)
    if code and code.group(1) == "137":
        return t("build_error.run_killed", where=where or t("build_error.a_run_step"), limit=memory_bytes // 1024 ** 3)
    if code:
        return t("build_error.run_failed", where=where or t("build_error.a_run_step"), code=code.group(1))
    at = t("build_error.at", where=where) if where else ""
    return t("build_error.failed", at=at, error=error_text.strip()[:300])


def describe_exit(state: dict, logs: str) -> str:
    """How a container died, for a learner: exit code, OOM, the tail of its logs."""
    code = state.get("ExitCode")
    if state.get("OOMKilled"):
        how = t("container_exit.oom")
    elif code == 137:
        how = t("container_exit.killed")
    elif code == 127:  # the shell's "command not found": the program is not in the image
        how = t("container_exit.not_found")
    else:
        how = t("container_exit.code", code=code)
    text = t("container_exit.stopped", how=how)
    if state.get("Error"):
        text += t("container_exit.error", error=state["Error"])
    text += t("container_exit.logs", logs=logs) if logs else t("container_exit.silent")
    return text


def listeners_read(code: int, output: str) -> tuple[list[tuple[str, int]] | None, str]:
    """The listening sockets from an exec of `cat /proc/net/tcp{,6}` (the engine's DNS left out); None and why when unreadable."""
    listeners = [(address, port) for address, port in parse_listeners(output) if address != ENGINE_DNS]
    if code not in (0, 1) and not listeners:
        return None, t("runtime.proc_unreadable", output=output.strip()[:100])
    return listeners, ""


def why_not_answering(listeners: list[tuple[str, int]] | None, unreadable: str, port: int) -> str:
    """A sentence saying why nothing answers on PORT although the process runs, from its listening sockets."""
    if listeners is None:
        return unreadable
    on_port = [address for address, p in listeners if p == port]
    if on_port and all(is_loopback(a) for a in on_port):
        return t("runtime.loopback_only", address=on_port[0], port=port)
    if not listeners:
        return t("runtime.no_listener")
    if not on_port:
        ports = ", ".join(f"{a}:{p}" for a, p in listeners)
        return t("runtime.other_port", ports=ports, port=port)
    return t("runtime.no_http", port=port)


def not_ready(run: "RunState") -> str:
    """Why the container never answered, from the facts the readiness wait kept."""
    if run.exit_state is not None:
        return describe_exit(run.exit_state, run.logs)
    listeners, unreadable = listeners_read(*run.sockets) if run.sockets else (None, "")
    reason = why_not_answering(listeners, unreadable, run.port)
    return t("not_answering.message", port=run.port, seconds=run.waited, reason=reason) + (
        t("container_exit.logs", logs=run.logs) if run.logs else ""
    )
