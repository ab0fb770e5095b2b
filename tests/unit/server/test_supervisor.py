"""The supervisor stops its workers before its companions: a worker finishing its last
requests while it shuts down still has the journal process to journal their tokens. On SIGHUP
it replaces a worker only once the replacement answers on the same socket, and keeps the
worker when its replacement cannot start."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from tests.support.processes import wait_for
from tests.support.server import free_port
from timeseal.server.runtime.workers import ProcessSpec, Supervisor

#: How long a worker takes to shut down after SIGTERM (finishing its requests).
WORKER_DRAIN = 0.5


def _note(directory: Path, what: str) -> None:
    (directory / f"{what}-{os.getpid()}").write_text(repr(time.time()))


#: How long a stopping supervisor may take: its workers drain, nothing waits for a timeout.
STOP_WAIT = 15.0

#: How long a worker takes from its start to answering (a real one imports and runs its lifespan).
WORKER_WARM_UP = 1.0


def _worker(config: dict[str, Any], sock: socket.socket, ready: Event) -> None:
    directory = Path(config["dir"])
    if (directory / "broken").exists():  # a reload whose new configuration cannot start
        _note(directory, "worker-failed")
        raise SystemExit(3)
    stopping = False

    def on_term(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    _note(directory, "worker-started")
    time.sleep(WORKER_WARM_UP)
    assert sock.getsockname()[1] == config["port"]
    _note(directory, "worker-ready")
    ready.set()
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
        {"dir": str(directory), "host": "127.0.0.1", "port": free_port()},
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


def _start_supervisor(directory: Path) -> mp.process.BaseProcess:
    supervisor = mp.get_context("spawn").Process(target=_supervise, args=(directory,))
    supervisor.start()
    wait_for(lambda: len(times(directory, "worker-ready")) == 2, "both workers to answer")
    return supervisor


def _end(supervisor: mp.process.BaseProcess) -> None:
    if supervisor.is_alive():
        assert supervisor.pid is not None
        os.kill(supervisor.pid, signal.SIGTERM)
        supervisor.join(30)
    if supervisor.is_alive():
        supervisor.kill()


def test_a_reload_stops_each_worker_only_after_its_replacement_answers(tmp_path: Path) -> None:
    supervisor = _start_supervisor(tmp_path)
    try:
        assert supervisor.pid is not None
        os.kill(supervisor.pid, signal.SIGHUP)
        wait_for(lambda: len(times(tmp_path, "worker-stopped")) == 2, "the old workers to stop")
        wait_for(lambda: len(times(tmp_path, "worker-ready")) == 4, "the replacements")
        ready = sorted(times(tmp_path, "worker-ready"))
        stopped = sorted(times(tmp_path, "worker-stopped"))
        # At every moment at least two workers answered: each old one stopped (finished
        # draining) only after its replacement was ready.
        assert stopped[0] >= ready[2] + WORKER_DRAIN - 0.05
        assert stopped[1] >= ready[3] + WORKER_DRAIN - 0.05
        assert supervisor.is_alive()
    finally:
        _end(supervisor)
    assert supervisor.exitcode == 0


def test_a_replacement_that_cannot_start_leaves_its_worker_serving(tmp_path: Path) -> None:
    supervisor = _start_supervisor(tmp_path)
    try:
        (tmp_path / "broken").touch()
        assert supervisor.pid is not None
        os.kill(supervisor.pid, signal.SIGHUP)
        wait_for(lambda: len(times(tmp_path, "worker-failed")) == 2, "both replacements to fail")
        time.sleep(WORKER_DRAIN * 2)
        assert times(tmp_path, "worker-stopped") == []  # the old workers still serve
        assert supervisor.is_alive()
    finally:
        _end(supervisor)
    assert supervisor.exitcode == 0
    assert len(times(tmp_path, "worker-stopped")) == 2


def _pids(directory: Path, what: str) -> set[int]:
    return {int(p.name.rsplit("-", 1)[1]) for p in directory.glob(f"{what}-*")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_replacement_killed_while_starting_leaves_its_worker_serving(tmp_path: Path) -> None:
    supervisor = _start_supervisor(tmp_path)
    originals = _pids(tmp_path, "worker-started")
    try:
        assert supervisor.pid is not None
        os.kill(supervisor.pid, signal.SIGHUP)
        wait_for(lambda: len(_pids(tmp_path, "worker-started")) == 3, "a replacement to start")
        (replacement,) = _pids(tmp_path, "worker-started") - originals
        os.kill(replacement, signal.SIGKILL)  # dies during its warm-up, before it answers
        # The reload goes on with the second slot, whose replacement answers.
        wait_for(lambda: len(_pids(tmp_path, "worker-stopped")) == 1, "one old worker to stop")
        time.sleep(WORKER_WARM_UP + WORKER_DRAIN)
        assert len(_pids(tmp_path, "worker-stopped")) == 1  # the first slot's worker serves on
        serving = (originals | _pids(tmp_path, "worker-ready")) - _pids(tmp_path, "worker-stopped")
        assert {pid for pid in serving if _alive(pid)} == serving - {replacement}
        assert len(serving - {replacement}) == 2
        assert supervisor.is_alive()
    finally:
        _end(supervisor)
    assert supervisor.exitcode == 0


def test_sigterm_while_a_reload_waits_stops_every_process(tmp_path: Path) -> None:
    supervisor = _start_supervisor(tmp_path)
    try:
        assert supervisor.pid is not None
        os.kill(supervisor.pid, signal.SIGHUP)
        wait_for(lambda: len(_pids(tmp_path, "worker-started")) == 3, "a replacement to start")
        assert len(_pids(tmp_path, "worker-ready")) == 2  # it is still warming up
        os.kill(supervisor.pid, signal.SIGTERM)
        supervisor.join(STOP_WAIT)
        assert not supervisor.is_alive(), "the supervisor did not stop during a reload"
    finally:
        if supervisor.is_alive():
            supervisor.kill()
    assert supervisor.exitcode == 0
    started = _pids(tmp_path, "worker-started")
    assert len(started) == 3  # no further replacement was started after SIGTERM
    assert not [pid for pid in started if _alive(pid)]
    assert not [pid for pid in _pids(tmp_path, "companion-started") if _alive(pid)]
