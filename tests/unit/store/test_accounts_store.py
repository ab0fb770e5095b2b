"""The login-code limits hold under concurrency: many threads, each on its own database
connection (as several server processes would be), race for the same number or IP. On SQLite
and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table, func, select

from tests.support.accounts import PHONE, START, database_url, migrated_engine
from tests.support.races import race
from timeseal.store.accounts.store import AccountStore
from timeseal.store.accounts.tables import (
    accounts,
    auth_clients,
    auth_events,
    auth_phones,
    login_codes,
)
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

RIGHT = b"\x01" * 32
WRONG = b"\x02" * 32


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_url(request.param, tmp_path) as url, migrated_engine(url) as engine:
        yield engine


def test_one_code_per_client_however_many_times_it_asks_at_once(engine: Engine) -> None:
    codes = LoginCodes(engine)
    results = race(12, lambda i: codes.issue(PHONE, "10.0.0.1", RIGHT, now=START))
    issued = [r for r in results if isinstance(r, CodeIssued)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(issued) == 1
    assert {r.limit for r in refused} == {Limit.RESEND_INTERVAL} and len(refused) == 11


def test_the_numbers_cap_holds_when_many_addresses_ask_at_once(engine: Engine) -> None:
    codes = LoginCodes(engine, LoginPolicy(codes_per_phone=8))
    results = race(12, lambda i: codes.issue(PHONE, f"10.0.0.{i}", RIGHT, now=START))
    kinds = Counter(r.limit if isinstance(r, Refused) else "issued" for r in results)
    assert kinds == {"issued": 8, Limit.PHONE_QUOTA: 4}
    # A client known to the number is neither refused nor counted by that cap.
    known = codes.issue(PHONE, "10.0.0.1", RIGHT, now=START, known_device="d1")
    assert isinstance(known, CodeIssued)
    # Its per-client limits are its own, not the IP's: the same device on another IP waits.
    again = codes.issue(PHONE, "10.0.9.9", RIGHT, now=START, known_device="d1")
    assert isinstance(again, Refused) and again.limit is Limit.RESEND_INTERVAL


def test_the_ip_quota_holds_under_a_race(engine: Engine) -> None:
    codes = LoginCodes(engine)
    results = race(26, lambda i: codes.issue(f"+86139000000{i:02d}", "192.0.2.1", RIGHT, now=START))
    kinds = Counter(r.limit if isinstance(r, Refused) else "issued" for r in results)
    assert kinds == {"issued": 20, Limit.IP_CODE_QUOTA: 6}


def test_every_concurrent_guess_is_counted(engine: Engine) -> None:
    codes = LoginCodes(engine)
    assert isinstance(codes.issue(PHONE, "192.0.2.1", RIGHT, now=START), CodeIssued)
    results = race(12, lambda i: codes.redeem(PHONE, f"10.0.1.{i}", WRONG, now=START))
    rejected = [r for r in results if isinstance(r, CodeRejected)]
    refused = [r for r in results if isinstance(r, Refused)]
    # Five guesses at the code, then it is burned: the rest are no guess at a live code (and
    # counted nowhere). No number lock: nothing is refused.
    assert Counter(r.problem for r in rejected) == {
        CodeProblem.WRONG: 5,
        CodeProblem.NO_LIVE_CODE: 7,
    }
    left = sorted(r.attempts_left or 0 for r in rejected if r.problem is CodeProblem.WRONG)
    assert left == [0, 1, 2, 3, 4]
    assert refused == []
    # The right code now only hears that it was burned.
    right = codes.redeem(PHONE, "10.0.2.1", RIGHT, now=START)
    assert isinstance(right, CodeRejected) and right.problem is CodeProblem.EXHAUSTED


def test_a_code_logs_in_once_however_many_use_it_at_once(engine: Engine) -> None:
    codes = LoginCodes(engine)
    codes.issue(PHONE, "192.0.2.1", RIGHT, now=START)
    results = race(8, lambda i: codes.redeem(PHONE, f"10.0.3.{i}", RIGHT, now=START))
    assert len([r for r in results if isinstance(r, LoggedIn)]) == 1
    assert Counter(r.problem for r in results if isinstance(r, CodeRejected)) == {
        CodeProblem.USED: 7
    }
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(accounts)).scalar_one() == 1


def test_first_logins_of_one_number_create_one_account(engine: Engine) -> None:
    codes = LoginCodes(engine, LoginPolicy(resend_interval=START - START))
    ids = set()
    for i in range(3):
        codes.issue(PHONE, "192.0.2.1", bytes([i]) * 32, now=START)
        result = codes.redeem(PHONE, "192.0.2.1", bytes([i]) * 32, now=START)
        assert isinstance(result, LoggedIn)
        ids.add(result.account.id)
    assert len(ids) == 1


def test_policy_limits_must_allow_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        LoginPolicy(codes_per_ip=0)


def _rows(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_purging_forgets_only_what_no_limit_or_session_needs(engine: Engine) -> None:
    policy = LoginPolicy()
    codes = LoginCodes(engine, policy)
    assert isinstance(codes.issue(PHONE, "10.0.0.1", RIGHT, now=START), CodeIssued)
    assert isinstance(codes.redeem(PHONE, "10.0.0.1", WRONG, now=START), CodeRejected)
    # Within the window everything still counts: nothing goes.
    assert codes.purge(now=START + policy.phone_window - dt.timedelta(seconds=1)) == 0
    # An expired code still answers "expired" until the window is over.
    late = codes.redeem(PHONE, "10.0.0.1", RIGHT, now=START + dt.timedelta(hours=1))
    assert isinstance(late, CodeRejected) and late.problem is CodeProblem.EXPIRED
    after = START + dt.timedelta(hours=1) + policy.phone_window
    assert codes.purge(now=after) > 0
    tables = (auth_events, auth_phones, auth_clients, login_codes)
    assert [_rows(engine, t) for t in tables] == [0, 0, 0, 0]
    # The limits start afresh, as they would have anyway after the window.
    assert isinstance(codes.issue(PHONE, "10.0.0.1", RIGHT, now=after), CodeIssued)

    store = AccountStore(engine)
    logged = codes.redeem(PHONE, "10.0.0.1", RIGHT, now=after)
    assert isinstance(logged, LoggedIn)
    account = logged.account.id
    idle, grace = dt.timedelta(hours=12), dt.timedelta(days=7)

    def session(secret: bytes, *, lifetime: dt.timedelta = dt.timedelta(days=14)) -> str:
        made = store.create_session(
            account, secret, now=after, lifetime=lifetime, ip="10.0.0.1", user_agent="t"
        )
        return made.id

    live = session(b"\x03" * 32)
    revoked = session(b"\x04" * 32)
    short = session(b"\x05" * 32, lifetime=dt.timedelta(hours=1))
    assert store.revoke_session(account, revoked, now=after)
    assert store.purge_sessions(now=after + grace, idle=idle, grace=grace) == 1  # the revoked
    store.touch_session(live, now=after + grace, every=dt.timedelta(0))
    # The short one ended (lifetime) more than `grace` ago; the live one is still in use.
    gone = store.purge_sessions(now=after + grace + dt.timedelta(hours=2), idle=idle, grace=grace)
    assert gone == 1
    remaining = store.sessions(account, now=after + grace, idle=idle)
    assert [s.id for s in remaining] == [live] and short != live
