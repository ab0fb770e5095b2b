"""Several server processes on one port, each with its own listening socket (SO_REUSEPORT).

uvicorn's own multi-worker mode shares one listening socket between its workers; whichever
worker's event loop wakes first accepts every pending connection (libuv accepts until the
queue is empty), so a burst of clients — a load balancer's pool, a benchmark's keep-alive
connections — often lands entirely on one worker while the other cores idle. Here every worker
binds its own socket with ``SO_REUSEPORT`` and the kernel spreads new connections over them by
their address hash.

The supervisor holds no socket. It starts the workers and any companion processes (the log
sequencer, :mod:`timeseal.server.log.sequencer_process`), restarts one that dies (unless it failed
at start-up, which would fail again), replaces them one by one on SIGHUP (as uvicorn does; each
replacement starts before its predecessor stops), and on SIGINT/SIGTERM stops them all. Each
worker runs an ordinary :class:`uvicorn.Server`, whose own signal handling shuts it down
gracefully.

Every process gets its whole configuration as an argument (a
:class:`~timeseal.server.tsa.fast_path.TimeSealConfig`'s keyword arguments, built once by
:func:`timeseal.server.runtime.http.server_options`), so what the operator set reaches each worker
the same way and nothing in a worker's environment can change it.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

from timeseal.server.tsa.fast_path import TimeSealConfig

log = logging.getLogger("timeseal.server")

#: uvicorn's exit status for a worker that could not start (bad app, port, TLS).
STARTUP_FAILURE = 3
#: How long stopping workers may take (their lifespan shutdown) before they are killed.
STOP_TIMEOUT = 30.0


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


def _worker(config: dict[str, Any]) -> None:
    """One worker process: its own SO_REUSEPORT socket, then an ordinary uvicorn server."""
    try:
        sock = listening_socket(config["host"], config["port"], reuse_port=True)
    except PortInUse as exc:
        print(exc, file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(TimeSealConfig(**config))
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
    """What a child process of the supervisor runs: ``target(*args)`` (a worker or a companion)."""

    target: Callable[..., None]
    args: tuple[Any, ...] = ()


class Supervisor:
    """Starts ``workers`` processes of ``TimeSealConfig(**config)``, and the companions, and
    keeps them all running."""

    def __init__(
        self,
        config: dict[str, Any],
        workers: int,
        *,
        target: Callable[..., None] = _worker,
        companions: Sequence[ProcessSpec] = (),
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._specs = [ProcessSpec(target, (config,))] * workers + list(companions)
        self._workers = workers
        self._context = mp.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._restart = False
        self.exit_code = 0

    def _start_one(self, spec: ProcessSpec) -> BaseProcess:
        process = self._context.Process(target=spec.target, args=spec.args)
        process.start()
        return process

    def run(self) -> int:
        """Run until SIGINT/SIGTERM (or a worker fails at start-up); the exit status."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._signal_stop())
        signal.signal(signal.SIGHUP, lambda *_: self._signal_restart())
        self._processes = [self._start_one(spec) for spec in self._specs]
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
        return self.exit_code

    def _signal_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _signal_restart(self) -> None:
        self._restart = True
        self._wake.set()

    def _restart_all(self) -> None:
        """Replace every process: the new one is started first (a worker's own SO_REUSEPORT
        socket joins the port at once), then the old one is stopped gracefully."""
        for i, old in enumerate(self._processes):
            if self._stop.is_set():
                return
            self._processes[i] = self._start_one(self._specs[i])
            if old.is_alive():
                old.terminate()
            old.join(STOP_TIMEOUT)
            if old.is_alive():
                old.kill()
                old.join()

    def _keep_alive(self) -> None:
        for i, process in enumerate(self._processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("process %s failed to start; stopping", process.pid)
                self.exit_code = STARTUP_FAILURE
                self._signal_stop()
                return
            log.warning(
                "process %s died (exit %s); starting another", process.pid, process.exitcode
            )
            self._processes[i] = self._start_one(self._specs[i])

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
