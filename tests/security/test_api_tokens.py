"""API tokens expire, have scopes, and cannot mint more tokens (issue 12, point 8).

Before the fix a token lived until revoked, could do everything its account could, and could
create further tokens, so one stolen token became a permanent foothold. Now every token has an
expiry chosen at creation (90 days by default, at most 365), a scope (``full``, or ``read``,
which can read but not upload, change or delete anything), and only a browser session (or an
SMS-code login) can create one. Tokens from before the migration get the default lifetime,
counted from the migration."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, text
from starlette.testclient import TestClient

from tests.support.accounts import (
    FakeClock,
    latest_code,
    log_in,
    send_code,
)
from tests.support.tus import TUS, tus_metadata
from timeseal.store.accounts.tables import accounts, api_tokens
from timeseal.store.db import make_engine, migrate, to_ms


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, client=("10.0.0.1", 50000)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def code(reply: Any) -> tuple[int, str]:
    return reply.status_code, reply.json()["error"]["code"]


def test_a_token_cannot_create_tokens(api: TestClient, outbox: Path) -> None:
    token = log_in(api, outbox, kind="token")["token"]["token"]
    reply = api.post("/api/v1/account/tokens", json={"name": "foothold"}, headers=bearer(token))
    assert code(reply) == (403, "session_required")
    assert [t["name"] for t in api.get("/api/v1/account/tokens", headers=bearer(token)).json()] == [
        "timeseal CLI"
    ]


def test_tokens_expire_at_the_lifetime_chosen_at_creation(
    api: TestClient, outbox: Path, clock: FakeClock
) -> None:
    start = clock()
    made = log_in(api, outbox, kind="token")["token"]
    assert made["scope"] == "full"
    assert dt.datetime.fromisoformat(made["expires_at"]) == start + dt.timedelta(days=90)
    clock.advance(minutes=1)  # the next SMS code may be sent
    csrf = log_in(api, outbox)["csrf_token"]
    session = {"X-CSRF-Token": csrf}
    for days in (0, 366):
        reply = api.post(
            "/api/v1/account/tokens", json={"name": "x", "expires_in_days": days}, headers=session
        )
        assert reply.status_code == 422, days
    short = api.post(
        "/api/v1/account/tokens", json={"name": "week", "expires_in_days": 7}, headers=session
    ).json()
    made_at = start + dt.timedelta(minutes=1)
    assert dt.datetime.fromisoformat(short["expires_at"]) == made_at + dt.timedelta(days=7)

    clock.advance(days=7)
    assert api.get("/api/v1/account", headers=bearer(short["token"])).status_code == 401
    assert api.get("/api/v1/account", headers=bearer(made["token"])).status_code == 200
    clock.advance(days=83, seconds=-60)
    assert api.get("/api/v1/account", headers=bearer(made["token"])).status_code == 401
    api.cookies.clear()
    assert api.get("/api/v1/account/tokens", headers=bearer(made["token"])).status_code == 401


def test_a_read_only_token_reads_but_changes_nothing(
    api: TestClient, outbox: Path, clock: FakeClock
) -> None:
    csrf = log_in(api, outbox)["csrf_token"]
    reply = api.post(
        "/api/v1/account/tokens",
        json={"name": "auditor", "scope": "read"},
        headers={"X-CSRF-Token": csrf},
    )
    assert reply.status_code == 201 and reply.json()["scope"] == "read"
    reader = bearer(reply.json()["token"])
    api.cookies.clear()
    assert api.get("/api/v1/account", headers=reader).status_code == 200
    assert api.get("/api/v1/account/sessions", headers=reader).status_code == 200
    assert code(api.delete("/api/v1/account/sessions", headers=reader)) == (403, "token_read_only")
    # It may still end itself.
    assert api.post("/api/v1/auth/logout", headers=reader).status_code == 204
    assert api.get("/api/v1/account", headers=reader).status_code == 401


def test_a_read_only_token_cannot_upload(client: TestClient, data_dir: Path) -> None:
    outbox = data_dir / "sms-outbox.log"
    send_code(client)
    body = {"phone": "+8613812345678", "code": latest_code(outbox), "kind": "token"}
    reply = client.post("/api/v1/auth/login", json={**body, "token_scope": "read"})
    assert reply.status_code == 200, reply.text
    reader = bearer(reply.json()["token"]["token"])
    assert client.get("/api/v1/evidence", headers=reader).status_code == 200
    data = b"a forged contract"
    created = client.post(
        "/api/v1/uploads",
        headers={
            **reader,
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus_metadata(
                filename="x.pdf", sha256=hashlib.sha256(data).hexdigest()
            ),
        },
    )
    assert code(created) == (403, "token_read_only")
    case = client.post("/api/v1/cases", json={"title": "x"}, headers=reader)
    assert code(case) == (403, "token_read_only")


def test_tokens_of_an_old_database_get_the_default_lifetime(accounts_url: str) -> None:
    engine = make_engine(accounts_url)
    try:
        migrate(engine, "0008")
        with engine.begin() as conn:
            account = conn.execute(
                insert(accounts)
                .values(phone="+8613812345678", created_at_ms=0, last_login_at_ms=0)
                .returning(accounts.c.id)
            ).scalar_one()
            conn.execute(  # a token as 0008 stored it: no expiry, no scope
                text(
                    "INSERT INTO api_tokens (id, account_id, name, secret_hash, hint, "
                    "created_at_ms) VALUES ('tok_old', :account, 'old CLI', :hash, 'abcd', 0)"
                ),
                {"account": account, "hash": b"\x01" * 32},
            )
        before = dt.datetime.now(dt.UTC)
        time.sleep(0.01)
        migrate(engine)
        with engine.connect() as conn:
            row = conn.execute(select(api_tokens)).one()
    finally:
        engine.dispose()
    assert row.scope == "full"
    lifetime = dt.timedelta(days=90)
    assert (
        to_ms(before + lifetime) <= row.expires_at_ms <= to_ms(dt.datetime.now(dt.UTC) + lifetime)
    )
