"""Network namespaces that tests make: a grader cut off from the engine's host network, an "outside" to reach.

Made with `ip` (iproute2, which `make setup` installs), named `labkit-far-<random>` or
`labkit-out-<random>`, and always deleted (deleting a namespace also deletes its veth end).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import uuid
from typing import Iterator

import pytest


def require_netns() -> None:
    """Skip without root or `ip`; under CI=true fail instead: CI runs as root with setup's iproute2."""
    missing = None
    if os.geteuid() != 0:
        missing = "network namespaces need root"
    elif shutil.which("ip") is None:
        missing = "`ip` (iproute2) is not installed: run `make setup`"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the network-namespace tests: {missing}")
        pytest.skip(missing)


def ip(*args: str, namespace: str | None = None) -> str:
    """Run `ip ARGS` (inside NAMESPACE when given); its output. Raises when it fails."""
    command = ["ip", "netns", "exec", namespace, "ip", *args] if namespace else ["ip", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=30).stdout


@contextlib.contextmanager
def namespace(kind: str) -> Iterator[str]:
    """A fresh network namespace with only its loopback up; deleted on every path."""
    require_netns()
    name = f"labkit-{kind}-{uuid.uuid4().hex[:8]}"
    ip("netns", "add", name)
    try:
        ip("link", "set", "lo", "up", namespace=name)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


@contextlib.contextmanager
def outside() -> Iterator[tuple[str, int]]:
    """An address on this machine's network that only this test uses, with a TCP listener: (address, port).

    A namespace joined to the host by a veth pair on a random 10.254.x.y/30: a container with
    a way out reaches it through the host's routing (and Docker's NAT), one on an internal
    network cannot. No traffic leaves the machine.
    """
    with namespace("out") as name:
        tag = uuid.uuid4().hex[:6]
        host_end, far_end = f"lk{tag}a", f"lk{tag}b"
        base = f"10.254.{random.randrange(256)}.{4 * random.randrange(64)}"
        prefix, last = base.rsplit(".", 1)
        host_address, far_address = f"{prefix}.{int(last) + 1}", f"{prefix}.{int(last) + 2}"
        ip("link", "add", host_end, "type", "veth", "peer", "name", far_end)
        try:
            ip("link", "set", far_end, "netns", name)
            ip("addr", "add", f"{host_address}/30", "dev", host_end)
            ip("link", "set", host_end, "up")
            ip("addr", "add", f"{far_address}/30", "dev", far_end, namespace=name)
            ip("link", "set", far_end, "up", namespace=name)
            listener = subprocess.Popen(
                ["ip", "netns", "exec", name, "python3", "-c", LISTENER, far_address],
                stdout=subprocess.PIPE, text=True,
            )
            try:
                port = int(listener.stdout.readline())
                yield far_address, port
            finally:
                listener.kill()
                listener.wait(timeout=10)
        finally:
            subprocess.run(["ip", "link", "del", host_end], capture_output=True, timeout=30)


# Accepts connections and closes them, forever; prints its port first.
LISTENER = """
import socket, sys
server = socket.socket()
server.bind((sys.argv[1], 0))
server.listen(16)
print(server.getsockname()[1], flush=True)
while True:
    server.accept()[0].close()
"""
