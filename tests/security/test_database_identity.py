"""Issue 12, point 5: a data directory runs on its own database, or not at all.

Before the fix, a PostgreSQL-backed data directory started without ``TIMESEAL_DATABASE_URL``
got a fresh SQLite database: the log key signed a size-0 checkpoint after a larger one, serial
epochs restarted, every record answered 404, and ``timeseal tsa journal`` printed nothing with
exit 0. Now the database's id is recorded in ``config.json`` and every start compares it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from starlette.testclient import TestClient

from tests.support.accounts import server_database_url
from tests.support.postgres import postgres_url_or_skip, scratch_database
from tests.support.server import TIMESEAL, free_port
from tests.unit.server.conftest import running_app
from timeseal.core.tlog import parse_signed_checkpoint
from timeseal.core.tsp.request import build_request
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.runtime import datadir
from timeseal.server.runtime.database import DatabaseMismatch
from timeseal.server.tsa.clock import LocalSource
from timeseal.store.db import DATABASE_URL_ENV, make_engine
from timeseal.store.identity import read_database_id

QUERY = {"Content-Type": "application/timestamp-query"}


def _stamp(client: TestClient, n: int, tag: str) -> None:
    """Issue ``n`` tokens and wait (bounded) until the log holds them all."""
    before = _log_size(client)
    for i in range(n):
        digest = hashlib.sha256(f"{tag} {i}".encode()).digest()
        reply = client.post("/tsa", content=build_request(digest).der, headers=QUERY)
        assert reply.status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _log_size(client) >= before + n:
            return
        time.sleep(0.05)
    raise AssertionError("the sequencer did not integrate in time")


def _log_size(client: TestClient) -> int:
    reply = client.get("/log/checkpoint")
    if reply.status_code == 503:  # no checkpoint yet
        return 0
    return parse_signed_checkpoint(reply.content).checkpoint.size


def _journal_rows(engine_url: str) -> int:
    engine = make_engine(engine_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.exec_driver_sql("SELECT count(*) FROM tsa_issuance_journal").scalar_one()
            )
    finally:
        engine.dispose()


def _has_tables(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return bool(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TIMESEAL, *args], capture_output=True, text=True, env=env, timeout=120)


def _start(settings: ServerSettings) -> None:
    """Build the application and run its lifespan, where it opens the database."""
    with TestClient(create_app(settings)):
        pass


def _env(url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}
    if url is not None:
        env[DATABASE_URL_ENV] = url
    return env


@pytest.fixture
def pg_url(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A scratch PostgreSQL database that ``data_dir`` was created with and has used."""
    with scratch_database(postgres_url_or_skip()) as url:
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        with running_app(data_dir) as client:
            _stamp(client, 3, "pg")
        yield url


@pytest.mark.postgres
def test_postgres_data_dir_without_the_url_is_refused_in_process(
    data_dir: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV)
    with pytest.raises(DatabaseMismatch) as refused:
        _start(
            ServerSettings(
                database_url=server_database_url(), data_dir=data_dir, clock_source=LocalSource()
            )
        )
    message = str(refused.value)
    assert f"{DATABASE_URL_ENV}=postgresql+psycopg://" in message
    assert datadir.load_config(data_dir).database.id in message
    # Nothing was written: no SQLite database appeared beside the records' real home.
    assert not (data_dir / "timeseal.db").exists()


@pytest.mark.postgres
def test_postgres_data_dir_without_the_url_is_refused_by_the_cli(
    data_dir: Path, pg_url: str
) -> None:
    journal = _cli("tsa", "journal", "--data-dir", str(data_dir), env=_env(None))
    assert journal.returncode != 0
    assert journal.stdout == ""
    assert f"{DATABASE_URL_ENV}=postgresql+psycopg://" in journal.stderr

    port = str(free_port())
    serve = _cli(
        "serve", "--data-dir", str(data_dir), "--port", port, "--workers", "1", env=_env(None)
    )
    assert serve.returncode != 0
    assert f"{DATABASE_URL_ENV}=postgresql+psycopg://" in serve.stderr
    assert not (data_dir / "timeseal.db").exists()

    init = _cli("init", "--data-dir", str(data_dir), env=_env(None))
    assert init.returncode != 0
    assert not (data_dir / "timeseal.db").exists()

    # With the URL it was created with, the journal lists the three tokens.
    ok = _cli("tsa", "journal", "--data-dir", str(data_dir), "--json", env=_env(pg_url))
    assert ok.returncode == 0, ok.stderr
    assert len([json.loads(line) for line in ok.stdout.splitlines()]) == 3


