"""Serial numbers never repeat: two servers on one data directory (or one PostgreSQL database),
each with two workers and its own journal process, under concurrent load, stopped and
restarted; and no token leaves a server without its journal entry."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.support.postgres import postgres_url_or_skip, scratch_database
from tests.support.server import live_server
from timeseal.cli.data_dir import utc_now
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import PKIStatus, parse_response
from timeseal.server.runtime import datadir
from timeseal.store.db import make_engine
from timeseal.store.issuance import iter_journal, serial_epochs

pytestmark = pytest.mark.e2e

REQUESTS_PER_SERVER = 150
THREADS = 4
WORKERS = 2


def _hammer(url: str, start: int) -> list[int]:
    def chunk(part: int) -> list[int]:
        serials = []
        # One client (one keep-alive connection) per thread: building an httpx client loads
        # a CA bundle, far slower than the request itself.
        with httpx.Client(timeout=30) as http:
            for i in range(part, REQUESTS_PER_SERVER, THREADS):
                digest = hashlib.sha256(f"{start}-{i}".encode()).digest()
                reply = http.post(
                    f"{url}/tsa",
                    content=build_request(digest, nonce=i).der,
                    headers={"Content-Type": "application/timestamp-query"},
                )
                response = parse_response(reply.content)
                assert response.status is PKIStatus.GRANTED, response.status_text
                assert response.token is not None
                serials.append(response.token.tst_info.serial_number)
        return serials

    with ThreadPoolExecutor(THREADS) as pool:
        return [s for part in pool.map(chunk, range(THREADS)) for s in part]


def _run_rounds(data_dir: Path, env: dict[str, str]) -> list[int]:
    serials: list[int] = []
    for round_ in range(2):  # the second round is after a restart of both processes
        with ExitStack() as stack:
            servers = [
                stack.enter_context(live_server(data_dir, env=env, workers=WORKERS))
                for _ in range(2)
            ]
            with ThreadPoolExecutor(2) as pool:
                results = pool.map(
                    lambda ab: _hammer(ab[0].url, ab[1]),
                    [(s, round_ * 10 + n) for n, s in enumerate(servers)],
                )
                for batch in results:
                    serials.extend(batch)
    return serials


def _check(serials: list[int], database_url: str) -> None:
    assert len(serials) == 2 * 2 * REQUESTS_PER_SERVER
    assert len(set(serials)) == len(serials), "a serial number was issued twice"
    engine = make_engine(database_url)
    try:
        journal = [e.serial_number for _, e in iter_journal(engine)]
        with engine.connect() as conn:
            taken = [row.epoch for row in conn.execute(select(serial_epochs.c.epoch))]
    finally:
        engine.dispose()
    # Each worker start takes an epoch of its own: 2 rounds × 2 servers × WORKERS.
    assert len(set(taken)) == len(taken) == 2 * 2 * WORKERS
    assert {s >> 64 for s in serials} <= set(taken)
    assert len(set(journal)) == len(journal)
    assert set(serials) <= set(journal), "a token left the server without a journal entry"


def test_two_processes_on_one_sqlite_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=utc_now())
    serials = _run_rounds(data_dir, env={})
    _check(serials, f"sqlite:///{data_dir / 'timeseal.db'}")


@pytest.mark.postgres
def test_two_processes_on_one_postgres_database(tmp_path: Path) -> None:
    base = postgres_url_or_skip()
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=utc_now())
    with scratch_database(base) as url:
        serials = _run_rounds(data_dir, env={"TIMESEAL_DATABASE_URL": url})
        _check(serials, url)
