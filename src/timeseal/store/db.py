"""Database engines and the schema: SQLite (WAL, synchronous FULL) in the data directory, or
PostgreSQL; the schema is created and upgraded by the Alembic migrations in
``timeseal/store/migrations`` (see docs/storage.md).

``TIMESEAL_DATABASE_URL`` selects PostgreSQL (``postgresql+psycopg://...``); otherwise the
database is ``<data-dir>/timeseal.db``.

Tables are SQLAlchemy Core ``Table`` objects on :data:`metadata`, defined in the modules named
by :data:`MODEL_MODULES`. The migrations are the source of truth for the database; a test
checks that migrating an empty database yields exactly :data:`metadata`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    MetaData,
    create_engine,
    event,
    inspect,
    text,
)

#: Constraint names as PostgreSQL would choose them, so that every constraint has a name that
#: later migrations can refer to (SQLite's batch mode needs names to drop or alter one).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: Row ids: 64-bit on PostgreSQL; SQLite's INTEGER PRIMARY KEY is its rowid (64-bit already).
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_ms(t: dt.datetime) -> int:
    """A time column's value: whole milliseconds since 1970 (UTC), rounded down; a naive ``t``
    is refused. Integer arithmetic, so microseconds never drift through a float."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return (t - _EPOCH) // dt.timedelta(milliseconds=1)


def from_ms(ms: int) -> dt.datetime:
    """The aware UTC time of a column's milliseconds since 1970."""
    return _EPOCH + dt.timedelta(milliseconds=ms)


#: The modules whose tables live on :data:`metadata`. A module that defines tables must be
#: listed here, and every change to its tables needs a migration (docs/storage.md).
MODEL_MODULES: tuple[str, ...] = (
    "timeseal.store.accounts.tables",
    "timeseal.store.cases",
    "timeseal.store.evidence.tables",
    "timeseal.store.identity",
    "timeseal.store.issuance",
    "timeseal.store.log.tables",
    "timeseal.store.packages",
    "timeseal.store.recording_tables",
    "timeseal.store.shares",
)

DATABASE_URL_ENV = "TIMESEAL_DATABASE_URL"

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: The first revision: the tables that ``metadata.create_all`` made before there were
#: migrations. A database that has them but no ``alembic_version`` is stamped with it.
BASELINE_REVISION = "0001"
BASELINE_TABLES = (
    "tsa_serial_epochs",
    "tsa_issuance_journal",
    "log_entries",
    "log_tiles",
    "log_state",
)

_SCHEMA_LOCK_KEY = 0x54535343  # "TSSC"


class StoreError(Exception):
    """Base of the errors raised by ``timeseal.store``."""


class SchemaError(StoreError):
    """The database schema cannot be brought to the version this code needs."""


def database_url(data_dir: Path, configured: str | None) -> str:
    """``configured`` (the process's ``$TIMESEAL_DATABASE_URL``, read by its settings), else
    the SQLite database in the data directory."""
    return configured or f"sqlite:///{data_dir / 'timeseal.db'}"


def make_engine(url: str) -> Engine:
    """An engine with the durability settings our guarantees rely on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            event.listen(engine, "do_connect", lambda *_: _create_private(Path(database)))
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only, before SQLite would create it with
    the umask's mode; its -wal and -shm files take the database file's mode (SQLite's
    ``findCreateFileMode``), so they are private too."""
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


class WriterTurns:
    """Hot writers to one SQLite database (every worker's TSA journal, the log sequencer) take
    turns through an ``flock`` on a file beside it.

    SQLite's own wait for its write lock polls: the journal retries every half millisecond,
    SQLite's busy handler sleeps in steps of up to 100 ms. A process blocked in ``flock`` is
    woken the moment the holder lets go, so the writes follow one another without gaps or
    wasted attempts. Each instance has its own open file, so two instances exclude each
    other even within one process. A no-op for other databases (PostgreSQL queues writers
    itself) and for in-memory SQLite.
    """

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database
        local = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
        self._path = Path(f"{database}.writers") if local else None
        self._fd: int | None = None
        self._mutex = threading.Lock()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the turn for one write transaction."""
        if self._path is None:
            yield
            return
        with self._mutex:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL on every commit,
    # which is what makes a committed journal entry survive a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # No checkpoint inside a commit: one would run while the committer holds its writer turn
    # and stall every TSA journal behind it. The log sequencer checkpoints after each round
    # (LogStore.checkpoint_wal); SQLite also checkpoints when the last connection closes.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def schema_metadata() -> MetaData:
    """:data:`metadata` with every table of :data:`MODEL_MODULES` registered on it."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return metadata


def migration_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration, built in code: no ``alembic.ini`` is needed at run time.

    With ``connection``, ``env.py`` migrates through it (inside the caller's transaction).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # Revision files are modules with valid names: v0002_add_accounts.py.
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this code needs (the single head of the migration scripts)."""
    head = ScriptDirectory.from_config(migration_config()).get_current_head()
    if head is None:
        raise AssertionError("no migration scripts")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default: the newest), creating it if empty.

    Several server processes may start at once, so migrations are serialised: by an exclusive
    ``flock`` on ``<database>.schema.lock`` beside a SQLite file, and on PostgreSQL by a
    transaction-scoped advisory lock taken in the transaction that runs the migrations
    (PostgreSQL DDL is transactional: all of them commit together or none does). The first
    process migrates; the others then find the database at head and do nothing.

    A database made by ``metadata.create_all`` before there were migrations (the baseline
    tables and no ``alembic_version``) is stamped as the baseline revision first.
    """
    with _schema_lock(engine) as conn:
        _adopt_unversioned(conn)
        command.upgrade(migration_config(conn), revision)
        if revision == "head":
            _check_every_table_is_migrated(conn)


def create_schema(engine: Engine) -> None:
    """Bring the schema up to date: what the server and the CLI call at start-up."""
    migrate(engine)


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            with engine.begin() as conn:
                yield conn
            return
        with open(f"{database}.schema.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with engine.begin() as conn:
                yield conn
        return
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        yield conn


def _check_every_table_is_migrated(conn: Connection) -> None:
    inspector = inspect(conn)
    missing = sorted(name for name in metadata.tables if not inspector.has_table(name))
    if missing:
        raise SchemaError(
            f"no migration creates table(s) {', '.join(missing)}: list their module in "
            "timeseal.store.db.MODEL_MODULES and run `python -m timeseal.store.migrations "
            'revision -m "..."` (docs/storage.md)'
        )


def _adopt_unversioned(conn: Connection) -> None:
    inspector = inspect(conn)
    if inspector.has_table("alembic_version"):
        return
    present = [t for t in BASELINE_TABLES if inspector.has_table(t)]
    if not present:
        return
    if len(present) != len(BASELINE_TABLES):
        missing = sorted(set(BASELINE_TABLES) - set(present))
        raise SchemaError(
            f"database has some of the baseline tables but not {', '.join(missing)}, and no "
            "alembic_version: it was not made by TimeSeal's create_all or migrations"
        )
    command.stamp(migration_config(conn), BASELINE_REVISION)
