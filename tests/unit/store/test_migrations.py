"""Alembic migrations: the migrated schema is exactly the models, on SQLite and PostgreSQL;
migrating again does nothing; four processes starting at once migrate once."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Integer, MetaData, Table, event, insert, inspect, text
from sqlalchemy.engine import Connection

from tests.support.postgres import postgres_url_or_skip, scratch_database
from timeseal.store.db import (
    BASELINE_TABLES,
    MIGRATIONS_DIR,
    SchemaError,
    create_schema,
    current_revision,
    head_revision,
    make_engine,
    migrate,
    migration_config,
    schema_metadata,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'timeseal.db'}"
        return
    with scratch_database(postgres_url_or_skip()) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def differences(engine: Engine, target: MetaData | None = None) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write to go from the database to
    ``target`` (default: the models)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, target or schema_metadata()))


def user_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_the_migrated_schema_is_exactly_the_models(engine: Engine) -> None:
    assert current_revision(engine) is None
    create_schema(engine)
    assert current_revision(engine) == head_revision()
    assert user_tables(engine) == set(schema_metadata().tables)
    assert differences(engine) == []
    # The comparison is not vacuous: one more column in the models is a difference.
    extra = MetaData()
    for table in schema_metadata().tables.values():
        table.to_metadata(extra)
    Table("log_tiles", extra, Column("spare", Integer), extend_existing=True)
    assert [d[0] for d in differences(engine, extra)] == ["add_column"]


def test_migrating_again_changes_nothing(engine: Engine) -> None:
    migrate(engine)
    statements: list[str] = []

    def record(_conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        migrate(engine)
        create_schema(engine)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    writes = [s for s in statements if re.match(r"\s*(CREATE|ALTER|DROP|INSERT|UPDATE)", s, re.I)]
    assert writes == []
    assert current_revision(engine) == head_revision()
    assert differences(engine) == []


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    migrate(engine)
    with engine.begin() as conn:
        command.downgrade(migration_config(conn), "base")
    assert user_tables(engine) == set()
    migrate(engine)
    assert differences(engine) == []


def test_0012_moves_the_stored_login_codes_over(engine: Engine) -> None:
    """One code per number (``auth_phones``) becomes one per client (``login_codes``)."""
    with engine.begin() as conn:
        command.upgrade(migration_config(conn), "0011")
        conn.execute(
            text(
                "INSERT INTO auth_phones (phone, code_hash, code_sent_at_ms, code_expires_at_ms,"
                " code_attempts, code_used_at_ms, failures, locked_until_ms, updated_at_ms)"
                " VALUES ('+8613800000001', :code, 1000, 301000, 2, NULL, 0, 0, 1000),"
                " ('+8613800000002', NULL, NULL, NULL, 0, NULL, 0, 0, 1000)"
            ).bindparams(code=b"\x01" * 32)
        )
    migrate(engine)
    assert differences(engine) == []
    with engine.connect() as conn:
        moved = conn.execute(
            text(
                "SELECT phone, client_key, code_hash, sent_at_ms, expires_at_ms, attempts,"
                " used_at_ms FROM login_codes"
            )
        ).all()
        phones = conn.execute(text("SELECT phone FROM auth_phones ORDER BY phone")).all()
    assert [tuple(row) for row in moved] == [
        ("+8613800000001", "migrated", b"\x01" * 32, 1000, 301000, 2, None)
    ]
    assert [p for (p,) in phones] == ["+8613800000001", "+8613800000002"]


_MIGRATE_IN_CHILD = """
import sys, time
from pathlib import Path
from timeseal.store.db import create_schema, make_engine
url, rendezvous, name = sys.argv[1:]
engine = make_engine(url)
(Path(rendezvous) / name).touch()            # imported and ready
while not (Path(rendezvous) / "go").exists():  # all four start migrating together
    time.sleep(0.005)
create_schema(engine)
engine.dispose()
"""


def test_four_processes_starting_at_once_migrate_once(database_url: str, tmp_path: Path) -> None:
    """What happens when `timeseal serve` starts its workers."""
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE_IN_CHILD, database_url, str(rendezvous), f"w{i}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    deadline = time.monotonic() + 60
    while len(list(rendezvous.iterdir())) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    (rendezvous / "go").touch()
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [c.returncode for c in children] == [0, 0, 0, 0], errors
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == [head_revision()]
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_a_database_made_by_create_all_is_adopted(engine: Engine) -> None:
    """Before there were migrations, the server called ``metadata.create_all``."""
    metadata = schema_metadata()
    metadata.create_all(engine, tables=[metadata.tables[name] for name in BASELINE_TABLES])
    with engine.begin() as conn:
        conn.execute(insert(metadata.tables["log_tiles"]).values(path="tile/0/000", data=b"x"))
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT data FROM log_tiles")).scalar_one() == b"x"


def test_a_foreign_database_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE log_tiles (path VARCHAR(96) PRIMARY KEY)"))
    with pytest.raises(SchemaError, match="not made by TimeSeal"):
        migrate(engine)


def _table_parts(sql: str) -> tuple[str, list[str], list[str]]:
    """A CREATE statement as (head, columns in order, constraints sorted): a table that batch
    mode rebuilt (SQLite cannot ALTER it) quotes its name and lists constraints in another
    order, which changes nothing."""
    sql = re.sub(r"\s+", " ", sql).strip()
    head, paren, body = sql.partition("(")
    if not paren or not head.upper().startswith("CREATE TABLE"):
        return sql, [], []
    clauses, depth, current = [], 0, ""
    for char in body.rstrip()[:-1]:  # drop the closing parenthesis
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            clauses.append(current.strip())
            current = ""
        else:
            current += char
    clauses.append(current.strip())
    constraint = re.compile(r"^(CONSTRAINT|PRIMARY KEY|FOREIGN KEY|UNIQUE|CHECK)\b")
    columns = [c for c in clauses if not constraint.match(c)]
    constraints = sorted(c for c in clauses if constraint.match(c))
    return head.replace('"', "").strip(), columns, constraints


def test_sqlite_ddl_is_what_create_all_emits(tmp_path: Path) -> None:
    """Column by column, as SQLite stores the CREATE statements."""

    def ddl(engine: Engine) -> dict[str, tuple[str, list[str], list[str]]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
            return {name: _table_parts(sql) for name, sql in rows}

    migrated = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    created = make_engine(f"sqlite:///{tmp_path / 'created.db'}")
    migrate(migrated)
    schema_metadata().create_all(created)
    got = ddl(migrated)
    del got["alembic_version"]
    assert got == ddl(created)
    migrated.dispose()
    created.dispose()


def test_revisions_form_one_line_of_well_named_files() -> None:
    script = ScriptDirectory.from_config(migration_config())
    assert script.get_heads() == [head_revision()]
    revisions = list(script.walk_revisions())  # newest first
    assert revisions[-1].revision == "0001"
    for number, revision in enumerate(reversed(revisions), start=1):
        assert revision.revision == f"{number:04d}"
        assert Path(revision.path).name.startswith(f"v{number:04d}_")
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
