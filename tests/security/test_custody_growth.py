"""A share link's views do not grow the custody trail without bound (issue 12, point 8).

Before the fix every open of a link (page, facts, each download, each ``Range`` request) added
one ``share_opened`` row, forever: anyone holding the link could grow the database and every
package's manifest at will. Now views are kept per link, per client and per day (UTC), with
when they were first and last seen and how many there were, which is what a court asks (that
the link was opened, when, how often); past a fixed number of clients a day, further clients
share one row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.support.accounts import FakeClock, bearer
from tests.unit.server.test_shares import clock, seal, server, share
from timeseal.server.evidence.shares import MAX_VIEW_CLIENTS_PER_DAY
from timeseal.store.db import make_engine
from timeseal.store.evidence.tables import evidence_custody

__all__ = ["clock", "server"]


def opened_rows(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).where(evidence_custody.c.action == "share_opened")
            return int(conn.execute(query.select_from(evidence_custody)).scalar_one())
    finally:
        engine.dispose()


def views(client: TestClient, auth: dict[str, str], number: str) -> list[dict[str, object]]:
    detail = client.get(f"/api/v1/evidence/{number}", headers=auth).json()
    return [e for e in detail["custody"] if e["action"] == "share_opened"]


def test_views_are_counted_not_appended(
    server: TestClient, data_dir: Path, db_url: str, clock: FakeClock
) -> None:
    auth = bearer(server, data_dir)
    number = seal(server, auth)
    token = share(server, auth, number, clock)["token"]
    viewer = TestClient(server.app, client=("203.0.113.9", 1))
    first = clock()
    for i in range(60):
        url = f"/api/v1/shares/{token}" if i % 2 else f"/api/v1/shares/{token}/content"
        assert viewer.get(url, headers={"Range": "bytes=0-9"}).status_code in (200, 206)
        clock.advance(seconds=30)
    assert opened_rows(db_url) == 1
    [row] = views(server, auth, number)
    assert row["count"] == 60 and row["client_ip"] == "203.0.113.9"
    assert row["at"] == first.isoformat()  # first seen
    assert row["last_at"] == (first + dt.timedelta(seconds=59 * 30)).isoformat()

    # The next day (UTC) starts a new row; so does another client.
    clock.advance(days=1)
    assert viewer.get(f"/api/v1/shares/{token}").status_code == 200
    assert TestClient(server.app, client=("198.51.100.20", 1)).get(f"/s/{token}").status_code == 200
    assert opened_rows(db_url) == 3
    assert sum(int(str(v["count"])) for v in views(server, auth, number)) == 62


def test_many_clients_a_day_are_bounded(
    server: TestClient, data_dir: Path, db_url: str, clock: FakeClock
) -> None:
    auth = bearer(server, data_dir)
    number = seal(server, auth)
    token = share(server, auth, number, clock)["token"]
    clients = MAX_VIEW_CLIENTS_PER_DAY + 8
    for i in range(clients):
        stranger = TestClient(server.app, client=(f"192.0.2.{i + 1}", 1))
        assert stranger.get(f"/api/v1/shares/{token}").status_code == 200
    assert opened_rows(db_url) == MAX_VIEW_CLIENTS_PER_DAY + 1  # the rest share one row
    counted = views(server, auth, number)
    assert sum(int(str(v["count"])) for v in counted) == clients
    assert [v["client_ip"] for v in counted].count("192.0.2.1") == 1
