"""Issue 12, a left-over hole: a stranger's code request must not replace the owner's code.

Before the fix a number had one code: whoever asked for a code for it replaced the one before.
A stranger who asked for a code for someone else's number, once a minute, kept its owner from
logging in: the owner typed the code from their SMS and heard "wrong or no longer valid". Now
a code belongs to the client that asked for it (the number and the IP, or a known device); a
client's new code replaces only its own; a typed code is checked against every code of the
number, and only the matching one is spent. Wrong guesses still count and back off, and take
one attempt off each live code, so every code keeps its own bounded budget of guesses. Time
is the injected clock; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from tests.support.accounts import (
    PHONE,
    START,
    FakeClock,
    auth_app,
    latest_code,
    outbox_entries,
    send_code,
)
from tests.support.races import race
from timeseal.store.accounts.tables import auth_events, login_codes
from timeseal.store.login_codes import LoginCodes
from timeseal.store.login_policy import (
    CodeIssued,
    CodeProblem,
    CodeRejected,
    Limit,
    LoggedIn,
    LoginPolicy,
    Refused,
)

OWNER = ("203.0.113.7", 50000)
OWNER_ELSEWHERE = ("203.0.113.99", 50000)  # the owner's phone, moved to another network
STRANGER = ("198.51.100.66", 40000)


def ask(client: TestClient, phone: str = PHONE) -> httpx2.Response:
    return client.post("/api/v1/auth/sms-code", json={"phone": phone})


def login(client: TestClient, code: str, phone: str = PHONE) -> httpx2.Response:
    return client.post("/api/v1/auth/login", json={"phone": phone, "code": code})


def error_of(reply: httpx2.Response) -> dict[str, Any]:
    error: dict[str, Any] = reply.json()["error"]
    return error


def codes_sent(outbox: Path) -> list[str]:
    return [e["code"] for e in outbox_entries(outbox)]


def test_a_strangers_requests_do_not_replace_the_owners_code(
    engine: Engine, outbox: Path, clock: FakeClock
) -> None:
    # A code valid for an hour, so that the stranger can spend a whole client quota on it.
    app = auth_app(engine, outbox, clock, login_policy=LoginPolicy(code_ttl=dt.timedelta(hours=1)))
    with TestClient(app, client=OWNER) as owner, TestClient(app, client=STRANGER) as stranger:
        send_code(owner)
        code = latest_code(outbox)
        asked = 0
        for _ in range(20):  # once a minute, until the stranger's own quota refuses
            clock.advance(seconds=61)
            reply = ask(stranger)
            if reply.status_code == 429:
                break
            assert reply.status_code == 200, reply.text
            asked += 1
        assert asked == LoginPolicy().codes_per_client == 10
        assert len(codes_sent(outbox)) == 1 + 10
    # The owner types the code from their SMS, on another network: logged in.
    with TestClient(app, client=OWNER_ELSEWHERE) as owner_elsewhere:
        assert login(owner_elsewhere, code).status_code == 200


def test_strangers_on_many_addresses_do_not_replace_the_owners_code(
    app: FastAPI, outbox: Path, clock: FakeClock
) -> None:
    with TestClient(app, client=OWNER) as owner:
        send_code(owner)
        code = latest_code(outbox)
        for i in range(40):  # until the number's cap refuses (30 a day, the owner's included)
            with TestClient(app, client=(f"198.18.0.{i + 1}", 1)) as stranger:
                reply = ask(stranger)
            if reply.status_code == 429:
                break
            assert reply.status_code == 200
        assert len(codes_sent(outbox)) == LoginPolicy().codes_per_phone
        clock.advance(minutes=4)
        assert login(owner, code).status_code == 200


def test_a_strangers_guesses_still_count_and_back_off(app: FastAPI, outbox: Path) -> None:
    with TestClient(app, client=OWNER) as owner, TestClient(app, client=STRANGER) as stranger:
        send_code(owner)
        owner_code = latest_code(outbox)
        send_code(stranger)  # a second live code of the number: the stranger's (in the SMS)
        stranger_code = latest_code(outbox)
        guess = next(
            f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in (owner_code, stranger_code)
        )
        replies = [login(stranger, guess) for _ in range(5)]
        assert [r.status_code for r in replies] == [400, 400, 400, 429, 429]
        # Each guess took one attempt off every live code: four, three, two left.
        assert [error_of(r).get("attempts_left") for r in replies[:3]] == [4, 3, 2]
        assert error_of(replies[3])["code"] == "rate_limited"
        assert int(replies[3].headers["retry-after"]) == 2
        # The owner, not held up, logs in with the code from their SMS.
        assert login(owner, owner_code).status_code == 200


def test_a_clients_new_code_replaces_only_its_own(
    app: FastAPI, outbox: Path, clock: FakeClock
) -> None:
    with TestClient(app, client=OWNER) as owner, TestClient(app, client=STRANGER) as stranger:
        send_code(owner)
        first = latest_code(outbox)
        send_code(stranger)
        strangers = latest_code(outbox)
        clock.advance(seconds=61)
        send_code(owner)
        second = latest_code(outbox)
        # The owner's first code went with the owner's second request...
        reply = login(owner, first)
        assert reply.status_code == 400 and error_of(reply)["code"] == "code_invalid"
        # ...the code the stranger asked for did not, and the owner's second one works.
        assert login(owner, second).status_code == 200
        assert login(stranger, strangers).status_code == 200


def test_a_code_works_once_and_spends_no_other(app: FastAPI, outbox: Path) -> None:
    with TestClient(app, client=OWNER) as owner, TestClient(app, client=STRANGER) as stranger:
        send_code(owner)
        owner_code = latest_code(outbox)
        send_code(stranger)
        strangers = latest_code(outbox)
        assert login(owner, owner_code).status_code == 200
        again = login(owner, owner_code)
        assert again.status_code == 400 and error_of(again)["code"] == "code_used"
        assert login(stranger, strangers).status_code == 200
        assert error_of(login(stranger, strangers))["code"] == "code_used"


# --- the store, directly -------------------------------------------------------------------


def h(n: int) -> bytes:
    """A code's stored hash (the store never sees digits)."""
    return bytes([n]) * 32


