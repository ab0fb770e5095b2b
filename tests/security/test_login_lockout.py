"""Issue 12, point 3: nobody may lock a phone number out of its account.

Before the fix, ten logins with a made-up code for any number locked it for 30 minutes, again
and again, even when that number had never asked for a code, and even against its owner's
right code from another network. Now only guesses at a live code count; they slow down the
client that made them (number and IP together), with a back-off that doubles; the number
itself is never locked. Time is the injected clock; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, Table, func, select
from starlette.testclient import TestClient

from tests.support.accounts import (
    PHONE,
    FakeClock,
    auth_app,
    database_url,
    latest_code,
    migrated_engine,
    send_code,
    wrong_code,
)
from timeseal.store.accounts import auth_clients, auth_events, auth_phones
from timeseal.store.login_codes import LoginPolicy

STRANGER = ("198.51.100.66", 40000)
OWNER = ("203.0.113.7", 50000)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_url(request.param, tmp_path) as url, migrated_engine(url) as engine:
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


def login(client: TestClient, code: str, phone: str = PHONE) -> httpx2.Response:
    return client.post("/api/v1/auth/login", json={"phone": phone, "code": code})


def error_of(reply: httpx2.Response) -> dict[str, Any]:
    error: dict[str, Any] = reply.json()["error"]
    return error


def rows(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_made_up_codes_for_a_number_that_never_asked_change_nothing(
    app: FastAPI, engine: Engine, outbox: Path
) -> None:
    with TestClient(app, client=STRANGER) as stranger, TestClient(app, client=OWNER) as owner:
        for _ in range(40):  # four times the old lock threshold, past the IP's failure quota
            reply = login(stranger, "000000")
            assert reply.status_code == 400, reply.text
        # Just "wrong or no longer valid", as for any wrong code: nothing about the number.
        assert error_of(reply) == {"code": "code_invalid", "message": "验证码不正确或已失效。"}
        # Not a row written: no lock, no count, not even a row for the number or the IP.
        assert [rows(engine, t) for t in (auth_phones, auth_clients, auth_events)] == [0, 0, 0]
        # The owner, from another network, asks for a code and logs in at once.
        send_code(owner)
        assert login(owner, latest_code(outbox)).status_code == 200
        # ...and so could the owner from the stranger's network (a shared NAT, a café).
    with TestClient(app, client=STRANGER) as same_ip:
        assert login(same_ip, "000000").status_code == 400


def test_a_stranger_guessing_at_the_owners_live_code_cannot_lock_the_owner(
    app: FastAPI, outbox: Path, clock: FakeClock
) -> None:
    with TestClient(app, client=STRANGER) as stranger, TestClient(app, client=OWNER) as owner:
        send_code(owner)
        code = latest_code(outbox)
        answers = [login(stranger, wrong_code(code)).status_code for _ in range(20)]
        # Three guesses, then the stranger's own back-off refuses the rest unchecked.
        assert answers == [400] * 3 + [429] * 17
        # The owner's code is intact: it logs the owner in.
        assert login(owner, code).status_code == 200

        # A patient stranger who waits out every back-off burns one code (five guesses)...
        clock.advance(seconds=61)
        send_code(owner)
        code = latest_code(outbox)
        burned = 0
        for _ in range(10):
            reply = login(stranger, wrong_code(code))
            if reply.status_code == 429:
                clock.advance(seconds=int(reply.headers["retry-after"]))
                reply = login(stranger, wrong_code(code))
            assert reply.status_code == 400
            burned += error_of(reply).get("attempts_left") == 0
        assert burned == 1
        assert error_of(login(owner, code))["code"] == "code_exhausted"
        # ...but the number is not locked: the owner asks for a new code and logs in, while
        # the stranger, backing off for longer and longer, gets one guess at it, then waits.
        clock.advance(seconds=61)
        send_code(owner)
        code = latest_code(outbox)
        assert login(stranger, wrong_code(code)).status_code == 400
        reply = login(stranger, wrong_code(code))
        assert reply.status_code == 429 and error_of(reply)["code"] == "rate_limited"
        assert int(reply.headers["retry-after"]) >= 128
        assert login(owner, code).status_code == 200


def test_the_back_off_doubles_up_to_its_cap_for_that_client_only(
    engine: Engine, outbox: Path, clock: FakeClock
) -> None:
    # Only the back-off limits this test's guesses: a long-lived code with many guesses.
    policy = LoginPolicy(attempts_per_code=100, code_ttl=dt.timedelta(days=1))
    app = auth_app(engine, outbox, clock, login_policy=policy)
    with TestClient(app, client=STRANGER) as stranger, TestClient(app, client=OWNER) as owner:
        send_code(owner)
        code = latest_code(outbox)
        waits = []
        for _ in range(14):
            reply = login(stranger, wrong_code(code))
            if reply.status_code == 429:
                wait = int(reply.headers["retry-after"])
                assert error_of(reply) == {
                    "code": "rate_limited",
                    "message": error_of(reply)["message"],
                    "retry_after": wait,
                }
                waits.append(wait)
                clock.advance(seconds=wait - 1)  # a second early: still refused, unchecked
                assert login(stranger, code).status_code == 429
                clock.advance(seconds=1)
                reply = login(stranger, wrong_code(code))
            assert reply.status_code == 400, reply.text
        # Three free failures, then 2 s, doubling after each failure, capped at 15 minutes.
        assert waits == [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
        # The owner, on another network, was never held up, and the code still works.
        assert login(owner, code).status_code == 200
