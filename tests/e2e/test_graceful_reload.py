"""``kill -HUP`` of a two-worker ``timeseal serve`` on a machine whose cores are all busy: every
request made across the reload is answered (none refused, none reset), and every worker is
replaced. The supervisor keeps each worker's socket and stops a worker only once its
replacement answers on it (timeseal.server.runtime.workers)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.processes import children, listening_on, wait_for
from tests.support.server import LiveServer, live_server
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import PKIStatus, parse_response

pytestmark = pytest.mark.e2e


@contextmanager
def every_core_busy() -> Iterator[None]:
    """One busy-looping process per core, for the duration of the block."""
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


class Poller:
    """Asks ``/healthz`` (a new connection each time) and stamps a token, in turn, until
    stopped; counts the answers and keeps every failure."""

    def __init__(self, server: LiveServer) -> None:
        self._server = server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self.answered = 0
        self.failures: list[str] = []

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        i = 0
        while not self._stop.wait(0.05):
            i += 1
            try:
                self._ask(i)
            except Exception as exc:  # every kind of failure counts: refused, reset, 5xx
                self.failures.append(f"request {i}: {exc!r}")
            else:
                self.answered += 1

    def _ask(self, i: int) -> None:
        # A fresh client each time: a new connection, as a new visitor would open.
        with httpx.Client(timeout=30) as client:
            if i % 2:
                health = client.get(f"{self._server.url}/healthz")
                assert health.status_code == 200, health.text
                return
            query = build_request(hashlib.sha256(i.to_bytes(4, "big")).digest(), nonce=i)
            reply = client.post(
                f"{self._server.url}/tsa",
                content=query.der,
                headers={"content-type": "application/timestamp-query"},
            )
            assert parse_response(reply.content).status is PKIStatus.GRANTED


def test_a_reload_under_load_loses_no_request(tmp_path: Path) -> None:
    with live_server(tmp_path / "data", workers=2) as server:
        port = int(server.url.rsplit(":", 1)[1])

        def workers() -> set[int]:
            return set(listening_on(children(server.process.pid), port))

        wait_for(lambda: len(workers()) == 2, "both workers to listen")
        before = workers()
        with every_core_busy(), Poller(server) as poller:
            wait_for(lambda: poller.answered >= 5, "the first answers")
            server.process.send_signal(signal.SIGHUP)
            wait_for(
                lambda: len(workers()) == 2 and not workers() & before,
                "both workers to be replaced",
                timeout=180,
            )
            answered_at_reload = poller.answered
            wait_for(lambda: poller.answered >= answered_at_reload + 5, "answers after it")
        assert poller.failures == []
        assert server.process.poll() is None
