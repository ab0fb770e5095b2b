"""One-time login codes and their limits, enforced in the database.

Every decision here reads some state and then writes depending on it (is the number locked,
how many codes went out in the last day, is this code right). Each runs in one transaction
whose first statement is an upsert of the phone number's row in ``auth_phones`` and whose
second is an upsert of the client IP's row in ``auth_clients``
(:func:`~timeseal.store.accounts.upsert_returning`). On PostgreSQL those rows stay locked until
commit; on SQLite the first write takes the database's only write lock. So any other server
process deciding for the same number or IP waits, then sees the committed outcome: two requests
can never both take the last slot of a limit, and a guess can never escape being counted.
The locks are always taken number first, then IP, so transactions never wait in a cycle.

Limits (:class:`LoginPolicy`, sliding windows):

1. a number locked after repeated failures gets nothing, not even with the right code;
2. one code per number per ``resend_interval``, and ``codes_per_phone`` per ``phone_window``;
3. ``codes_per_ip`` codes and ``failures_per_ip`` failed logins per IP per ``ip_window``;
4. a code is valid for ``code_ttl``, once, for ``attempts_per_code`` guesses; a new code
   replaces the previous one;
5. ``lockout_after`` failed logins in a row lock the number for ``lockout``.
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, case, delete, insert, select, update

from timeseal.store.accounts import (
    Account,
    auth_clients,
    auth_events,
    auth_phones,
    from_ms,
    login_account,
    to_ms,
    upsert_returning,
)

CODE_SENT = "code_sent"
LOGIN_FAILED = "login_failed"


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    code_ttl: dt.timedelta = dt.timedelta(minutes=5)
    attempts_per_code: int = 5
    resend_interval: dt.timedelta = dt.timedelta(seconds=60)
    codes_per_phone: int = 10
    phone_window: dt.timedelta = dt.timedelta(days=1)
    codes_per_ip: int = 20
    failures_per_ip: int = 30
    ip_window: dt.timedelta = dt.timedelta(hours=1)
    lockout_after: int = 10
    lockout: dt.timedelta = dt.timedelta(minutes=30)

    def __post_init__(self) -> None:
        counts = (
            self.attempts_per_code,
            self.codes_per_phone,
            self.codes_per_ip,
            self.failures_per_ip,
            self.lockout_after,
        )
        if min(counts) < 1:
            raise ValueError("every limit must allow at least one")


class Limit(enum.Enum):
    """Which limit refused a request."""

    PHONE_LOCKED = "phone_locked"
    RESEND_INTERVAL = "resend_interval"
    PHONE_QUOTA = "phone_quota"
    IP_CODE_QUOTA = "ip_code_quota"
    IP_FAILURE_QUOTA = "ip_failure_quota"


@dataclass(frozen=True, slots=True)
class Refused:
    limit: Limit
    retry_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CodeIssued:
    expires_at: dt.datetime
    resend_at: dt.datetime


class CodeProblem(enum.Enum):
    """Why a code was not accepted; ``value`` is the API's error code."""

    NOT_REQUESTED = "code_not_requested"
    EXPIRED = "code_expired"
    USED = "code_used"
    EXHAUSTED = "code_exhausted"  # too many wrong guesses at this code
    WRONG = "code_invalid"


@dataclass(frozen=True, slots=True)
class CodeRejected:
    problem: CodeProblem
    attempts_left: int  # guesses left at this code
    locked_until: dt.datetime | None  # set when this failure locked the number


@dataclass(frozen=True, slots=True)
class LoggedIn:
    account: Account


def _ms(d: dt.timedelta) -> int:
    return d // dt.timedelta(milliseconds=1)


