"""One-time login codes and their limits, enforced in the database.

Every decision here reads some state and then writes depending on it (how many codes went out
in the last day, is this code right). Each runs in one transaction whose first statement is an
upsert of the phone number's lock row in ``auth_phones`` and whose second is an upsert of the
client IP's row in ``auth_clients`` (:func:`~timeseal.store.accounts.records.upsert_returning`);
sending a code then takes the SMS budget's row (``auth_clients`` under :data:`BUDGET_ROW`). On
PostgreSQL those rows stay locked until commit; on SQLite the first write takes the database's
only write lock. So any other server process deciding for the same number or IP waits, then
sees the committed outcome: two requests can never both take the last slot of a limit, and a
guess at a live code can never escape being counted. The locks are always taken number first,
then IP, then budget, so transactions never wait in a cycle.

Codes live in ``login_codes``, one per (number, client): a client is the number and the IP
together, or the number and a known device (``known_device``: an id of a device the caller
checked logged in with this number before). So a stranger behind the owner's NAT cannot spend
the device's quota, and a leaked device id gets ``codes_per_client`` a day however many IPs
use it.

Limits (:class:`~timeseal.store.login_policy.LoginPolicy`, sliding windows):

1. one client gets one code per ``resend_interval`` and ``codes_per_client`` per
   ``phone_window`` for a number; the number gets ``codes_per_phone`` per ``phone_window`` from
   all clients together, except known devices, which that cap neither refuses nor counts. So
   a stranger asking for codes for someone else's number spends only their own client's
   quota, many strangers together bound the SMS a number can receive, and none of them can
   spend what the owner's device needs;
2. a number holds at most ``live_codes_per_phone`` live codes at once (more than
   ``codes_per_phone``, so strangers' codes alone never fill it);
3. ``codes_per_ip`` codes and ``failures_per_ip`` failed logins per IP per ``ip_window``;
4. ``sms_budget`` codes per ``sms_budget_window`` in all, whoever asks for whichever number, so
   that SMS bombing across many numbers (and the bill) is bounded;
5. a code is valid for ``code_ttl``, once, for ``attempts_per_code`` wrong guesses (then it is
   burned and its owner asks for a new one). A client's new code replaces only that client's
   previous one: a code request never invalidates another client's code (issue 12: a stranger
   asking for the owner's number used to replace the code the owner was about to type);
6. one client (number and IP together) that got a code wrong while the number had a live
   one ``free_failures`` times waits ``backoff_base`` before its next try, twice as long after
   each further failure, at most ``backoff_cap``; a success, or ``client_window`` without
   failures, forgets them.

A code typed is checked against every code of the number (the owner may ask on one network
and type it on another); only the matching one is spent. A wrong guess at a number with live
codes takes one attempt off each of them, so every code still gets at most
``attempts_per_code`` guesses, however many codes the number holds.

There is no lock of the number itself: whoever can make a number's login fail must not be able
to keep its owner out (issue 12). Only guesses at a number with a live code count as failures;
a code for a number that has none (never asked, expired, used, burned) is answered as a wrong
code and changes nothing, so a stranger's guesses cannot lock, throttle or even create a row
for a number. A stranger guessing at the owner's live code backs off on their own (number, IP)
pair, not the owner's, and can burn the live codes quickly only once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, delete, func, insert, select, update

from timeseal.store.accounts.records import login_account, upsert_returning
from timeseal.store.accounts.tables import auth_clients, auth_events, auth_phones, login_codes
from timeseal.store.db import from_ms, to_ms
from timeseal.store.login_policy import (
    CodeIssued,
    CodeProblem,
    CodeRejected,
    Limit,
    LoggedIn,
    LoginPolicy,
    Refused,
)

CODE_SENT = "code_sent"
LOGIN_FAILED = "login_failed"
#: The ``auth_clients`` row every code sent locks, so the SMS budget is never overdrawn by a
#: race (not an IP: an IP has no space or parentheses).
BUDGET_ROW = "(sms budget)"
BUDGET_SUBJECT = "sms"


def _ms(d: dt.timedelta) -> int:
    return d // dt.timedelta(milliseconds=1)


def client_subject(phone: str, ip: str) -> str:
    """The ``auth_events`` subject of one client asking for or trying one number (hashed: it
    has to fit the column, and the table need not spell out who tried which number)."""
    digest = hashlib.sha256(f"{phone}\0{ip}".encode()).hexdigest()[:32]
    return f"client:{digest}"


class LoginCodes:
    """Issues and redeems login codes under :class:`LoginPolicy`. Cheap; one per process."""

    def __init__(self, engine: Engine, policy: LoginPolicy | None = None) -> None:
        self.engine = engine
        self.policy = policy or LoginPolicy()

    def issue(
        self,
        phone: str,
        ip: str,
        code_hash: bytes,
        *,
        now: dt.datetime,
        known_device: str | None = None,
    ) -> CodeIssued | Refused:
        """Make ``code_hash`` this client's code for the number (replacing the client's
        previous one, no other client's), unless a limit refuses it. The caller sends the SMS
        only after this has committed. ``known_device``: an id of a device the caller has
        checked proved it holds the number before; its per-client limits count for that
        device instead of the IP, and the number's overall cap (which strangers may have
        spent) neither applies to it nor counts it."""
        p = self.policy
        now_ms = to_ms(now)
        client = ip if known_device is None else f"device {known_device}"
        with self.engine.begin() as conn:
            _lock_phone(conn, phone, now_ms)
            _lock_ip(conn, ip, now_ms)
            pair_key, phone_key, ip_key = (
                client_subject(phone, client),
                f"phone:{phone}",
                f"ip:{ip}",
            )
            refused = self._sending_refused(
                conn, phone, pair_key, phone_key if known_device is None else None, ip_key, now_ms
            )
            if refused is not None:
                return refused
            code_key = (login_codes.c.phone == phone) & (login_codes.c.client_key == pair_key)
            conn.execute(delete(login_codes).where(code_key))
            conn.execute(
                insert(login_codes).values(
                    phone=phone,
                    client_key=pair_key,
                    code_hash=code_hash,
                    sent_at_ms=now_ms,
                    expires_at_ms=now_ms + _ms(p.code_ttl),
                    attempts=0,
                    used_at_ms=None,
                )
            )
            _record(conn, pair_key, CODE_SENT, now_ms, p.phone_window)
            if known_device is None:
                _record(conn, phone_key, CODE_SENT, now_ms, p.phone_window)
            _record(conn, ip_key, CODE_SENT, now_ms, p.ip_window)
            _record(conn, BUDGET_SUBJECT, CODE_SENT, now_ms, p.sms_budget_window)
        return CodeIssued(expires_at=now + p.code_ttl, resend_at=now + p.resend_interval)

    def _sending_refused(
        self,
        conn: Connection,
        phone: str,
        pair_key: str,
        phone_key: str | None,
        ip_key: str,
        now_ms: int,
    ) -> Refused | None:
        """The first limit that refuses one more code, in the module docstring's order; None
        if none does. ``phone_key`` None: the number's overall cap neither applies nor counts
        (a known device). Takes the SMS budget's lock row last, once the others allow it."""
        p = self.policy
        quotas = [
            (pair_key, 1, p.resend_interval, Limit.RESEND_INTERVAL),
            (pair_key, p.codes_per_client, p.phone_window, Limit.CLIENT_CODE_QUOTA),
        ]
        if phone_key is not None:
            quotas.append((phone_key, p.codes_per_phone, p.phone_window, Limit.PHONE_QUOTA))
        quotas.append((ip_key, p.codes_per_ip, p.ip_window, Limit.IP_CODE_QUOTA))
        for subject, count, window, limit in quotas:
            retry = _quota(conn, subject, CODE_SENT, count, window, now_ms)
            if retry is not None:
                return Refused(limit, retry)
        # The client's own code is replaced, so only the other clients' live codes count.
        others, first_expiry = conn.execute(
            select(func.count(), func.min(login_codes.c.expires_at_ms)).where(
                login_codes.c.phone == phone,
                login_codes.c.client_key != pair_key,
                self._live(now_ms),
            )
        ).one()
        if others >= p.live_codes_per_phone:
            return Refused(Limit.LIVE_CODES, from_ms(int(first_expiry)))
        _lock_ip(conn, BUDGET_ROW, now_ms)
        retry = _quota(conn, BUDGET_SUBJECT, CODE_SENT, p.sms_budget, p.sms_budget_window, now_ms)
        return None if retry is None else Refused(Limit.SMS_BUDGET, retry)

    def discard(self, phone: str, code_hash: bytes) -> None:
        """Forget a code that could not be delivered (that code only: the number's other
        codes stay). The attempt still counts against the limits, so a failing SMS gateway is
        not hammered."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(login_codes).where(
                    login_codes.c.phone == phone, login_codes.c.code_hash == code_hash
                )
            )

    def purge(self, *, now: dt.datetime) -> int:
        """Forget what no limit looks at any more; how many rows went. Rate-limit events
        older than the longest window; codes that expired a whole window ago (a code is kept
        until then, so a late try with it still hears "expired" or "used"); a number's lock
        row once it has no code left and nothing happened to it for a whole window; idle
        client rows."""
        cutoff = to_ms(now) - _ms(self.policy.longest_window)
        with self.engine.begin() as conn:
            events = conn.execute(delete(auth_events).where(auth_events.c.at_ms <= cutoff))
            codes = conn.execute(delete(login_codes).where(login_codes.c.expires_at_ms <= cutoff))
            has_code = select(login_codes.c.id).where(login_codes.c.phone == auth_phones.c.phone)
            phones = conn.execute(
                delete(auth_phones).where(auth_phones.c.updated_at_ms <= cutoff, ~has_code.exists())
            )
            clients = conn.execute(
                delete(auth_clients).where(auth_clients.c.updated_at_ms <= cutoff)
            )
        gone = (events, codes, phones, clients)
        return sum(int(result.rowcount) for result in gone)

    def redeem(
        self, phone: str, ip: str, code_hash: bytes, *, now: dt.datetime
    ) -> LoggedIn | CodeRejected | Refused:
        """Check a code against every code of the number; on success that code (only) is
        spent and the number's account (created on its first login) is returned. A wrong
        guess at a number with a live code is counted before this returns; anything else
        changes nothing.

        First a read without locks: a client that must wait is refused, and a code that
        cannot be a guess at a live one is answered, both without writing. Only then are the
        rows locked and everything decided again (a code may have been issued, used or
        burned in between)."""
        now_ms = to_ms(now)
        with self.engine.connect() as conn:
            refused = self._client_refused(conn, phone, ip, now_ms)
            if refused is not None:
                return refused
            checked = self._check(_codes_of(conn, phone), code_hash, now_ms)
        if isinstance(checked, CodeProblem) and checked is not CodeProblem.WRONG:
            return CodeRejected(checked, None)
        with self.engine.begin() as conn:
            _lock_phone(conn, phone, now_ms)
            _lock_ip(conn, ip, now_ms)
            refused = self._client_refused(conn, phone, ip, now_ms)
            if refused is not None:
                return refused
            checked = self._check(_codes_of(conn, phone), code_hash, now_ms)
            client_key = client_subject(phone, ip)
            if not isinstance(checked, CodeProblem):
                spend = update(login_codes).where(login_codes.c.id == checked.id)
                conn.execute(spend.values(used_at_ms=now_ms))
                conn.execute(
                    delete(auth_events).where(
                        auth_events.c.subject == client_key, auth_events.c.kind == LOGIN_FAILED
                    )
                )
                return LoggedIn(login_account(conn, phone, now))
            if checked is not CodeProblem.WRONG:
                return CodeRejected(checked, None)
            return self._count_wrong_guess(conn, phone, ip, client_key, now_ms)

    def _count_wrong_guess(
        self, conn: Connection, phone: str, ip: str, client_key: str, now_ms: int
    ) -> CodeRejected:
        """A wrong guess at a number with live codes: one attempt off each of them, one
        failure for the IP and for the (number, IP) back-off."""
        p = self.policy
        attempts = (
            conn.execute(
                update(login_codes)
                .where(login_codes.c.phone == phone, self._live(now_ms))
                .values(attempts=login_codes.c.attempts + 1)
                .returning(login_codes.c.attempts)
            )
            .scalars()
            .all()
        )
        _record(conn, f"ip:{ip}", LOGIN_FAILED, now_ms, p.ip_window)
        _record(conn, client_key, LOGIN_FAILED, now_ms, p.client_window)
        left = max((p.attempts_per_code - a for a in attempts), default=0)
        return CodeRejected(CodeProblem.WRONG, max(0, left))

    def _client_refused(self, conn: Connection, phone: str, ip: str, now_ms: int) -> Refused | None:
        """The IP's failure quota, then this (number, IP)'s back-off."""
        p = self.policy
        retry = _quota(conn, f"ip:{ip}", LOGIN_FAILED, p.failures_per_ip, p.ip_window, now_ms)
        if retry is not None:
            return Refused(Limit.IP_FAILURE_QUOTA, retry)
        since = now_ms - _ms(p.client_window)
        failures, last_ms = conn.execute(
            select(func.count(), func.max(auth_events.c.at_ms)).where(
                auth_events.c.subject == client_subject(phone, ip),
                auth_events.c.kind == LOGIN_FAILED,
                auth_events.c.at_ms > since,
            )
        ).one()
        if not failures:
            return None
        until_ms = int(last_ms) + _ms(p.backoff(int(failures)))
        return Refused(Limit.CLIENT_BACKOFF, from_ms(until_ms)) if now_ms < until_ms else None

    def _live(self, now_ms: int) -> ColumnElement[bool]:
        """The condition on ``login_codes`` of a live code: not used, expired or burned."""
        c = login_codes.c
        live = c.used_at_ms.is_(None) & (c.expires_at_ms > now_ms)
        return live & (c.attempts < self.policy.attempts_per_code)

    def _state(self, row: Row[Any], now_ms: int) -> CodeProblem | None:
        """None for a live code, else why it is not (as told to whoever typed it)."""
        if row.used_at_ms is not None:
            return CodeProblem.USED
        if now_ms >= row.expires_at_ms:
            return CodeProblem.EXPIRED
        if row.attempts >= self.policy.attempts_per_code:
            return CodeProblem.EXHAUSTED
        return None

    def _check(
        self, rows: Sequence[Row[Any]], code_hash: bytes, now_ms: int
    ) -> Row[Any] | CodeProblem:
        """The code's row if ``code_hash`` is a live code of the number; else what is
        wrong: the state of the very code typed, a wrong guess (the number has a live code),
        or no live code to guess at."""
        typed = [
            (row, self._state(row, now_ms))
            for row in rows
            if hmac.compare_digest(row.code_hash, code_hash)
        ]
        for row, state in typed:
            if state is None:
                return row
        for _, state in typed:  # the very code typed, but no longer live
            if state is not None:
                return state
        if any(self._state(row, now_ms) is None for row in rows):
            return CodeProblem.WRONG
        return CodeProblem.NO_LIVE_CODE


def _codes_of(conn: Connection, phone: str) -> Sequence[Row[Any]]:
    """Every code of the number still stored (one per client: bounded by the send limits)."""
    return conn.execute(select(login_codes).where(login_codes.c.phone == phone)).all()


def _lock_phone(conn: Connection, phone: str, now_ms: int) -> None:
    values = {"phone": phone, "updated_at_ms": now_ms}
    upsert_returning(conn, auth_phones, values, "phone", {"updated_at_ms": now_ms})


def _lock_ip(conn: Connection, ip: str, now_ms: int) -> None:
    values = {"ip": ip, "updated_at_ms": now_ms}
    upsert_returning(conn, auth_clients, values, "ip", {"updated_at_ms": now_ms})


def _quota(
    conn: Connection, subject: str, kind: str, limit: int, window: dt.timedelta, now_ms: int
) -> dt.datetime | None:
    """None if one more ``kind`` event fits in the window, else when the next one will."""
    since = now_ms - _ms(window)
    # The limit-th most recent event in the window, if there is one: its leaving the window
    # frees a slot. One row, however large the limit (the SMS budget's is in the hundreds).
    oldest_counted = conn.execute(
        select(auth_events.c.at_ms)
        .where(
            auth_events.c.subject == subject,
            auth_events.c.kind == kind,
            auth_events.c.at_ms > since,
        )
        .order_by(auth_events.c.at_ms.desc())
        .offset(limit - 1)
        .limit(1)
    ).scalar()
    if oldest_counted is None:
        return None
    return from_ms(int(oldest_counted) + _ms(window))


def _record(conn: Connection, subject: str, kind: str, now_ms: int, window: dt.timedelta) -> None:
    conn.execute(insert(auth_events).values(subject=subject, kind=kind, at_ms=now_ms))
    conn.execute(
        delete(auth_events).where(
            auth_events.c.subject == subject,
            auth_events.c.kind == kind,
            auth_events.c.at_ms <= now_ms - _ms(window),
        )
    )
