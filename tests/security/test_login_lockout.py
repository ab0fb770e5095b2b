"""Issue 12, point 3: nobody may lock a phone number out of its account.

Before the fix, ten logins with a made-up code for any number locked it for 30 minutes, again
and again, even when that number had never asked for a code, and even against its owner's
right code from another network. Now only guesses at a live code count; they slow down the
client that made them (number and IP together), with a back-off that doubles; the number
itself is never locked.

Nor through the code quota: a stranger who asked for codes for the owner's number once a minute
used to spend the number's ten codes a day in ten minutes, and the owner got none for 24 hours.
Now the per-number send limits count per (number, IP), the number's overall cap is higher, and
a client that logged in with the number before (the ``ts_device`` cookie, or ``device_token``
for the command line) is exempt from that cap. Time is the injected clock; SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, Table, func, select
from starlette.testclient import TestClient

from tests.support.accounts import (
    OTHER_PHONE,
    PHONE,
    FakeClock,
    auth_app,
    latest_code,
    outbox_entries,
    send_code,
    service_of,
    wrong_code,
)
from tests.unit.server.conftest import running_app
from tests.unit.server.web.test_web_app import browser_log_in, hidden
from timeseal.server.api.security import DEVICE_COOKIE
from timeseal.store.accounts.tables import auth_clients, auth_events, auth_phones, login_codes
from timeseal.store.db import DATABASE_URL_ENV
from timeseal.store.login_policy import LoginPolicy

STRANGER = ("198.51.100.66", 40000)
OWNER = ("203.0.113.7", 50000)


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
        assert error_of(reply) == {
            "code": "code_invalid",
            "message": "验证码不正确或已失效。",
            "message_zh": "验证码不正确或已失效。",
            "message_en": "The code is wrong or no longer valid.",
        }
        # Not a row written: no lock, no count, not even a row for the number or the IP.
        tables = (auth_phones, auth_clients, auth_events, login_codes)
        assert [rows(engine, t) for t in tables] == [0, 0, 0, 0]
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
                error = error_of(reply)
                assert error == {
                    "code": "rate_limited",
                    "message": error["message_zh"],
                    "message_zh": error["message_zh"],
                    "message_en": error["message_en"],
                    "retry_after": wait,
                }
                assert error["message_en"].startswith("Too many requests; try again in")
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


def ask(client: TestClient, phone: str = PHONE, **extra: str) -> httpx2.Response:
    return client.post("/api/v1/auth/sms-code", json={"phone": phone, **extra})


def spend_the_numbers_cap(app: FastAPI, clock: FakeClock) -> int:
    """Strangers on many addresses ask for the owner's number, one code each, until the
    number's overall cap refuses them; how many got one."""
    for i in range(100):
        with TestClient(app, client=(f"198.18.{i // 200}.{i % 200 + 1}", 1)) as stranger:
            reply = ask(stranger)
        if reply.status_code == 429:
            assert error_of(reply)["code"] == "rate_limited"
            return i
        assert reply.status_code == 200, reply.text
        clock.advance(seconds=1)
    raise AssertionError("the number's cap never refused")


def test_a_stranger_asking_for_the_owners_codes_does_not_spend_the_owners_quota(
    app: FastAPI, outbox: Path, clock: FakeClock
) -> None:
    with TestClient(app, client=STRANGER) as stranger, TestClient(app, client=OWNER) as owner:
        sent = 0
        for _ in range(50):  # once a minute, until refused
            reply = ask(stranger)
            if reply.status_code != 200:
                break
            sent += 1
            clock.advance(seconds=61)
        assert sent == 10 and reply.status_code == 429
        assert error_of(reply)["code"] == "rate_limited"
        # The owner, never seen before, on another network: a code at once, and a login.
        send_code(owner)
        assert login(owner, latest_code(outbox)).status_code == 200
        # Nor does the stranger's last code hold the owner back for a minute.
        clock.advance(days=1)
        send_code(stranger)
        send_code(owner)
        assert login(owner, latest_code(outbox)).status_code == 200


