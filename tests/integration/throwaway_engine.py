"""A second, throwaway Docker engine on this machine (own socket, data root, exec root, pidfile, bridge)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import docker
import pytest


@dataclass
class Engine:
    """A dockerd started by a test; `url` goes into DOCKER_HOST."""

    root: Path
    process: subprocess.Popen
    bridge: str
    pool: str  # the address pool of the networks it makes: its own, so that what a crash leaves is found and removed
    tcp_port: int | None = None  # also listening on tcp://127.0.0.1:PORT (no TLS: loopback only)

    @property
    def url(self) -> str:
        return f"unix://{self.root}/docker.sock"

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.tcp_port}"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, version="auto", timeout=60)

    def kill(self) -> None:
        """SIGKILL the daemon (a crash, as the fault tests want)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def remove(self) -> None:
        """Stop it and remove everything it had: mounts, folders, the bridge."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        subprocess.run(["pkill", "-f", f"containerd.*{self.root}"], check=False)
        _remove_folder(self.root)
        subprocess.run(["ip", "link", "delete", self.bridge], check=False, capture_output=True)
        _remove_pool_bridges(self.pool)
        _bridged_traffic_rule("-D", self.root.name)


def address_pool(subnet: str) -> str:
    """The engine's own pool for the networks it makes, from its bridge's subnet (172.30.71.1/24 -> 10.71.0.0/16).

    Not the main engine's default pools: a network's bridge outlives an engine that is killed
    (the fault tests kill one mid-grading), and such orphans, in the main engine's ranges, once
    used up its address pools ("could not find an available, non-overlapping IPv4 address pool").
    """
    return f"10.{int(subnet.split('.')[2])}.0.0/16"


def _remove_pool_bridges(pool: str) -> None:
    """Delete the bridges with an address in POOL: a throwaway engine's networks, which no engine knows once it is gone."""
    listed = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=False).stdout
    network = ipaddress.ip_network(pool)
    for link in json.loads(listed or "[]"):
        name = link.get("ifname", "")
        if name.startswith("br-") and any(ipaddress.ip_address(entry["local"]) in network for entry in link.get("addr_info", [])):
            subprocess.run(["ip", "link", "delete", name], check=False, capture_output=True)


def _remove_folder(root: Path) -> None:
    """Unmount what an engine mounted under ROOT (its data root binds itself), then delete ROOT."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if str(root) in line.split()[1]]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    shutil.rmtree(root, ignore_errors=True)


def _bridged_traffic_rule(action: str, name: str) -> None:
    """Add (-I) or delete (-D) the rule that lets containers on one of this engine's networks talk.

    The engine runs with --iptables=false, and the main engine's FORWARD policy is DROP: with
    br_netfilter on, traffic inside this engine's networks (the learner's app and the grader's
    probe) would be dropped. Bridged traffic only: nothing routed, so an internal network still
    has no way out.
    """
    rule = ["DOCKER-USER", "-m", "physdev", "--physdev-is-bridged", "-m", "comment", "--comment", f"labkit test engine {name}", "-j", "ACCEPT"]
    if action == "-I" and subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode == 0:
        return
    subprocess.run(["iptables", action, *rule], check=False, capture_output=True)


def start_engine(name: str, subnet: str, images: list[str], disk_mb: int | None = None, tcp: bool = False) -> Engine:
    """Start a dockerd named NAME on bridge subnet SUBNET (e.g. 172.30.71.1/24), load IMAGES from the main engine.

    `disk_mb` puts its data root on a tmpfs of that size: an engine whose disk fills up.
    `tcp` also has it listen on a free port of 127.0.0.1.
    """
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        raise RuntimeError("a second engine needs root and dockerd")
    root = Path(f"/tmp/labkit-{name}")
    bridge = f"lk-{name}"[:15]
    pool = address_pool(subnet)
    _remove_folder(root)  # what an earlier run that was killed left, mounts included
    _remove_pool_bridges(pool)
    root.mkdir(parents=True, exist_ok=True)
    if disk_mb:
        (root / "data").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={disk_mb}m", "tmpfs", str(root / "data")], check=True)
    subprocess.run(["ip", "link", "delete", bridge], check=False, capture_output=True)
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", subnet, "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    log = open(root / "dockerd.log", "w")
    tcp_port = _free_loopback_port() if tcp else None
    process = subprocess.Popen(
        [
            "dockerd", "--host", f"unix://{root}/docker.sock", *(["--host", f"tcp://127.0.0.1:{tcp_port}"] if tcp_port else []),
            "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"), "--bridge", bridge,
            "--iptables=false", "--ip-masq=false",  # the main engine owns iptables; builds need no network here
            "--default-address-pool", f"base={pool},size=24",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    engine = Engine(root, process, bridge, pool, tcp_port)
    _bridged_traffic_rule("-I", root.name)
    deadline = time.monotonic() + 60
    while True:
        try:
            engine.client().ping()
            break
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                engine.remove()
                raise RuntimeError(f"the second engine did not start: {(root / 'dockerd.log').read_text()[-500:] if root.exists() else ''}")
            time.sleep(0.2)
    for image in images:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", engine.url, "load", "-q"], stdin=save.stdout, check=True, capture_output=True)
        save.wait()
    return engine


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def throwaway_engine(name: str, subnet: str, disk_mb: int | None = None) -> Iterator[Engine]:
    """A started engine holding the base image, removed afterwards; the test is skipped without
    root or dockerd, except under CI, where that is a failure."""
    try:
        engine = start_engine(name, subnet, ["python:3.11-slim"], disk_mb=disk_mb)
    except RuntimeError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(error))
    try:
        yield engine
    finally:
        engine.remove()
