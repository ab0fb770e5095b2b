"""Looking at a live server's processes from outside, through /proc (Linux)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def holding_open(pids: list[int], path: Path) -> list[int]:
    """The processes among ``pids`` with ``path`` open."""
    holders = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    holders.append(pid)
                    break
            except OSError:
                continue
    return holders


def listening_on(pids: list[int], port: int) -> list[int]:
    """The processes among ``pids`` with a socket listening on ``port`` (/proc/net/tcp)."""
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            listening.add(f"socket:[{inode}]")
    return _holding_sockets(pids, listening)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def listening_unix(pids: list[int], name: str) -> list[int]:
    """The processes among ``pids`` with a Unix socket listening at a path whose file name
    starts with ``name`` (/proc/net/unix shows the path a socket was bound at, which may be a
    temporary name it was later renamed from)."""
    listening = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        accepting = int(fields[3], 16) & 0x10000  # __SO_ACCEPTCON
        if accepting and len(fields) > 7 and Path(fields[7]).name.startswith(name):
            listening.add(f"socket:[{fields[6]}]")
    return _holding_sockets(pids, listening)


def _holding_sockets(pids: list[int], sockets: set[str]) -> list[int]:
    """The processes among ``pids`` with one of ``sockets`` ("socket:[inode]") open."""
    found = []
    for pid in pids:
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if links & sockets:
            found.append(pid)
    return found
