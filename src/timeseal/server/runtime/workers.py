"""Several server processes on one port, each with its own listening socket (SO_REUSEPORT).

uvicorn's own multi-worker mode shares one listening socket between its workers; whichever
worker's event loop wakes first accepts every pending connection (libuv accepts until the
queue is empty), so a burst of clients — a load balancer's pool, a benchmark's keep-alive
connections — often lands entirely on one worker while the other cores idle. Here every worker
binds its own socket with ``SO_REUSEPORT`` and the kernel spreads new connections over them by
their address hash.

The supervisor binds one such socket per worker slot and hands it to the slot's worker; it
keeps its own copy, so a slot's socket outlives its workers. That is what makes a reload lose
nothing: on SIGHUP each slot's replacement is started on the *same* socket, and only once it
answers (its lifespan has run and it accepts) is its predecessor told to stop. The predecessor
then stops accepting and finishes its in-flight requests (uvicorn's graceful shutdown), while
connections still queued on the socket wait for the replacement instead of being reset, as
they would be if the last process holding a listening socket closed it. A replacement that
fails to start leaves its predecessor serving. The supervisor also starts any companion
processes (the log sequencer, :mod:`timeseal.server.log.sequencer_process`), restarts a process
that dies (unless it failed at start-up, which would fail again), and on SIGINT/SIGTERM stops
them all. Each worker runs an ordinary :class:`uvicorn.Server`, whose own signal handling shuts
it down gracefully.

Every process gets its whole configuration as an argument (a
:class:`~timeseal.server.tsa.fast_path.TimeSealConfig`'s keyword arguments, built once by
:func:`timeseal.server.runtime.serving.server_options`), so what the operator set reaches each
worker the same way and nothing in a worker's environment can change it.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

import uvicorn

from timeseal.server.tsa.fast_path import TimeSealConfig

log = logging.getLogger("timeseal.server")

#: uvicorn's exit status for a worker that could not start (bad app, port, TLS).
STARTUP_FAILURE = 3
#: How long stopping workers may take (their lifespan shutdown) before they are killed.
STOP_TIMEOUT = 30.0
#: How long a replacement worker may take to answer (import, lifespan) before a reload gives
#: up on it and keeps its predecessor.
READY_TIMEOUT = 120.0


class PortInUse(Exception):
    """The address is taken by another program (or another TimeSeal server)."""


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def check_port_free(host: str, port: int) -> None:
    """Fail early if anything holds the port: binding *without* SO_REUSEPORT fails even
    against another server's SO_REUSEPORT sockets, so two servers never share a port."""
    listening_socket(host, port, reuse_port=False).close()


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that sets ``ready`` once it has started: lifespan run, accepting."""

    def __init__(self, config: uvicorn.Config, ready: Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._ready.set()


def _worker(config: dict[str, Any], sock: socket.socket, ready: Event) -> None:
    """One worker process: an ordinary uvicorn server on its slot's socket (the supervisor's),
    announcing through ``ready`` that it answers."""
    server = _AnnouncingServer(TimeSealConfig(**config), ready)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def run_single(config: dict[str, Any]) -> None:
    """The whole server in this process (``--workers 1``), configured as a worker is."""
    server = uvicorn.Server(TimeSealConfig(**config))
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def companion_stop_event() -> threading.Event:
    """For a companion process (the journal, the log sequencer) as it starts: log lines like
    the workers' (uvicorn's format), and an event that SIGTERM or SIGINT sets."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@dataclass(frozen=True)
class ProcessSpec:
    """What a child process of the supervisor runs: ``target(*args)`` (a worker or a companion).
    ``reload=False`` keeps the process across SIGHUP: the journal process, whose connections
    carry the tokens being journalled (replacing it would fail those still in flight)."""

    target: Callable[..., None]
    args: tuple[Any, ...] = ()
    reload: bool = True


#: A worker target: ``target(config, sock, ready)``, ``ready`` set once it answers on ``sock``.
WorkerTarget = Callable[[dict[str, Any], socket.socket, Event], None]


