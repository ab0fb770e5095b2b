"""The TSA's durable state: serial-number epochs and the issuance journal.

Serial numbers are ``epoch << 64 | counter``. Each server process takes a fresh epoch from the
database when it starts (one committed INSERT), then counts in memory. Two processes, or one
process before and after a restart, never share an epoch, so serials are unique forever without
any coordination per token.

The journal records every token (serial, genTime, imprint, policy, SHA-256 of the token)
before the reply is sent. Writes are group-committed: a writer thread takes everything queued,
inserts it in one transaction, commits (fsync) and only then releases the waiting requests.
"""

from __future__ import annotations

import datetime as dt
import queue
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass

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

from timeseal.store.db import metadata

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
    Column("gen_time", DateTime(timezone=True), nullable=False),
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


class IssuanceJournal:
    """Group-committing writer of journal entries.

    ``record(entry)`` returns a Future that completes once the entry is committed; a failed
    commit fails every Future of that batch, and the server then answers ``systemFailure``.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 512) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[JournalEntry, Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="issuance-journal", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def close(self) -> None:
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout=30)

    def record(self, entry: JournalEntry) -> Future[None]:
        future: Future[None] = Future()
        self._queue.put((entry, future))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[JournalEntry, Future[None]]]) -> None:
        rows = [
            {
                "serial_number": format(e.serial_number, "x"),
                "gen_time": e.gen_time,
                "hash_algorithm": e.hash_algorithm,
                "message_imprint": e.message_imprint,
                "policy": e.policy,
                "token_sha256": e.token_sha256,
            }
            for e, _ in batch
        ]
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(issuance_journal), rows)
        except Exception as exc:  # any database failure fails the whole batch, loudly
            for _, future in batch:
                future.set_exception(exc)
            return
        for _, future in batch:
            future.set_result(None)


def iter_journal(engine: Engine, *, after_id: int = 0) -> Iterator[tuple[int, JournalEntry]]:
    """Every journal entry in commit order, for audits."""
    query = select(issuance_journal).where(issuance_journal.c.id > after_id)
    with engine.connect() as conn:
        for row in conn.execute(query.order_by(issuance_journal.c.id)):
            gen_time = row.gen_time
            if gen_time.tzinfo is None:  # SQLite stores naive UTC
                gen_time = gen_time.replace(tzinfo=dt.UTC)
            yield (
                row.id,
                JournalEntry(
                    serial_number=int(row.serial_number, 16),
                    gen_time=gen_time,
                    hash_algorithm=row.hash_algorithm,
                    message_imprint=row.message_imprint,
                    policy=row.policy,
                    token_sha256=row.token_sha256,
                ),
            )
