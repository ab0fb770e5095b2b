"""Opening the data directory's database, and refusing any other.

``config.json`` records the id, kind and location of the database that holds the data
directory's records (:class:`~timeseal.server.runtime.configuration.DatabaseConfig`); the
database holds the same id (:mod:`timeseal.store.identity`). :func:`open_database` compares
them *before* anything is written to the database: a PostgreSQL-backed data directory started
without ``TIMESEAL_DATABASE_URL`` used to get a fresh SQLite database, whose empty log the same key
then signed (issue 12, point 5). Now it is refused with a message that names the fix:

1. The kind differs (PostgreSQL recorded, no URL set; or SQLite recorded, a URL set):
   refused without connecting.
2. SQLite recorded and its file is missing: refused without creating it.
3. The database's id differs, or it has none (an empty database, or a foreign one): refused
   without migrating it.
4. Then the schema is migrated. A data directory with no id recorded yet (a new one, or one
   made before ids existed) adopts the database's id, which migration 0011 minted, and says
   so in the log.

Every process that opens the database goes through here: ``timeseal serve`` (before any
worker starts), each worker's application as it starts (its lifespan), the journal and
sequencer processes,
``timeseal init`` and ``timeseal tsa journal``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from timeseal.server.runtime import datadir
from timeseal.server.runtime.configuration import DatabaseConfig, DataDirError
from timeseal.store.db import DATABASE_URL_ENV, create_schema, database_url, make_engine
from timeseal.store.identity import database_kind, database_location, read_database_id

log = logging.getLogger("timeseal.server")

_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


class DatabaseMismatch(DataDirError):
    """The database is not the one this data directory's records are in."""


def open_database(data_dir: Path, configured_url: str | None) -> Engine:
    """An engine on the data directory's database — ``configured_url`` (the process's
    ``$TIMESEAL_DATABASE_URL``, read by its settings), else SQLite in the data directory —
    migrated to head, after checking it is the database the data directory recorded (see
    the module docstring); the caller disposes of it. Raises :class:`DatabaseMismatch`
    (nothing written) or ``DataDirError``."""
    engine = unopened_database(data_dir, configured_url)
    try:
        prepare_database(data_dir, engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def unopened_database(data_dir: Path, configured_url: str | None) -> Engine:
    """An engine on the database ``configured_url`` names (else SQLite in the data directory)
    that has not connected yet: nothing may use it before :func:`prepare_database`."""
    return make_engine(database_url(data_dir, configured_url))


def prepare_database(data_dir: Path, engine: Engine) -> None:
    """Check that ``engine`` is on the database the data directory recorded, then migrate it
    (see the module docstring). Raises :class:`DatabaseMismatch` (nothing written) or
    ``DataDirError``; the caller disposes of the engine."""
    url = engine.url.render_as_string(hide_password=False)
    recorded = datadir.load_config(data_dir).database
    if recorded.id:
        _check_before_connecting(recorded, url)
        found = read_database_id(engine)
        if found != recorded.id:
            raise DatabaseMismatch(_other_database(recorded, url, found))
    create_schema(engine)
    if not recorded.id:
        _adopt(data_dir, engine, url)


def _adopt(data_dir: Path, engine: Engine, url: str) -> None:
    found = read_database_id(engine)
    if found is None:
        raise AssertionError("a migrated database has no id (migration 0011)")
    mine = DatabaseConfig(id=found, kind=database_kind(url), location=database_location(url))
    bound = datadir.bind_database(data_dir, mine)
    if bound.id != found:  # another process bound it to another database meanwhile
        raise DatabaseMismatch(_other_database(bound, url, found))
    if bound == mine:
        log.warning(
            "data directory %s now belongs to %s database %s (id %s); from now on it runs "
            "on no other",
            data_dir,
            _NAMES.get(mine.kind, mine.kind),
            mine.location,
            mine.id,
        )


def _check_before_connecting(recorded: DatabaseConfig, url: str) -> None:
    kind = database_kind(url)
    if kind != recorded.kind:
        if recorded.kind == "sqlite":
            raise DatabaseMismatch(
                f"this data directory's records are in its SQLite database "
                f"{recorded.location} (database id {recorded.id}), but {DATABASE_URL_ENV} "
                f"points to {_NAMES.get(kind, kind)} ({database_location(url)}); unset "
                f"{DATABASE_URL_ENV}, as when the data directory was created"
            )
        raise DatabaseMismatch(
            f"this data directory's records are in {_NAMES.get(recorded.kind, recorded.kind)} "
            f"(database id {recorded.id}); set {DATABASE_URL_ENV}={recorded.location} (with "
            f"its password) as when it was created"
            + ("" if kind == "sqlite" else f", not {database_location(url)}")
        )
    if kind == "sqlite":
        database = make_url(url).database
        if database and database != ":memory:" and not Path(database).exists():
            raise DatabaseMismatch(
                f"this data directory's records are in the SQLite database "
                f"{recorded.location} (database id {recorded.id}), but {database} does not "
                f"exist; restore it (or set {DATABASE_URL_ENV} to where it is) rather than "
                "start an empty one"
            )


def _other_database(recorded: DatabaseConfig, url: str, found: str | None) -> str:
    what = "holds no TimeSeal records (no database id)" if found is None else f"has id {found}"
    fix = (
        f"set {DATABASE_URL_ENV}={recorded.location} (with its password)"
        if recorded.kind != "sqlite"
        else f"restore that SQLite database (or unset {DATABASE_URL_ENV})"
    )
    return (
        f"the database at {database_location(url)} {what}, but this data directory's records "
        f"are in {_NAMES.get(recorded.kind, recorded.kind)} database {recorded.location} "
        f"(database id {recorded.id}); {fix}, as when the data directory was created"
    )


__all__ = ["DatabaseMismatch", "open_database", "prepare_database", "unopened_database"]