class LoginCodes:
    """Issues and redeems login codes under :class:`LoginPolicy`. Cheap; one per process."""

    def __init__(self, engine: Engine, policy: LoginPolicy | None = None) -> None:
        self.engine = engine
        self.policy = policy or LoginPolicy()

    def issue(
        self, phone: str, ip: str, code_hash: bytes, *, now: dt.datetime
    ) -> CodeIssued | Refused:
        """Make ``code_hash`` the number's code, unless a limit refuses it. The caller sends
        the SMS only after this has committed."""
        p = self.policy
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            row = _lock_phone(conn, phone, now_ms)
            _lock_ip(conn, ip, now_ms)
            if row.locked_until_ms > now_ms:
                return Refused(Limit.PHONE_LOCKED, from_ms(row.locked_until_ms))
            sent = row.code_sent_at_ms
            if sent is not None and now_ms < sent + _ms(p.resend_interval):
                return Refused(Limit.RESEND_INTERVAL, from_ms(sent + _ms(p.resend_interval)))
            phone_key, ip_key = f"phone:{phone}", f"ip:{ip}"
            retry = _quota(conn, phone_key, CODE_SENT, p.codes_per_phone, p.phone_window, now_ms)
            if retry is not None:
                return Refused(Limit.PHONE_QUOTA, retry)
            retry = _quota(conn, ip_key, CODE_SENT, p.codes_per_ip, p.ip_window, now_ms)
            if retry is not None:
                return Refused(Limit.IP_CODE_QUOTA, retry)
            conn.execute(
                update(auth_phones)
                .where(auth_phones.c.phone == phone)
                .values(
                    code_hash=code_hash,
                    code_sent_at_ms=now_ms,
                    code_expires_at_ms=now_ms + _ms(p.code_ttl),
                    code_attempts=0,
                    code_used_at_ms=None,
                )
            )
            _record(conn, phone_key, CODE_SENT, now_ms, p.phone_window)
            _record(conn, ip_key, CODE_SENT, now_ms, p.ip_window)
        return CodeIssued(expires_at=now + p.code_ttl, resend_at=now + p.resend_interval)

    def discard(self, phone: str, code_hash: bytes) -> None:
        """Forget a code that could not be delivered. The attempt still counts against the
        limits, so a failing SMS gateway is not hammered."""
        with self.engine.begin() as conn:
            conn.execute(
                update(auth_phones)
                .where(auth_phones.c.phone == phone, auth_phones.c.code_hash == code_hash)
                .values(code_hash=None, code_expires_at_ms=None)
            )

    def purge(self, *, now: dt.datetime) -> int:
        """Forget what no limit looks at any more; how many rows went. Rate-limit events
        older than the longest window; a number's state once its code expired, it is not
        locked and nothing happened to it for a whole window (a stored code hash is kept
        until then, so a late try still hears "expired"); idle client rows."""
        p = self.policy
        window = max(p.phone_window, p.ip_window)
        cutoff = to_ms(now) - _ms(window)
        with self.engine.begin() as conn:
            events = conn.execute(delete(auth_events).where(auth_events.c.at_ms <= cutoff))
            phones = conn.execute(
                delete(auth_phones).where(
                    auth_phones.c.updated_at_ms <= cutoff,
                    auth_phones.c.locked_until_ms <= to_ms(now),
                    auth_phones.c.code_expires_at_ms.is_(None)
                    | (auth_phones.c.code_expires_at_ms <= cutoff),
                )
            )
            clients = conn.execute(
                delete(auth_clients).where(auth_clients.c.updated_at_ms <= cutoff)
            )
        return int(events.rowcount) + int(phones.rowcount) + int(clients.rowcount)

    def redeem(
        self, phone: str, ip: str, code_hash: bytes, *, now: dt.datetime
    ) -> LoggedIn | CodeRejected | Refused:
        """Check a code; on success it is spent and the number's account (created on its
        first login) is returned. Every failure is counted before this returns."""
        p = self.policy
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            row = _lock_phone(conn, phone, now_ms)
            _lock_ip(conn, ip, now_ms)
            if row.locked_until_ms > now_ms:
                return Refused(Limit.PHONE_LOCKED, from_ms(row.locked_until_ms))
            ip_key = f"ip:{ip}"
            retry = _quota(conn, ip_key, LOGIN_FAILED, p.failures_per_ip, p.ip_window, now_ms)
            if retry is not None:
                return Refused(Limit.IP_FAILURE_QUOTA, retry)
            problem = self._check(row, code_hash, now_ms)
            if problem is None:
                conn.execute(
                    update(auth_phones)
                    .where(auth_phones.c.phone == phone)
                    .values(code_used_at_ms=now_ms, failures=0)
                )
                return LoggedIn(login_account(conn, phone, now))
            guessed = 1 if problem is CodeProblem.WRONG else 0
            locking = auth_phones.c.failures + 1 >= p.lockout_after
            after = conn.execute(
                update(auth_phones)
                .where(auth_phones.c.phone == phone)
                .values(
                    code_attempts=auth_phones.c.code_attempts + guessed,
                    locked_until_ms=case(
                        (locking, now_ms + _ms(p.lockout)), else_=auth_phones.c.locked_until_ms
                    ),
                    failures=case((locking, 0), else_=auth_phones.c.failures + 1),
                )
                .returning(auth_phones.c.code_attempts, auth_phones.c.locked_until_ms)
            ).one()
            _record(conn, ip_key, LOGIN_FAILED, now_ms, p.ip_window)
        locked = after.locked_until_ms > now_ms
        return CodeRejected(
            problem=problem,
            attempts_left=max(0, p.attempts_per_code - after.code_attempts)
            if row.code_hash is not None
            else 0,
            locked_until=from_ms(after.locked_until_ms) if locked else None,
        )

    def _check(self, row: Row[Any], code_hash: bytes, now_ms: int) -> CodeProblem | None:
        if row.code_hash is None:
            return CodeProblem.NOT_REQUESTED
        if row.code_used_at_ms is not None:
            return CodeProblem.USED
        if now_ms >= row.code_expires_at_ms:
            return CodeProblem.EXPIRED
        if row.code_attempts >= self.policy.attempts_per_code:
            return CodeProblem.EXHAUSTED
        if not hmac.compare_digest(row.code_hash, code_hash):
            return CodeProblem.WRONG
        return None