def stored_codes(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(login_codes)).scalar_one())


def test_brute_force_stays_bounded_per_code_however_many_codes_the_number_holds(
    engine: Engine,
) -> None:
    policy = LoginPolicy()
    codes = LoginCodes(engine, policy)
    for i in range(4):  # four clients, four live codes
        assert isinstance(codes.issue(PHONE, f"10.0.0.{i}", h(i), now=START), CodeIssued)
    # Guesses from ever new addresses (no back-off applies): five in all, not five per code.
    answers = [codes.redeem(PHONE, f"10.9.0.{i}", h(99), now=START) for i in range(8)]
    assert all(isinstance(a, CodeRejected) for a in answers)
    problems = [a.problem for a in answers if isinstance(a, CodeRejected)]
    left = [a.attempts_left for a in answers if isinstance(a, CodeRejected)]
    assert problems == [CodeProblem.WRONG] * 5 + [CodeProblem.NO_LIVE_CODE] * 3
    assert left == [4, 3, 2, 1, 0, None, None, None]
    # Every code is burned, and hears so; guesses at a number without live codes count nowhere.
    for i in range(4):
        burned = codes.redeem(PHONE, "10.0.9.9", h(i), now=START)
        assert isinstance(burned, CodeRejected) and burned.problem is CodeProblem.EXHAUSTED
    with engine.connect() as conn:
        failures = conn.execute(
            select(func.count()).where(auth_events.c.kind == "login_failed")
        ).scalar_one()
    assert failures == 2 * 5  # the IP's and the (number, IP)'s, for the five counted guesses
    # A code issued later has its own five guesses.
    later = START + policy.resend_interval
    assert isinstance(codes.issue(PHONE, "10.0.0.0", h(7), now=later), CodeIssued)
    guesses = [codes.redeem(PHONE, f"10.8.0.{i}", h(99), now=later) for i in range(5)]
    assert [g.attempts_left for g in guesses if isinstance(g, CodeRejected)] == [4, 3, 2, 1, 0]


