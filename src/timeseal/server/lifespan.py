"""The application's lifespan: what a server process opens and starts once it runs, in order,
and stops again, given the pieces ``create_app`` built (constructing them opens nothing).

Start: (1) the data directory is tightened to its owner (:mod:`.runtime.permissions`: file
modes are changed here, not while the application is built) and its database checked to be
the data directory's own before anything is written to it, then its blob store
(:mod:`.runtime.blob_store`); (2) the serial allocator; (3) the
issuance journal (this process's, or the journal process's socket); (4) the clock guard;
(5) the log sequencer, when this process runs it; (6) the housekeeper; (7) the TSA service,
kept in the :class:`StartedTSA` that the services and ``POST /tsa`` read it from, and in the
ASGI lifespan state for the HTTP fast path (:data:`~.tsa.fast_path.TSA_STATE_KEY`).
Stop: the clock guard, the sequencer, the housekeeper, the journal, the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from sqlalchemy import Engine

from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.server.journal.client import RemoteJournal
from timeseal.server.log.sequencer import Sequencer
from timeseal.server.runtime import permissions
from timeseal.server.runtime.blob_store import check_blob_store
from timeseal.server.runtime.database import prepare_database
from timeseal.server.runtime.housekeeping import Housekeeper
from timeseal.server.tsa.clock import ClockGuard
from timeseal.server.tsa.fast_path import TSA_STATE_KEY
from timeseal.server.tsa.service import TSAService, utc_now
from timeseal.store.blobs import BlobStore
from timeseal.store.issuance import IssuanceJournal, Journal, SerialAllocator

log = logging.getLogger("timeseal.server")


class StartedTSA:
    """The process's TSA service once the lifespan has started it; calling it before then is a
    bug (nothing serves requests before the lifespan starts)."""

    __slots__ = ("_service",)

    def __init__(self) -> None:
        self._service: TSAService | None = None

    def __call__(self) -> TSAService:
        if self._service is None:
            raise RuntimeError("the TSA service is not started: the application's lifespan does")
        return self._service

    def start(self, service: TSAService) -> None:
        self._service = service


@dataclass(frozen=True, slots=True)
class ServerLifespan:
    """The lifespan (``FastAPI(lifespan=...)``) over the pieces ``create_app`` built."""

    data_dir: Path
    engine: Engine
    blobs: BlobStore
    #: ``TIMESEAL_BLOB_URL`` as the settings read it (None: the data directory's blobs/).
    blob_url: str | None
    authority: TimeStampAuthority
    guard: ClockGuard
    #: None: the sequencer runs in a process of its own.
    sequencer: Sequencer | None
    housekeeper: Housekeeper
    #: The journal process's Unix socket; None: this process journals its tokens itself.
    journal_socket: Path | None
    tsa: StartedTSA

    @contextlib.asynccontextmanager
    async def __call__(self, _app: object) -> AsyncIterator[dict[str, TSAService]]:
        try:
            # Before anything is written to the database (and before any request or background
            # thread could use the engine): off the loop, it is file and database I/O.
            await anyio.to_thread.run_sync(self._open_data_dir)
        except BaseException:
            self.engine.dispose()
            raise
        allocator = SerialAllocator.start(self.engine, now=utc_now(), pid=os.getpid())
        journal: Journal = (
            IssuanceJournal(self.engine)
            if self.journal_socket is None
            else await RemoteJournal.connect(self.journal_socket)
        )
        self.guard.start()
        if self.sequencer is not None:
            self.sequencer.start()
        self.housekeeper.start(asyncio.get_running_loop())
        service = TSAService(self.authority, allocator, journal, self.guard)
        self.tsa.start(service)
        log.info("TSA ready: serial epoch %d, policy %s", allocator.epoch, self.authority.policy)
        try:
            # The lifespan state: where the HTTP fast path for /tsa finds the service.
            yield {TSA_STATE_KEY: service}
        finally:
            self.guard.stop()
            if self.sequencer is not None:
                self.sequencer.stop()
            # Off the loop: a recording close in progress needs the loop to finish.
            await anyio.to_thread.run_sync(self.housekeeper.stop)
            journal.close()
            self.engine.dispose()

    def _open_data_dir(self) -> None:
        """Tighten a data directory found looser than its owner's alone, then refuse a
        database or a blob store other than the data directory's."""
        permissions.tighten(self.data_dir)
        prepare_database(self.data_dir, self.engine)
        check_blob_store(self.data_dir, self.blobs, self.blob_url, self.engine)
