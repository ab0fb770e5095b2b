"""Database engines: SQLite (WAL, synchronous FULL) in the data directory, or PostgreSQL.

``TIMESEAL_DATABASE_URL`` selects PostgreSQL (``postgresql+psycopg://...``); otherwise the
database is ``<data-dir>/timeseal.db``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, text

metadata = MetaData()

DATABASE_URL_ENV = "TIMESEAL_DATABASE_URL"


def database_url(data_dir: Path) -> str:
    return os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{data_dir / 'timeseal.db'}"


def make_engine(url: str) -> Engine:
    """An engine with the durability settings our guarantees rely on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL on every commit,
    # which is what makes a committed journal entry survive a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create missing tables. Several processes may start at once: serialise them (a file lock
    beside the SQLite database, a transaction-scoped advisory lock on PostgreSQL)."""
    # Import the table modules so that they register on ``metadata``.
    from timeseal.store import issuance, log  # noqa: F401

    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            metadata.create_all(engine)
            return
        with open(f"{database}.schema.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            metadata.create_all(engine)
        return
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        metadata.create_all(conn)


_SCHEMA_LOCK_KEY = 0x54535343  # "TSSC"
