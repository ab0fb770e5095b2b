from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import database_url, server_database_url
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.runtime import datadir
from timeseal.server.tsa.clock import ClockSource, LocalSource
from timeseal.store.db import DATABASE_URL_ENV


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    datadir.initialise(path, now=dt.datetime.now(dt.UTC))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The server's database: SQLite in the data directory, or a scratch PostgreSQL one (whose
    URL the server then finds in the environment)."""
    with database_url(request.param, data_dir) as url:
        if request.param == "postgresql":
            monkeypatch.setenv(DATABASE_URL_ENV, url)
        else:
            monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        yield url


@contextmanager
def running_app(data_dir: Path, source: ClockSource | None = None) -> Iterator[TestClient]:
    app = create_app(
        ServerSettings(
            database_url=server_database_url(),
            data_dir=data_dir,
            clock_source=source or LocalSource(),
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with running_app(data_dir) as c:
        yield c