def test_a_known_device_gets_a_code_when_strangers_spent_the_numbers_cap(
    app: FastAPI, outbox: Path, clock: FakeClock
) -> None:
    browser_ip, cli_ip = ("203.0.113.7", 50000), ("203.0.113.8", 50000)
    with TestClient(app, client=browser_ip) as browser, TestClient(app, client=cli_ip) as cli:
        # The owner logged in once, in a browser and from the command line.
        send_code(browser)
        reply = login(browser, latest_code(outbox))
        assert reply.status_code == 200
        device_cookie = next(
            h for h in reply.headers.get_list("set-cookie") if h.startswith(DEVICE_COOKIE + "=")
        )
        assert "httponly" in device_cookie.lower() and "samesite=strict" in device_cookie.lower()
        assert "max-age=7776000" in device_cookie.lower()  # 90 days
        send_code(cli)
        reply = cli.post(
            "/api/v1/auth/login",
            json={"phone": PHONE, "code": latest_code(outbox), "kind": "token"},
        )
        device_token = reply.json()["device_token"]
        assert isinstance(device_token, str)
        assert DEVICE_COOKIE not in reply.cookies  # a token login gets it in the body only

        clock.advance(seconds=61)
        # Strangers on many addresses spend the number's cap: 30 a day, the owner's two first
        # codes included (they were asked before the owner's devices were known).
        assert spend_the_numbers_cap(app, clock) == 28
        with TestClient(app, client=("192.0.2.99", 1)) as new_device:
            assert ask(new_device).status_code == 429

        # The owner's browser (its cookie) and command line (its token) still get codes.
        send_code(browser)
        assert login(browser, latest_code(outbox)).status_code == 200
        assert ask(cli, device_token=device_token).status_code == 200
        assert login(cli, latest_code(outbox)).status_code == 200
        # A token is bound to its number, cannot be forged, and is refused once expired.
        assert ask(cli, device_token=device_token[:-2] + "AA").status_code == 429
        service = service_of(app)
        assert service.is_known_device(PHONE, device_token)
        assert not service.is_known_device(OTHER_PHONE, device_token)
        clock.advance(days=91)
        assert not service.is_known_device(PHONE, device_token)


def test_a_stranger_behind_the_owners_nat_cannot_spend_the_known_devices_quota(
    app: FastAPI, outbox: Path, clock: FakeClock
) -> None:
    with TestClient(app, client=OWNER) as owner:
        send_code(owner)
        assert login(owner, latest_code(outbox)).status_code == 200
        clock.advance(seconds=61)
        # A stranger on the owner's own address (a campus, a carrier's NAT) spends that
        # address's ten codes for the number...
        with TestClient(app, client=OWNER) as neighbour:
            for _ in range(9):
                send_code(neighbour)
                clock.advance(seconds=61)
            assert ask(neighbour).status_code == 429
        # ...but the owner's device counts on its own: a code, and a login.
        send_code(owner)
        assert login(owner, latest_code(outbox)).status_code == 200


def test_bombing_one_number_from_many_addresses_stops_at_its_cap(
    app: FastAPI, outbox: Path, clock: FakeClock
) -> None:
    assert spend_the_numbers_cap(app, clock) == 30
    assert len(outbox_entries(outbox)) == 30
    # Every address, old or new, is refused for the rest of the day, and nothing more is sent.
    clock.advance(seconds=61)
    for i in range(40):
        with TestClient(app, client=(f"198.18.{i // 200}.{i % 200 + 1}", 1)) as bomber:
            reply = ask(bomber)
        assert reply.status_code == 429
        assert 0 < int(reply.headers["retry-after"]) <= 24 * 3600
    assert len(outbox_entries(outbox)) == 30
    # A day after the first code, the window has slid: the number gets codes again.
    clock.advance(days=1)
    with TestClient(app, client=STRANGER) as stranger:
        send_code(stranger)


def test_the_login_page_remembers_the_device_past_the_numbers_cap(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with running_app(data_dir) as web:
        browser_log_in(web, data_dir)
        device = web.cookies[DEVICE_COOKIE]
        for i in range(29):  # strangers spend the rest of the number's 30 a day
            stranger = TestClient(web.app, client=(f"198.18.0.{i + 1}", 1))
            assert ask(stranger).status_code == 200
        # The same browser, now on another network, still gets a code on /login...
        moved = TestClient(web.app, client=("203.0.113.9", 1))  # the app is already running
        moved.cookies.set(DEVICE_COOKIE, device)
        token = hidden(moved.get("/login").text, "csrf_token")
        sent = moved.post("/login/code", data={"csrf_token": token, "phone": PHONE})
        assert sent.status_code == 200 and 'name="code"' in sent.text
        # ...while a browser that never logged in with the number is refused, in Chinese.
        new_browser = TestClient(web.app, client=("203.0.113.10", 1))
        token = hidden(new_browser.get("/login").text, "csrf_token")
        refused = new_browser.post("/login/code", data={"csrf_token": token, "phone": PHONE})
        assert refused.status_code == 429 and "操作过于频繁" in refused.text
    assert len(outbox_entries(data_dir / "sms-outbox.log")) == 31
