"""The issuance journal on SQLite: a commit that meets another process's write lock waits for
it, and leaves the engine's pooled connections as it found them."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from pathlib import Path

from timeseal.store.db import create_schema, make_engine
from timeseal.store.issuance import IssuanceJournal, JournalEntry, JournalWriter, iter_journal
from timeseal.store.log.store import LogStore

ENTRY = JournalEntry(
    serial_number=(7 << 64) | 1,
    gen_time=dt.datetime(2026, 11, 29, 12, 0, 0, 123000, tzinfo=dt.UTC),
    hash_algorithm="SHA256",
    message_imprint=bytes(range(32)),
    policy="2.25.1",
    token_sha256=bytes(32),
)


def record_now(journal: IssuanceJournal, entry: JournalEntry) -> None:
    async def record() -> None:
        await journal.record(entry)

    asyncio.run(record())


def test_commit_waits_out_a_lock_and_leaves_the_pool_usable(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    journal = IssuanceJournal(engine)

    # Another process holds the write lock for a moment: the journal's first attempts fail.
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, blocker.rollback)
    release.start()
    try:
        record_now(journal, ENTRY)
    finally:
        release.join()
        blocker.close()
        journal.close()

    assert [entry for _, entry in iter_journal(engine)] == [ENTRY]
    assert LogStore(engine).pending_count() == 1
    # Every connection the pool hands out still waits for locks (a connection left with the
    # journal's busy_timeout=0 fails other writers at once with "database is locked").
    held = [engine.connect() for _ in range(5)]
    try:
        timeouts = [c.exec_driver_sql("PRAGMA busy_timeout").scalar_one() for c in held]
    finally:
        for c in held:
            c.close()
    assert timeouts == [30000] * 5
    engine.dispose()


def test_waiting_for_a_lock_keeps_the_connection(tmp_path: Path) -> None:
    """Each attempt that meets another writer's lock fails at BEGIN IMMEDIATE and is retried on
    the same connection: reconnecting per attempt cost more CPU than the tokens themselves."""
    path = tmp_path / "journal.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    writer = JournalWriter(engine)
    second = JournalEntry(
        serial_number=ENTRY.serial_number + 1,
        gen_time=ENTRY.gen_time,
        hash_algorithm=ENTRY.hash_algorithm,
        message_imprint=ENTRY.message_imprint,
        policy=ENTRY.policy,
        token_sha256=ENTRY.token_sha256,
    )
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        writer.write([ENTRY])
        connection = writer._connection
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.2, blocker.rollback)
        release.start()
        writer.write([second])
        release.join()
        assert writer._connection is connection
    finally:
        blocker.close()
        writer.close()
    assert [entry for _, entry in iter_journal(engine)] == [ENTRY, second]
    assert LogStore(engine).pending_count() == 2
    engine.dispose()
