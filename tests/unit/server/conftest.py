from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from timeseal.server import datadir
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.clock import ClockSource, LocalSource


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    datadir.initialise(path, now=dt.datetime.now(dt.UTC))
    return path


@contextmanager
def running_app(data_dir: Path, source: ClockSource | None = None) -> Iterator[TestClient]:
    app = create_app(ServerSettings(data_dir=data_dir, clock_source=source or LocalSource()))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with running_app(data_dir) as c:
        yield c
