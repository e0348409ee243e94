"""Reads a learner's `commands.sh` without running it: the docker CLI's grammar, an allow-list, and what is wrong.

Pure code: no engine, no shell. Each line is split with `shlex` (posix rules, so quotes and
backslashes mean what they mean to a shell) with `punctuation_chars`, so that `;`, `&&`, `|`,
`>` and `(` come out as tokens of their own and can be refused; `$(…)`, `` ` `` and unknown
`$VARIABLES` are refused before splitting. Options follow the docker CLI's own parser (cobra and
pflag): `-d`, `--detach`, `--name NAME`, `--name=NAME`, `-p5001:5001`, combined short flags such
as `-dp 5001:5001` (only the last of a group may take a value), `--` ends the options, and
`docker run` stops reading options at the image name (what follows is the container's command).
Only the subcommands and options listed in SUBCOMMANDS are ever replayed.

The result is a Plan: typed commands, and problems that are catalog keys (grader/locales/*/commands.yaml)
with their parameters, each either refusing its line or only explaining a mistake.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from grader.i18n import t
from grader.text import shorten

MAX_LINES = 1000
MAX_BYTES = 200_000
LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
# What `$REGISTRY` and `$DIGEST` stand for while the file is read; the replay puts in the grading's
# own registry address and the digest the last `docker push` printed.
REGISTRY_PLACEHOLDER = "registry.labkit.invalid:5000"
DIGEST_PLACEHOLDER = "sha256:" + "d" * 64
REGISTRY_VARIABLES = {"REGISTRY": REGISTRY_PLACEHOLDER, "DIGEST": DIGEST_PLACEHOLDER}
VARIABLE = re.compile(r"\$(\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Option:
    """One option of a subcommand: its canonical long name, short letter, and whether it takes a value."""

    name: str
    short: str | None = None
    value: bool = False


def _options(*specs: Option) -> dict[str, Option]:
    table: dict[str, Option] = {}
    for spec in specs:
        table["--" + spec.name] = spec
        if spec.short:
            table["-" + spec.short] = spec
    return table


# The allow-list: every subcommand and option the replay understands. Anything else is refused.
SUBCOMMANDS: dict[str, dict[str, Option]] = {
    "build": _options(
        Option("tag", "t", True), Option("file", "f", True), Option("no-cache"), Option("quiet", "q"),
        Option("build-arg", None, True), Option("label", None, True),
    ),
    "run": _options(
        Option("detach", "d"), Option("publish", "p", True), Option("name", None, True), Option("rm"),
        Option("env", "e", True), Option("interactive", "i"), Option("tty", "t"), Option("label", "l", True),
    ),
    "ps": _options(Option("all", "a"), Option("quiet", "q"), Option("filter", "f", True), Option("no-trunc"), Option("latest", "l"),
                   Option("format", None, True)),
    "logs": _options(Option("tail", "n", True), Option("timestamps", "t"), Option("follow", "f")),
    "stop": _options(Option("time", "t", True)),
    "rm": _options(Option("force", "f"), Option("volumes", "v")),
    "rmi": _options(Option("force", "f"), Option("no-prune")),
    "images": _options(Option("all", "a"), Option("quiet", "q"), Option("no-trunc"), Option("format", None, True)),
    "tag": {},
    "push": _options(Option("quiet", "q")),
    "pull": _options(Option("quiet", "q")),
    "inspect": _options(Option("format", "f", True), Option("type", None, True), Option("size", "s")),
}
CURL_OPTIONS = _options(
    Option("request", "X", True), Option("header", "H", True), Option("data", "d", True), Option("data-raw", None, True),
    Option("data-binary", None, True),
    Option("json", None, True), Option("silent", "s"), Option("show-error", "S"), Option("include", "i"),
    Option("fail", "f"), Option("location", "L"), Option("max-time", "m", True),
)
# `docker container X` / `docker image X`: the management commands' names for the same subcommands.
MANAGEMENT = {
    ("container", "run"): "run", ("container", "ls"): "ps", ("container", "ps"): "ps", ("container", "list"): "ps",
    ("container", "logs"): "logs", ("container", "stop"): "stop", ("container", "rm"): "rm", ("container", "remove"): "rm",
    ("container", "inspect"): "inspect", ("image", "build"): "build", ("image", "ls"): "images", ("image", "list"): "images",
    ("image", "rm"): "rmi", ("image", "remove"): "rmi", ("image", "tag"): "tag", ("image", "push"): "push",
    ("image", "pull"): "pull", ("image", "inspect"): "inspect",
}
# How many names each subcommand takes: (at least, at most); None = no limit.
ARITY: dict[str, tuple[int, int | None]] = {
    "build": (1, 1), "ps": (0, 0), "logs": (1, 1), "stop": (1, None), "rm": (1, None), "rmi": (1, None),
    "images": (0, 1), "tag": (2, 2), "push": (1, 1), "pull": (1, 1), "inspect": (1, None),
}
# Options refused with their own explanation (the rest get the generic one).
DANGEROUS = {"--privileged": "commands.privileged", "--pid": "commands.host_namespace", "--network": "commands.network_option",
             "--net": "commands.network_option", "--cap-add": "commands.privileged", "--device": "commands.privileged"}


@dataclass(frozen=True)
class Problem:
    """Something wrong on a line: a catalog key and its parameters; `refused` lines are never replayed."""

    line: int
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    refused: bool = False

    def message(self) -> str:
        """The learner-facing sentence, in the current language."""
        return t(self.key, **self.params)


@dataclass(frozen=True)
class Command:
    """One allowed command: `docker VERB ...` or `curl ...`, its options by canonical name and its names."""

    line: int
    text: str
    verb: str
    options: Mapping[str, tuple[str, ...]]
    args: tuple[str, ...]
    container_command: tuple[str, ...] = ()  # `docker run IMAGE CMD...`

    def flag(self, name: str) -> bool:
        """True when a boolean option is given (and not set to false)."""
        values = self.options.get(name)
        return bool(values) and values[-1].lower() not in ("false", "0")

    def value(self, name: str) -> str | None:
        """The last value of an option, None when absent."""
        values = self.options.get(name)
        return values[-1] if values else None

    def values(self, name: str) -> tuple[str, ...]:
        """Every value of a repeatable option."""
        return tuple(self.options.get(name, ()))


@dataclass(frozen=True)
class Publish:
    """One `-p [IP:]HOST:CONTAINER[/proto]`; host None when only the container port is given."""

    host: int | None
    container: int
    ip: str = ""


@dataclass
class Plan:
    """What commands.sh asks for: the commands that may be replayed, every problem, or why nothing is."""

    commands: list[Command] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fatal: Problem | None = None  # empty, binary, too long: graded 0 with this one sentence

    @property
    def refused(self) -> list[Problem]:
        """The problems that kept a line from being replayed."""
        return [p for p in self.problems if p.refused]

    def of(self, verb: str) -> list[Command]:
        """The commands of one verb, in order."""
        return [c for c in self.commands if c.verb == verb]


class Refused(Exception):
    """A line the replay will not run; carries its problem."""

    def __init__(self, key: str, **params: Any):
        super().__init__(key)
        self.key, self.params = key, params


# -- reading the file --------------------------------------------------------------------------


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each non-blank, non-comment line, `\\` continuations joined."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            pending += raw[:-1] + " "
            continue
        lines.append((start, (pending + raw).strip()))
        pending = ""
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines


def read_plan(data: bytes, port: int = 5001, variables: Mapping[str, str] | None = None) -> Plan:
    """Parse commands.sh's bytes into a Plan (`port`: the app's port; `variables`: the $NAMES it may use)."""
    if b"\0" in data[:MAX_BYTES]:
        return Plan(fatal=Problem(0, "commands.binary"))
    if len(data) > MAX_BYTES:
        return Plan(fatal=Problem(0, "commands.too_long", {"limit": MAX_LINES}))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Plan(fatal=Problem(0, "commands.binary"))
    if len(text.splitlines()) > MAX_LINES:
        return Plan(fatal=Problem(0, "commands.too_long", {"limit": MAX_LINES}))
    plan = Plan()
    for number, line in logical_lines(text):
        try:
            plan.commands.append(parse_line(number, line, variables or {}))
        except Refused as refusal:
            plan.problems.append(Problem(number, refusal.key, {"line": number, "text": shorten(line, 80), **refusal.params}, refused=True))
    if not plan.commands and not plan.problems:
        return Plan(fatal=Problem(0, "commands.empty"))
    plan.problems.extend(explain(plan.commands, port))
    plan.problems.sort(key=lambda p: p.line)
    return plan


def _expand(line: str, variables: Mapping[str, str]) -> str:
    """Refuse command substitution and unknown variables; put the allowed ones' values in."""
    if "`" in line or "$(" in line:
        raise Refused("commands.substitution")

    def value(match: re.Match) -> str:
        name = match.group("braced") or match.group("bare")
        if name not in variables:
            raise Refused("commands.variable", name=name, known=", ".join(f"${v}" for v in variables) or "-")
        return variables[name]

    expanded = VARIABLE.sub(value, line)
    if "$" in expanded.replace("\\$", ""):
        raise Refused("commands.substitution")
    return expanded


