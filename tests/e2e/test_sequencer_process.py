"""With several workers, ``timeseal serve`` runs the log sequencer in a process of its own: the
workers never hold the sequencer lock, ``/healthz`` still reports the server's role, and a
sequencer process that dies is replaced without losing a leaf."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.server import LiveServer, live_server
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import PKIStatus, parse_response

pytestmark = pytest.mark.e2e

LOCK_FILE = "log.sequencer.lock"


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
    found = []
    for pid in pids:
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if links & listening:
            found.append(pid)
    return found


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stamp(server: LiveServer, i: int) -> None:
    body = build_request(hashlib.sha256(i.to_bytes(4, "big")).digest(), nonce=i).der
    reply = httpx.post(
        f"{server.url}/tsa",
        content=body,
        headers={"content-type": "application/timestamp-query"},
        timeout=30,
    )
    assert parse_response(reply.content).status is PKIStatus.GRANTED


def log_size(server: LiveServer) -> int:
    checkpoint = httpx.get(f"{server.url}/log/checkpoint", timeout=30).text
    return int(checkpoint.splitlines()[1])


def role(server: LiveServer) -> bool:
    return bool(httpx.get(f"{server.url}/healthz", timeout=30).json()["log"]["sequencer"])


def sequencer_processes(server: LiveServer) -> list[int]:
    lock = server.data_dir / LOCK_FILE
    return holding_open(children(server.process.pid), lock)


def replaced_by_one(server: LiveServer, old: int) -> bool:
    """Exactly one sequencer process runs, and it is not ``old``."""
    running = sequencer_processes(server)
    return len(running) == 1 and running[0] != old


def test_the_sequencer_is_a_process_of_its_own_and_comes_back_after_kill(tmp_path: Path) -> None:
    with live_server(tmp_path / "data", workers=2) as server:
        wait_for(lambda: len(sequencer_processes(server)) == 1, "the sequencer process")
        (sequencer,) = sequencer_processes(server)
        port = int(server.url.rsplit(":", 1)[1])

        def workers() -> list[int]:
            return listening_on(children(server.process.pid), port)

        wait_for(lambda: len(workers()) == 2, "both workers to listen")
        assert sequencer not in workers(), (workers(), sequencer)
        wait_for(lambda: role(server), "/healthz to report the sequencer role")

        for i in range(20):
            stamp(server, i)
        wait_for(lambda: log_size(server) >= 20, "the tokens' leaves to be sequenced")

        os.kill(sequencer, signal.SIGKILL)
        for i in range(20, 40):  # issued while no sequencer runs: pending, not lost
            stamp(server, i)
        wait_for(lambda: replaced_by_one(server, sequencer), "a new sequencer process")
        wait_for(lambda: log_size(server) >= 40, "the leaves issued meanwhile to be sequenced")
        wait_for(lambda: role(server), "/healthz to report the role again")

        # SIGHUP replaces the sequencer process too; the role passes to the new one.
        (replaced,) = sequencer_processes(server)
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: replaced_by_one(server, replaced), "the sequencer process replaced")
        for i in range(40, 60):
            stamp(server, i)
        wait_for(lambda: log_size(server) >= 60, "sequencing after the replacement")
        wait_for(lambda: role(server), "/healthz to report the role after the replacement")
        assert server.process.poll() is None
