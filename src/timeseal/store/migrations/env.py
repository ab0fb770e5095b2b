"""Alembic environment: migrates through the connection that ``timeseal.store.db.migrate``
passes in ``config.attributes["connection"]`` (inside its transaction and schema lock), or
emits SQL for ``sqlalchemy.url`` in offline mode (``python -m timeseal.store.migrations sql``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from timeseal.store.db import schema_metadata

config = context.config
target_metadata = schema_metadata()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        target_metadata=target_metadata,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("migrate through timeseal.store.db.migrate(engine)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: autogenerate writes "batch" operations (copy the
        # table, swap it in), which also run unchanged on PostgreSQL.
        render_as_batch=True,
        compare_type=True,
    )
    # The caller's transaction is already open: this does not commit on its own.
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