def split_words(line: str) -> list[str]:
    """The shell words of a line; a shell operator (; && | > < ( ) &) outside quotes refuses the line."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True  # `#` starts a comment, as at the start of a shell word
    words: list[str] = []
    try:
        while True:
            token = lexer.get_token()
            if token is None or token == lexer.eof:
                break
            if token and all(ch in "();<>|&" for ch in token) and not _quoted_in(line, token):
                raise Refused("commands.operator", operator=token)
            words.append(token)
    except ValueError as error:  # "No closing quotation", "No escaped character"
        raise Refused("commands.quotes", error=str(error)) from None
    return words


def _quoted_in(line: str, token: str) -> bool:
    """True when every occurrence of the operator in the line sits inside quotes."""
    quote = None
    for index, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif line.startswith(token, index):
            return False
    return True


def parse_line(number: int, line: str, variables: Mapping[str, str] | None = None) -> Command:
    """One logical line as a Command; raises Refused with the reason when it may not be replayed."""
    words = split_words(_expand(line, variables or {}))
    if not words:
        raise Refused("commands.nothing")
    program, rest = words[0], words[1:]
    if program in ("sudo", "doas"):
        raise Refused("commands.sudo")
    if "=" in program and not program.startswith("-"):
        raise Refused("commands.assignment", word=program)
    if program == "curl":
        options, args, _ = parse_options(rest, CURL_OPTIONS, "curl", stop_at_first_arg=False)
        if len(args) != 1:
            raise Refused("commands.curl_url_count", count=len(args))
        check_url(args[0])
        return Command(number, line, "curl", options, tuple(args))
    if program != "docker":
        raise Refused("commands.not_docker", program=program)
    if rest and rest[0].startswith("-"):
        raise Refused("commands.global_option", option=rest[0])
    if not rest:
        raise Refused("commands.no_subcommand")
    verb, rest = rest[0], rest[1:]
    if verb in ("container", "image") and rest:
        verb, rest = MANAGEMENT.get((verb, rest[0]), f"{verb} {rest[0]}"), rest[1:]
    if verb not in SUBCOMMANDS:
        raise Refused("commands.subcommand", subcommand=verb, allowed=", ".join(sorted(SUBCOMMANDS)))
    options, args, trailing = parse_options(rest, SUBCOMMANDS[verb], verb, stop_at_first_arg=verb == "run")
    if verb == "run":
        if not args:
            raise Refused("commands.run_no_image")
        check_run(options)
        return Command(number, line, verb, options, tuple(args[:1]), tuple(trailing))
    low, high = ARITY[verb]
    if len(args) < low or (high is not None and len(args) > high):
        raise Refused("commands.arity", subcommand=verb, count=len(args))
    if verb == "build":
        check_context(args[0], options)
    if verb in ("push", "pull"):
        registry = (variables or {}).get("REGISTRY")
        if registry is None:
            raise Refused("commands.no_registry", subcommand=verb)
        if not args[0].startswith(registry + "/"):
            raise Refused("commands.registry_elsewhere", subcommand=verb, reference=args[0])
    return Command(number, line, verb, options, tuple(args))


def parse_options(
    words: list[str], table: Mapping[str, Option], verb: str, stop_at_first_arg: bool
) -> tuple[dict[str, tuple[str, ...]], list[str], list[str]]:
    """pflag's grammar: (options by canonical name, positional words, words after run's image)."""
    options: dict[str, list[str]] = {}
    args: list[str] = []
    index = 0

    def take(option: Option, attached: str | None) -> None:
        nonlocal index
        if option.value:
            if attached is None:
                index += 1
                if index >= len(words):
                    raise Refused("commands.option_needs_value", option="--" + option.name, subcommand=verb)
                attached = words[index]
            options.setdefault(option.name, []).append(attached)
        else:
            options.setdefault(option.name, []).append(attached if attached is not None else "true")

    while index < len(words):
        word = words[index]
        if word == "--":
            args.extend(words[index + 1 :])
            break
        if word.startswith("--") and len(word) > 2:
            name, _, attached = word.partition("=")
            option = table.get(name)
            if option is None:
                refuse_option(name, words[index + 1] if index + 1 < len(words) else "", attached, verb)
            take(option, attached if "=" in word else None)
        elif word.startswith("-") and len(word) > 1:
            # Combined short flags: each letter a flag, the first one that takes a value takes the rest.
            letters = word[1:]
            position = 0
            while position < len(letters):
                option = table.get("-" + letters[position])
                if option is None:  # `-v/:/host`: the rest of the word is the refused option's value
                    refuse_option("-" + letters[position], words[index + 1] if index + 1 < len(words) else "", letters[position + 1 :], verb)
                rest = letters[position + 1 :]
                if option.value:
                    take(option, rest.lstrip("=") if rest else None)
                    break
                take(option, None)
                position += 1
        else:
            args.append(word)
            if stop_at_first_arg:
                return {k: tuple(v) for k, v in options.items()}, args, words[index + 1 :]
        index += 1
    return {k: tuple(v) for k, v in options.items()}, args, []


def refuse_option(name: str, following: str, attached: str, verb: str) -> None:
    """Refuse an option that is not on the allow-list, with its own reason when it is a dangerous one."""
    if name in ("-v", "--volume", "--mount"):
        source = (attached or following).split(":")[0]
        if source in ("/", "") or source.startswith("/") and source.rstrip("/") in ("", "/etc", "/var/run", "/root", "/home"):
            raise Refused("commands.host_root", option=name, value=attached or following)
        raise Refused("commands.volume", option=name)
    if name in DANGEROUS:
        raise Refused(DANGEROUS[name], option=name)
    raise Refused("commands.option", option=name, subcommand=verb)


def check_run(options: Mapping[str, tuple[str, ...]]) -> None:
    """Refuse a `docker run` whose published ports or name the replay cannot honour."""
    for value in options.get("publish", ()):
        parse_publish(value)
    for name in options.get("name", ()):
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
            raise Refused("commands.bad_name", name=name)


def parse_publish(value: str) -> Publish:
    """`-p`'s value: [IP:][HOST:]CONTAINER[/tcp]; refuses ranges, UDP and addresses other than loopback or any."""
    spec, _, protocol = value.partition("/")
    if protocol not in ("", "tcp"):
        raise Refused("commands.publish_form", value=value)
    parts = spec.rsplit(":", 2) if not spec.startswith("[") else re.findall(r"\[[^\]]*\]|[^:]+", spec)
    try:
        numbers = [int(p) for p in parts[-2:]] if len(parts) >= 2 else [int(parts[0])]
    except ValueError:
        raise Refused("commands.publish_form", value=value) from None
    if any(not 0 < n < 65536 for n in numbers):
        raise Refused("commands.publish_form", value=value)
    ip = parts[0].strip("[]") if len(parts) == 3 else ""
    if ip and ip not in LOOPBACK:
        raise Refused("commands.publish_address", value=value, ip=ip)
    return Publish(numbers[0], numbers[1]) if len(numbers) == 2 else Publish(None, numbers[0], ip)


