"""The supervisor stops its workers before its companions: a worker finishing its last
requests while it shuts down still has the journal process to journal their tokens."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path
from typing import Any

from tests.support.processes import wait_for
from timeseal.server.runtime.workers import ProcessSpec, Supervisor

#: How long a worker takes to shut down after SIGTERM (finishing its requests).
WORKER_DRAIN = 0.5


def _note(directory: Path, what: str) -> None:
    (directory / f"{what}-{os.getpid()}").write_text(repr(time.time()))


def _worker(config: dict[str, Any]) -> None:
    directory = Path(config["dir"])
    stopping = False

    def on_term(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    _note(directory, "worker-started")
    while not stopping:
        time.sleep(0.01)
    time.sleep(WORKER_DRAIN)
    _note(directory, "worker-stopped")


def _companion(directory: Path) -> None:
    def on_term(*_: object) -> None:
        _note(directory, "companion-told")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    _note(directory, "companion-started")
    while True:
        time.sleep(0.01)


def _supervise(directory: Path) -> None:
    supervisor = Supervisor(
        {"dir": str(directory)},
        2,
        target=_worker,
        companions=[ProcessSpec(_companion, (directory,))],
    )
    supervisor.run()


def times(directory: Path, what: str) -> list[float]:
    return [float(p.read_text()) for p in directory.glob(f"{what}-*")]


def test_workers_stop_before_the_companions(tmp_path: Path) -> None:
    supervisor = mp.get_context("spawn").Process(target=_supervise, args=(tmp_path,))
    supervisor.start()
    try:
        wait_for(
            lambda: (
                len(times(tmp_path, "worker-started")) == 2
                and len(times(tmp_path, "companion-started")) == 1
            ),
            "the workers and the companion to start",
        )
        assert supervisor.pid is not None
        os.kill(supervisor.pid, signal.SIGTERM)
        supervisor.join(30)
        assert supervisor.exitcode == 0
    finally:
        if supervisor.is_alive():
            supervisor.kill()
    stopped = times(tmp_path, "worker-stopped")
    (told,) = times(tmp_path, "companion-told")
    assert len(stopped) == 2
    assert told >= max(stopped), "the companion was told to stop while a worker still ran"