def _lock_phone(conn: Connection, phone: str, now_ms: int) -> Row[Any]:
    values = {
        "phone": phone,
        "code_attempts": 0,
        "failures": 0,
        "locked_until_ms": 0,
        "updated_at_ms": now_ms,
    }
    return upsert_returning(conn, auth_phones, values, "phone", {"updated_at_ms": now_ms})


def _lock_ip(conn: Connection, ip: str, now_ms: int) -> None:
    values = {"ip": ip, "updated_at_ms": now_ms}
    upsert_returning(conn, auth_clients, values, "ip", {"updated_at_ms": now_ms})


def _quota(
    conn: Connection, subject: str, kind: str, limit: int, window: dt.timedelta, now_ms: int
) -> dt.datetime | None:
    """None if one more ``kind`` event fits in the window, else when the next one will."""
    since = now_ms - _ms(window)
    recent = conn.execute(
        select(auth_events.c.at_ms)
        .where(
            auth_events.c.subject == subject,
            auth_events.c.kind == kind,
            auth_events.c.at_ms > since,
        )
        .order_by(auth_events.c.at_ms.desc())
        .limit(limit)
    ).all()
    if len(recent) < limit:
        return None
    # The limit-th most recent event leaving the window frees one slot.
    return from_ms(recent[limit - 1].at_ms + _ms(window))


def _record(conn: Connection, subject: str, kind: str, now_ms: int, window: dt.timedelta) -> None:
    conn.execute(insert(auth_events).values(subject=subject, kind=kind, at_ms=now_ms))
    conn.execute(
        delete(auth_events).where(
            auth_events.c.subject == subject,
            auth_events.c.kind == kind,
            auth_events.c.at_ms <= now_ms - _ms(window),
        )
    )
