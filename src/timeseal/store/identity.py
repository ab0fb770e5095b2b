"""The database's identity: a UUID minted once per database, kept in a one-row table.

A data directory records the id of the database its records live in (``config.json``,
``database.id``) and refuses to run on any other (:mod:`timeseal.server.runtime.database`). Without
this, a PostgreSQL-backed data directory started without ``TIMESEAL_DATABASE_URL`` silently
got a fresh SQLite database, and its log key signed a new, empty tree: a rollback signed by
the log itself.

The id is minted by migration 0011, for new and existing databases alike, so every migrated
database has exactly one. Reading it never writes, so a data directory can check the
database before migrating it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Engine, Integer, String, Table, inspect, select
from sqlalchemy.engine import make_url

from timeseal.store.db import metadata

database_identity = Table(
    "database_identity",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("database_id", String(36), nullable=False),  # a UUID, as text
    Column("created_at_ms", BigInteger, nullable=False),
)


def read_database_id(engine: Engine) -> str | None:
    """The database's id, or None when it has none (an empty database, or one that predates
    migration 0011). Reads only: neither creates the table nor, for SQLite, anything else
    than the connection itself."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(database_identity.name):
            return None
        value = conn.execute(
            select(database_identity.c.database_id).where(database_identity.c.id == 1)
        ).scalar_one_or_none()
    return None if value is None else str(value)


def database_kind(url: str) -> str:
    """``sqlite`` or ``postgresql``: the backend a database URL names."""
    return make_url(url).get_backend_name()


def database_location(url: str) -> str:
    """The URL without its password, for messages and ``config.json``."""
    return make_url(url).render_as_string(hide_password=True)


__all__ = ["database_identity", "database_kind", "database_location", "read_database_id"]
