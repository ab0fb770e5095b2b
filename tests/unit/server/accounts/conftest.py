"""Fixtures: the accounts API on SQLite and on PostgreSQL, with an injected clock (the security
suite's account tests use them too: tests/security/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.support.accounts import FakeClock, auth_app, database_url, migrated_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def accounts_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: SQLite, and PostgreSQL when TIMESEAL_TEST_POSTGRES_URL is set."""
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(accounts_url: str) -> Iterator[Engine]:
    with migrated_engine(accounts_url) as engine:
        yield engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "sms-outbox.log"


@pytest.fixture
def app(engine: Engine, outbox: Path, clock: FakeClock) -> FastAPI:
    return auth_app(engine, outbox, clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Plain HTTP, from 10.0.0.1."""
    with TestClient(app, client=("10.0.0.1", 50000)) as c:
        yield c


@pytest.fixture
def https_client(app: FastAPI) -> Iterator[TestClient]:
    """HTTPS (so cookies are Secure), from 10.0.0.2."""
    with TestClient(app, base_url="https://testserver", client=("10.0.0.2", 50000)) as c:
        yield c
