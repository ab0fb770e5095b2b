"""A worker's end of the shared journal process (:mod:`timeseal.server.journal.process`)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import cast

from timeseal.server.journal.wire import COMMITTED, AckReader, encode_batch
from timeseal.store.issuance import JournalEntry

log = logging.getLogger("timeseal.journal")


class JournalUnavailable(Exception):
    """The journal process could not be reached: the token was not journalled."""


class JournalCommitFailed(Exception):
    """The journal process could not commit the batch: the token was not journalled."""


_Batch = list[tuple[JournalEntry, "asyncio.Future[None]"]]


class RemoteJournal:
    """:class:`~timeseal.store.issuance.Journal` over the journal process's Unix socket.

    Entries recorded in one turn of the event loop go out as one batch; batches are not held
    back while earlier ones are being committed (the journal process groups whatever is
    waiting). A future is done once the journal process acknowledges its batch.

    If the connection is lost, the batches sent and not yet acknowledged fail (whether they
    were committed is unknown, and a token is never handed out unless it is known to be), and
    the client reconnects. Entries recorded meanwhile wait for the new connection for up to
    :attr:`RECONNECT_GRACE` seconds (a restarted journal process is back within about one),
    then fail.
    """

    #: How long entries recorded while disconnected wait for a connection before failing.
    RECONNECT_GRACE = 5.0
    #: Pause between connection attempts.
    RETRY_INTERVAL = 0.05

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._path = path
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._pending: _Batch = []
        self._flush_scheduled = False
        self._in_flight: dict[int, _Batch] = {}
        self._next_id = 0
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def connect(cls, path: Path, *, timeout: float = 60.0) -> RemoteJournal:
        """Connect, retrying while the journal process starts; :class:`JournalUnavailable`
        after ``timeout`` seconds."""
        journal = cls(path, asyncio.get_running_loop())
        try:
            await asyncio.wait_for(journal._connect_until_done(), timeout)
        except TimeoutError:
            raise JournalUnavailable(f"no journal process at {path}") from None
        return journal

    def record(self, entry: JournalEntry) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        if self._closed:
            future.set_exception(JournalUnavailable("the journal client is closed"))
            return future
        self._pending.append((entry, future))
        if self._transport is None:
            self._reconnect()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            # call_soon: every request already read in this turn of the loop joins the batch.
            self._loop.call_soon(self._flush)
        return future

    def close(self) -> None:
        """Fail whatever is not acknowledged yet and close the connection."""
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._transport is not None:
            self._transport.close()
        error = JournalUnavailable("the journal client is closed")
        for batch in [self._pending, *self._in_flight.values()]:
            self._fail(batch, error)
        self._pending, self._in_flight = [], {}

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._transport is None or not self._pending:
            return
        batch, self._pending = self._pending, []
        self._next_id += 1
        self._in_flight[self._next_id] = batch
        self._transport.write(encode_batch(self._next_id, [entry for entry, _ in batch]))

    def _acknowledged(self, batch_id: int, status: int) -> None:
        batch = self._in_flight.pop(batch_id, None)
        if batch is None:
            log.error("acknowledgement for unknown journal batch %d", batch_id)
            return
        if status == COMMITTED:
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
        else:
            self._fail(batch, JournalCommitFailed("the journal process could not commit"))

    def _connected(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        if self._pending and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _lost(self, exc: Exception | None) -> None:
        self._transport = None
        in_flight, self._in_flight = self._in_flight, {}
        error = JournalUnavailable(f"lost the journal process: {exc or 'connection closed'}")
        for batch in in_flight.values():
            self._fail(batch, error)
        if not self._closed:
            log.warning("lost the journal process; reconnecting")
            self._reconnect()

    def _reconnect(self) -> None:
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = self._loop.create_task(self._reconnect_within_grace())

    async def _reconnect_within_grace(self) -> None:
        try:
            await asyncio.wait_for(self._connect_until_done(), self.RECONNECT_GRACE)
        except TimeoutError:
            log.error("no journal process for %.0f s", self.RECONNECT_GRACE)
            self._fail(self._pending, JournalUnavailable("no journal process"))
            self._pending = []

    async def _connect_until_done(self) -> None:
        while True:
            try:
                await self._loop.create_unix_connection(
                    lambda: _JournalProtocol(self), str(self._path)
                )
                return
            except OSError:
                await asyncio.sleep(self.RETRY_INTERVAL)

    @staticmethod
    def _fail(batch: _Batch, error: Exception) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error)


class _JournalProtocol(asyncio.Protocol):
    def __init__(self, journal: RemoteJournal) -> None:
        self._journal = journal
        self._acks = AckReader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._journal._connected(cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        for batch_id, status in self._acks.feed(data):
            self._journal._acknowledged(batch_id, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self._journal._lost(exc)