class Supervisor:
    """Starts ``workers`` processes of ``TimeSealConfig(**config)`` on sockets it binds to
    ``config["host"]``/``config["port"]``, and the companions, and keeps them all running."""

    def __init__(
        self,
        config: dict[str, Any],
        workers: int,
        *,
        target: WorkerTarget = _worker,
        companions: Sequence[ProcessSpec] = (),
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._config = config
        self._target = target
        self._companions = list(companions)
        self._workers = workers
        self._context = mp.get_context("spawn")
        self._sockets: list[socket.socket] = []
        self._processes: list[BaseProcess] = []
        # Each worker's readiness event, kept while it runs: a spawned child opens the event
        # by name, which goes away when the parent's object is garbage-collected.
        self._ready: dict[BaseProcess, Event] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._restart = False
        self.exit_code = 0

    def _start_worker(self, slot: int) -> tuple[BaseProcess, Event]:
        ready = self._context.Event()
        process = self._context.Process(
            target=self._target, args=(self._config, self._sockets[slot], ready)
        )
        process.start()
        self._ready[process] = ready
        return process, ready

    def _start(self, slot: int) -> BaseProcess:
        if slot < self._workers:
            return self._start_worker(slot)[0]
        spec = self._companions[slot - self._workers]
        process = self._context.Process(target=spec.target, args=spec.args)
        process.start()
        return process

    def run(self) -> int:
        """Run until SIGINT/SIGTERM (or a worker fails at start-up); the exit status.
        :class:`PortInUse` if the address is taken."""
        self._sockets = [
            listening_socket(self._config["host"], self._config["port"], reuse_port=True)
            for _ in range(self._workers)
        ]
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self._signal_stop())
            signal.signal(signal.SIGHUP, lambda *_: self._signal_restart())
            slots = self._workers + len(self._companions)
            self._processes = [self._start(slot) for slot in range(slots)]
            while not self._stop.is_set():
                self._wake.wait(0.5)
                self._wake.clear()
                if self._stop.is_set():
                    break
                if self._restart:
                    self._restart = False
                    self._restart_all()
                self._keep_alive()
            self._stop_all()
        finally:
            for sock in self._sockets:
                sock.close()
        return self.exit_code

    def _signal_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _signal_restart(self) -> None:
        self._restart = True
        self._wake.set()

    def _restart_all(self) -> None:
        """Replace every process, one at a time: a worker once its replacement answers on
        the same socket (a replacement that fails to start is given up, its predecessor
        kept), a companion right after its replacement has started (unless it is kept across
        reloads)."""
        for slot, old in enumerate(self._processes):
            if self._stop.is_set():
                return
            if slot < self._workers:
                new, ready = self._start_worker(slot)
                if not self._wait_ready(new, ready):
                    self._retire(new)
                    if self._stop.is_set():  # told to stop meanwhile: _stop_all ends the rest
                        return
                    log.error(
                        "replacement worker %s did not start; worker %s keeps serving",
                        new.pid,
                        old.pid,
                    )
                    continue
            elif self._companions[slot - self._workers].reload:
                new = self._start(slot)
            else:
                continue
            self._processes[slot] = new
            self._retire(old)

    def _wait_ready(self, process: BaseProcess, ready: Event) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and not self._stop.is_set():
            if ready.wait(0.1):
                return True
            if not process.is_alive():
                return False
        return False

    def _keep_alive(self) -> None:
        for slot, process in enumerate(self._processes):
            if process.is_alive():
                continue
            process.join()
            self._ready.pop(process, None)
            if process.exitcode == STARTUP_FAILURE:
                log.error("process %s failed to start; stopping", process.pid)
                self.exit_code = STARTUP_FAILURE
                self._signal_stop()
                return
            log.warning(
                "process %s died (exit %s); starting another", process.pid, process.exitcode
            )
            self._processes[slot] = self._start(slot)

    def _stop_all(self) -> None:
        # The workers first: the requests they finish while shutting down still need the
        # companions (a token is journalled by the journal process before its reply leaves).
        workers, companions = self._processes[: self._workers], self._processes[self._workers :]
        for group in (workers, companions):
            for process in group:
                if process.is_alive() and process.pid is not None:
                    process.terminate()  # SIGTERM: uvicorn shuts down gracefully (lifespan)
            for process in group:
                process.join(STOP_TIMEOUT)
                if process.is_alive():
                    process.kill()
                    process.join()

    def _retire(self, process: BaseProcess) -> None:
        """SIGTERM (a worker finishes its in-flight requests), then SIGKILL after
        STOP_TIMEOUT."""
        _stop(process)
        self._ready.pop(process, None)


def _stop(process: BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
    process.join(STOP_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join()
