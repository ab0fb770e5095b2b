"""The TSA's durable state: serial-number epochs and the issuance journal.

Serial numbers are ``epoch << 64 | counter``. Each server process takes a fresh epoch from the
database when it starts (one committed INSERT), then counts in memory. Two processes, or one
process before and after a restart, never share an epoch, so serials are unique forever without
any coordination per token.

The journal records every token (serial, genTime, imprint, policy, SHA-256 of the token)
before the reply is sent, and in the same transaction appends the token's entry to the Merkle
log (``timeseal.store.log``). Writes are group-committed (see :class:`IssuanceJournal`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    insert,
    select,
)

from timeseal.core.digest import HashAlgorithm
from timeseal.core.log_entry import TsaTokenEntry, format_entry
from timeseal.core.tlog import leaf_hash
from timeseal.store.db import WriterTurns, from_ms, metadata, to_ms
from timeseal.store.log.store import LogStore

EPOCH_SHIFT = 64

serial_epochs = Table(
    "tsa_serial_epochs",
    metadata,
    Column("epoch", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
)

issuance_journal = Table(
    "tsa_issuance_journal",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("serial_number", String(40), nullable=False, unique=True),  # hex, up to 160 bits
    Column("gen_time_ms", BigInteger, nullable=False),  # milliseconds since 1970, UTC
    Column("hash_algorithm", String(16), nullable=False),
    Column("message_imprint", LargeBinary, nullable=False),
    Column("policy", String(255), nullable=False),
    Column("token_sha256", LargeBinary(32), nullable=False),
)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    serial_number: int
    gen_time: dt.datetime
    hash_algorithm: str
    message_imprint: bytes
    policy: str
    token_sha256: bytes


class SerialAllocator:
    """Hands out serial numbers unique across processes and restarts."""

    def __init__(self, epoch: int) -> None:
        if epoch <= 0:
            raise ValueError("epoch must be positive")
        self._base = epoch << EPOCH_SHIFT
        self._counter = 0
        self._lock = threading.Lock()
        self.epoch = epoch

    @classmethod
    def start(cls, engine: Engine, *, now: dt.datetime, pid: int) -> SerialAllocator:
        """Take a new epoch from the database (committed before any serial is used)."""
        with engine.begin() as conn:
            result = conn.execute(
                insert(serial_epochs).values(started_at=now, host=socket.gethostname(), pid=pid)
            )
            key = result.inserted_primary_key
            assert key is not None
            epoch = int(key[0])
        return cls(epoch)

    def next(self) -> int:
        with self._lock:
            self._counter += 1
            if self._counter >= 1 << EPOCH_SHIFT:
                raise AssertionError("serial counter exhausted for this epoch")
            return self._base | self._counter


class Journal(Protocol):
    """Where :class:`~timeseal.server.tsa.service.TSAService` records each token before its reply
    leaves: :class:`IssuanceJournal` in this process, or a journal process that several
    workers share (:mod:`timeseal.server.journal.process`)."""

    def record(self, entry: JournalEntry) -> asyncio.Future[None]:
        """Queue ``entry`` for the next commit: the future is done once it is committed (or
        has the commit's error). Await it, or add a callback where no task should be made."""
        ...

    def close(self) -> None: ...


class JournalWriter:
    """Writes batches of journal entries, with the tokens' log entries, one transaction each.

    Synchronous and not thread-safe: one thread (or process) calls :meth:`write`. It keeps
    one connection open; with SQLite, it takes its turn with the other hot writers
    (:class:`~timeseal.store.db.WriterTurns`).
    """

    #: How long a commit may wait for another process's SQLite write lock before failing.
    LOCK_DEADLINE = 10.0

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Any = None
        self._sql = _insert_sql(engine)
        self._log_sql = LogStore(engine).insert_entries_sql()
        self._sqlite = engine.dialect.name == "sqlite"
        self._turns = WriterTurns(engine)

    def close(self) -> None:
        self._turns.close()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def write(self, entries: Sequence[JournalEntry]) -> None:
        """One transaction: the journal rows and the tokens' log entries; committed (durably)
        when this returns, or nothing of it if it raises.

        Anything outside the writer turns (an upload, a migration) may still hold SQLite's
        write lock for a few milliseconds. SQLite's own busy handler sleeps in steps of up to
        100 ms, so this connection does not use it (busy_timeout 0) and retries every half
        millisecond.
        """
        rows = [_row(e) for e in entries]
        log_rows = [_log_row(e) for e in entries]
        deadline = time.monotonic() + self.LOCK_DEADLINE
        with self._turns.turn():
            while True:
                try:
                    self._commit(rows, log_rows)
                    return
                except Exception as exc:
                    if not (self._sqlite and _is_lock_error(exc)) or time.monotonic() > deadline:
                        raise
                time.sleep(0.0005)

    def _commit(self, rows: list[tuple[object, ...]], log_rows: list[tuple[bytes, bytes]]) -> None:
        connection = self._connect()
        try:
            cursor = connection.cursor()
            try:
                if self._sqlite:
                    # Take the write lock before doing any work: while another process holds
                    # it, an attempt fails here, and a retry costs one statement.
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.executemany(self._sql, rows)
                cursor.executemany(self._log_sql, log_rows)
            finally:
                cursor.close()
            connection.commit()
        except Exception as exc:
            try:
                connection.rollback()
            finally:
                # A lock we did not get leaves the connection sound; keep it (reconnecting
                # costs far more than the retry). After anything else, start afresh.
                if not (self._sqlite and _is_lock_error(exc)):
                    connection.close()
                    self._connection = None
            raise

    def _connect(self) -> Any:
        if self._connection is None:
            self._connection = self._engine.raw_connection()
            if self._sqlite:
                # Detached: closing it must close it, not hand a connection without a busy
                # timeout back to the pool, where any other write would fail at once on a lock.
                self._connection.detach()
                self._connection.execute("PRAGMA busy_timeout=0")
        return self._connection


class IssuanceJournal:
    """Group commit of journal entries (and the tokens' log entries) in this process.

    ``await record(entry)`` returns once the entry is committed. One commit is in flight at a
    time, on a dedicated thread (so the event loop keeps answering requests while the
    database fsyncs); everything recorded meanwhile waits and goes into the next commit. Under
    load a commit therefore carries every token issued during the previous one, and the cost
    of an fsync is shared by all of them.

    A failed commit fails every entry of its batch; the server then answers ``systemFailure``.
    """

    def __init__(self, engine: Engine) -> None:
        self._writer = JournalWriter(engine)
        self._pending: list[tuple[JournalEntry, asyncio.Future[None]]] = []
        self._in_flight = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._writer.close()

    def record(self, entry: JournalEntry) -> asyncio.Future[None]:
        """Queue ``entry`` for the next commit: the future is done once it is committed (or
        has the commit's error). Await it, or add a callback where no task should be made."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((entry, future))
        if not self._in_flight:
            self._in_flight = True
            # call_soon: let every request already read join this commit.
            loop.call_soon(self._start_commit, loop)
        return future

    def _start_commit(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            self._in_flight = False
            return
        done = loop.run_in_executor(self._executor, self._writer.write, [e for e, _ in batch])
        done.add_done_callback(lambda f: self._finish(loop, batch, f))

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[JournalEntry, asyncio.Future[None]]],
        done: asyncio.Future[None],
    ) -> None:
        error = done.exception()
        for _, future in batch:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        if self._pending:
            self._start_commit(loop)
        else:
            self._in_flight = False


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


def _insert_sql(engine: Engine) -> str:
    marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    columns = (
        "serial_number",
        "gen_time_ms",
        "hash_algorithm",
        "message_imprint",
        "policy",
        "token_sha256",
    )
    return (
        f"INSERT INTO {issuance_journal.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )


def _log_row(e: JournalEntry) -> tuple[bytes, bytes]:
    """(entry bytes, leaf hash) of the token's log entry (timeseal/tsa-token/v1)."""
    data = format_entry(
        TsaTokenEntry(
            serial_number=e.serial_number,
            gen_time=e.gen_time,
            hash_algorithm=HashAlgorithm[e.hash_algorithm],
            message_imprint=e.message_imprint,
            policy=e.policy,
            token_sha256=e.token_sha256,
        )
    )
    return data, leaf_hash(data)


def _row(e: JournalEntry) -> tuple[object, ...]:
    return (
        format(e.serial_number, "x"),
        to_ms(e.gen_time),
        e.hash_algorithm,
        e.message_imprint,
        e.policy,
        e.token_sha256,
    )


def iter_journal(engine: Engine, *, after_id: int = 0) -> Iterator[tuple[int, JournalEntry]]:
    """Every journal entry in commit order, for audits."""
    query = select(issuance_journal).where(issuance_journal.c.id > after_id)
    with engine.connect() as conn:
        for row in conn.execute(query.order_by(issuance_journal.c.id)):
            yield (
                row.id,
                JournalEntry(
                    serial_number=int(row.serial_number, 16),
                    gen_time=from_ms(row.gen_time_ms),
                    hash_algorithm=row.hash_algorithm,
                    message_imprint=row.message_imprint,
                    policy=row.policy,
                    token_sha256=row.token_sha256,
                ),
            )