def test_a_known_devices_new_code_replaces_its_code_from_another_address(
    engine: Engine,
) -> None:
    codes = LoginCodes(engine)
    later = START + LoginPolicy().resend_interval
    assert isinstance(codes.issue(PHONE, "10.0.0.1", h(1), now=START, known_device="d"), CodeIssued)
    assert isinstance(codes.issue(PHONE, "10.0.0.9", h(9), now=START), CodeIssued)
    assert isinstance(codes.issue(PHONE, "10.0.0.2", h(2), now=later, known_device="d"), CodeIssued)
    first = codes.redeem(PHONE, "10.0.0.2", h(1), now=later)
    assert isinstance(first, CodeRejected) and first.problem is CodeProblem.WRONG
    assert isinstance(codes.redeem(PHONE, "10.0.0.3", h(2), now=later), LoggedIn)
    assert isinstance(codes.redeem(PHONE, "10.0.0.9", h(9), now=later), LoggedIn)
    assert stored_codes(engine) == 2


def test_the_live_codes_of_a_number_are_bounded(engine: Engine) -> None:
    policy = LoginPolicy(codes_per_phone=3, live_codes_per_phone=4)
    codes = LoginCodes(engine, policy)
    for i in range(3):
        assert isinstance(codes.issue(PHONE, f"10.0.0.{i}", h(i), now=START), CodeIssued)
    strangers = codes.issue(PHONE, "10.0.0.3", h(3), now=START)
    assert isinstance(strangers, Refused) and strangers.limit is Limit.PHONE_QUOTA
    # The owner's device finds room strangers cannot fill...
    assert isinstance(codes.issue(PHONE, "10.0.1.1", h(4), now=START, known_device="a"), CodeIssued)
    # ...and past the bound even a known device waits, until a code is no longer live.
    full = codes.issue(PHONE, "10.0.1.2", h(5), now=START, known_device="b")
    assert isinstance(full, Refused) and full.limit is Limit.LIVE_CODES
    assert full.retry_at == START + policy.code_ttl
    assert isinstance(codes.redeem(PHONE, "10.0.0.0", h(0), now=START), LoggedIn)
    assert isinstance(codes.issue(PHONE, "10.0.1.2", h(5), now=START, known_device="b"), CodeIssued)
    # A client's own code does not count against it: it is replaced.
    later = START + policy.resend_interval
    assert isinstance(codes.issue(PHONE, "10.0.1.1", h(6), now=later, known_device="a"), CodeIssued)
    with pytest.raises(ValueError, match="live_codes_per_phone"):
        LoginPolicy(codes_per_phone=40, live_codes_per_phone=40)


def test_discarding_an_undelivered_code_forgets_only_that_code(engine: Engine) -> None:
    codes = LoginCodes(engine)
    codes.issue(PHONE, "10.0.0.1", h(1), now=START)
    codes.issue(PHONE, "10.0.0.2", h(2), now=START)
    codes.discard(PHONE, h(2))
    gone = codes.redeem(PHONE, "10.0.0.2", h(2), now=START)
    assert isinstance(gone, CodeRejected) and gone.problem is CodeProblem.WRONG
    assert isinstance(codes.redeem(PHONE, "10.0.0.1", h(1), now=START), LoggedIn)


def test_codes_asked_for_at_once_by_many_clients_all_work(engine: Engine) -> None:
    codes = LoginCodes(engine)
    issued = race(8, lambda i: codes.issue(PHONE, f"10.0.2.{i}", h(i), now=START))
    assert all(isinstance(r, CodeIssued) for r in issued)
    assert stored_codes(engine) == 8
    logged = [codes.redeem(PHONE, "10.0.3.1", h(i), now=START) for i in range(8)]
    assert all(isinstance(r, LoggedIn) for r in logged)