@pytest.mark.postgres
def test_another_postgres_database_is_refused_and_left_untouched(
    data_dir: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scratch_database(postgres_url_or_skip()) as other:
        monkeypatch.setenv(DATABASE_URL_ENV, other)
        with pytest.raises(DatabaseMismatch, match="holds no TimeSeal records"):
            _start(
                ServerSettings(
                    database_url=server_database_url(),
                    data_dir=data_dir,
                    clock_source=LocalSource(),
                )
            )
        assert not _has_tables(other)  # an empty database is never silently initialised
        cli = _cli("tsa", "journal", "--data-dir", str(data_dir), env=_env(other))
        assert cli.returncode != 0
        assert cli.stdout == ""
        assert "holds no TimeSeal records" in cli.stderr
        assert not _has_tables(other)

        # A database that another data directory uses (it has an id of its own).
        stranger = data_dir.parent / "stranger"
        datadir.initialise(stranger, now=_now())
        with running_app(stranger):
            pass
        monkeypatch.setenv(DATABASE_URL_ENV, other)
        engine = make_engine(other)
        try:
            found = read_database_id(engine)
        finally:
            engine.dispose()
        with pytest.raises(DatabaseMismatch, match=f"has id {found}"):
            _start(
                ServerSettings(
                    database_url=server_database_url(),
                    data_dir=data_dir,
                    clock_source=LocalSource(),
                )
            )
        assert _journal_rows(pg_url) == 3


@pytest.mark.postgres
def test_sqlite_data_dir_with_a_postgres_url_is_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with running_app(data_dir) as client:
        _stamp(client, 2, "sqlite")
    with scratch_database(postgres_url_or_skip()) as url:
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        with pytest.raises(DatabaseMismatch) as refused:
            _start(
                ServerSettings(
                    database_url=server_database_url(),
                    data_dir=data_dir,
                    clock_source=LocalSource(),
                )
            )
        assert f"unset {DATABASE_URL_ENV}" in str(refused.value)
        assert not _has_tables(url)


def test_a_missing_sqlite_database_is_not_recreated(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with running_app(data_dir) as client:
        _stamp(client, 2, "sqlite")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data_dir / 'timeseal.db'}{suffix}").unlink(missing_ok=True)
    with pytest.raises(DatabaseMismatch, match="does not exist"):
        _start(
            ServerSettings(
                database_url=server_database_url(), data_dir=data_dir, clock_source=LocalSource()
            )
        )
    assert not (data_dir / "timeseal.db").exists()
    journal = _cli("tsa", "journal", "--data-dir", str(data_dir), env=_env(None))
    assert journal.returncode != 0
    assert journal.stdout == ""
    assert "does not exist" in journal.stderr
    assert not (data_dir / "timeseal.db").exists()


def test_a_data_dir_from_before_adopts_its_database_id(
    data_dir: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = datadir.load_config(data_dir)
    assert config.database.id == ""  # as a data directory made before the ids existed
    with caplog.at_level(logging.WARNING, logger="timeseal.server"), running_app(data_dir):
        pass
    recorded = datadir.load_config(data_dir).database
    engine = make_engine(db_url)
    try:
        assert recorded.id == read_database_id(engine)
    finally:
        engine.dispose()
    assert recorded.kind == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    assert any(recorded.id in r.getMessage() for r in caplog.records)


def test_a_restart_on_the_same_database_carries_on(data_dir: Path, db_url: str) -> None:
    with running_app(data_dir) as client:
        _stamp(client, 2, "first")
    with running_app(data_dir) as client:
        _stamp(client, 2, "second")
        assert _log_size(client) == 4
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        assert "failed" not in health.json()["log"]
    assert _journal_rows(db_url) == 4
    journal = _cli(
        "tsa",
        "journal",
        "--data-dir",
        str(data_dir),
        env=_env(None if db_url.startswith("sqlite") else db_url),
    )
    assert journal.returncode == 0, journal.stderr
    assert len(journal.stdout.splitlines()) == 4


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