def check_context(context: str, options: Mapping[str, tuple[str, ...]]) -> None:
    """The build context and Dockerfile must be inside the exercise folder (no URL, no stdin, no ..)."""
    for dockerfile in options.get("file", ()):
        if dockerfile.removeprefix("./") != "Dockerfile":
            raise Refused("commands.dockerfile_name", path=dockerfile)
    if context == "-" or "://" in context or context.startswith(("/", "~", "git@")) or ".." in context.split("/"):
        raise Refused("commands.context", path=context)


def check_url(url: str) -> None:
    """curl may only ask this machine: another host's address is refused."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme not in ("http", "https"):
        raise Refused("commands.curl_scheme", url=url)
    if (parts.hostname or "") not in LOOPBACK:
        raise Refused("commands.curl_host", host=parts.hostname or url)
    try:
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise Refused("commands.curl_host", host=parts.netloc) from None


def curl_target(command: Command) -> tuple[int, str, str, str | None]:
    """(host port, method, path, body) of an allowed curl."""
    parts = urlsplit(command.args[0] if "://" in command.args[0] else "http://" + command.args[0])
    body = next((command.value(name) for name in ("data", "data-binary", "data-raw", "json") if command.value(name) is not None), None)
    method = command.value("request") or ("POST" if body is not None else "GET")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.port or (443 if parts.scheme == "https" else 80), method.upper(), path, body


# -- explaining mistakes that are allowed but wrong ------------------------------------------------


def explain(commands: list[Command], port: int) -> list[Problem]:
    """Walk the commands as the engine would and say what would go wrong and why (nothing refused)."""
    problems: list[Problem] = []
    images: set[str] = set()
    containers: dict[str, dict[str, Any]] = {}  # name -> {"image", "running", "publish"}
    published: dict[int, int] = {}  # host port -> container port, of the containers that exist
    auto_removed: set[str] = set()  # names of `run --rm` containers that a stop removed
    for command in commands:
        def p(key: str, line: int = command.line, **params: Any) -> None:
            problems.append(Problem(line, key, {"line": line, **params}))

        for name in image_names(command):
            if not valid_reference(name):
                p("commands.invalid_reference", reference=name)
        if command.verb == "build":
            images.update(_with_tag(tag) for tag in command.values("tag"))
            if not command.values("tag"):
                p("commands.build_no_tag")
        elif command.verb == "tag" and len(command.args) == 2:
            if _with_tag(command.args[0]) not in images:
                p("commands.tag_unknown_image", image=command.args[0])
            images.add(_with_tag(command.args[1]))
        elif command.verb == "push" and _with_tag(command.args[0]) not in images:
            p("commands.push_unknown_image", image=command.args[0])
        elif command.verb == "pull":
            images.add(_with_tag(command.args[0]))
        elif command.verb == "run":
            image = _with_tag(command.args[0])
            if image not in images:
                p("commands.run_unknown_image", image=command.args[0])
            if not command.flag("detach"):
                p("commands.run_foreground")
            publishes = [parse_publish(v) for v in command.values("publish")]
            if not publishes:
                p("commands.run_no_publish", port=port)
            for publish in publishes:
                if publish.container != port:
                    p("commands.publish_wrong_side", value=f"{publish.host}:{publish.container}" if publish.host else str(publish.container),
                      port=port, container=publish.container)
                elif publish.host is None:
                    p("commands.publish_random", port=port)
            name = command.value("name")
            if name is None:
                p("commands.run_no_name")
            elif name in containers:
                p("commands.name_in_use", name=name)
            else:
                containers[name] = {"image": image, "running": True, "publish": publishes, "auto_remove": command.flag("rm")}
            published.update({pub.host: pub.container for pub in publishes if pub.host})
        elif command.verb in ("logs", "stop", "rm"):
            for name in command.args:
                if name not in containers and name in auto_removed:
                    p("commands.auto_removed", subcommand=command.verb, name=name)
                    continue
                if name not in containers:
                    p("commands.unknown_container", subcommand=command.verb, name=name, known=", ".join(containers) or "-")
                    continue
                state = containers[name]
                if command.verb == "logs" and command.flag("follow"):
                    p("commands.logs_follow")
                if command.verb == "stop":
                    state["running"] = False
                    if state["auto_remove"]:  # `run --rm`: gone once stopped
                        _forget(containers, published, name)
                        auto_removed.add(name)
                elif command.verb == "rm":
                    if state["running"] and not command.flag("force"):
                        p("commands.rm_before_stop", name=name)
                        continue
                    _forget(containers, published, name)
        elif command.verb == "rmi":
            for reference in command.args:
                image = _with_tag(reference)
                users = [name for name, state in containers.items() if state["image"] == image]
                if image not in images:
                    p("commands.rmi_unknown_image", image=reference)
                elif users and not command.flag("force"):
                    p("commands.rmi_before_rm", image=reference, container=users[0])
                else:
                    images.discard(image)
        elif command.verb == "curl":
            host_port, method, path, _ = curl_target(command)
            if host_port not in published:
                p("commands.curl_unpublished", port=host_port, published=", ".join(str(h) for h in published) or "-")
            if path.rstrip("/") == "/predict_iris" and method != "POST":
                p("commands.curl_method", method=method)
    return problems


def _forget(containers: dict[str, dict[str, Any]], published: dict[int, int], name: str) -> None:
    """A container is gone: its name and its published ports are free again."""
    for pub in containers.pop(name)["publish"]:
        published.pop(pub.host, None)


# The distribution reference grammar the engine applies to names (docker/distribution's reference package).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?:(?:[a-zA-Z0-9.-]+)(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?"
)


def image_names(command: Command) -> tuple[str, ...]:
    """The image references a command names (build's tags, run's image, the names of tag, rmi, push and pull)."""
    if command.verb == "build":
        return command.values("tag")
    if command.verb == "run":
        return command.args[:1]
    return command.args if command.verb in ("tag", "rmi", "push", "pull") else ()


def valid_reference(reference: str) -> bool:
    """True when the engine would accept this image name (lower-case repository, tag of word characters)."""
    return bool(_REFERENCE.fullmatch(reference))


def _with_tag(reference: str) -> str:
    """An image reference with `:latest` when it names no tag or digest, as the engine reads it."""
    last = reference.rsplit("/", 1)[-1]
    return reference if ":" in last or "@" in reference else reference + ":latest"


def normalize_image(reference: str) -> str:
    """The public name of `_with_tag`: a reference as the engine reads it."""
    return _with_tag(reference)
