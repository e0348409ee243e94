"""Listening sockets read from /proc/net/tcp{,6} inside a container: which address and port the app serves on."""

from __future__ import annotations

import socket
import struct

SOCKET_TABLES = ["cat", "/proc/net/tcp", "/proc/net/tcp6"]  # the command that shows them, run inside the container


def _decode_address(hex_address: str) -> str:
    """A /proc/net/tcp address (little-endian hex) as text."""
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # IPv6 is stored as four little-endian 32-bit words.
    words = struct.unpack("<4I", raw)
    return socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))


def parse_listeners(proc_net_tcp: str) -> list[tuple[str, int]]:
    """(address, port) of every LISTEN socket in the text of /proc/net/tcp and /proc/net/tcp6."""
    listeners = []
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] == "sl" or fields[3] != "0A":
            continue
        address, _, port = fields[1].partition(":")
        try:
            listeners.append((_decode_address(address), int(port, 16)))
        except (ValueError, OSError):
            continue
    return listeners


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback."""
    return address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1") or address.startswith("::ffff:127.")


# On a user-defined network (every grading has one) the engine's DNS resolver listens inside the
# container's network namespace, on 127.0.0.11 and a random port: not the learner's app.
ENGINE_DNS = "127.0.0.11"
