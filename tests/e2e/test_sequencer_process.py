"""With several workers, ``timeseal serve`` runs the log sequencer in a process of its own: the
workers never hold the sequencer lock, ``/healthz`` still reports the server's role, and a
sequencer process that dies is replaced without losing a leaf."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.support.processes import children, holding_open, listening_on, wait_for
from tests.support.server import LiveServer, live_server
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import PKIStatus, parse_response

pytestmark = pytest.mark.e2e

LOCK_FILE = "log.sequencer.lock"


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
