"""Accounts, sessions and API tokens, and the tables of the login-code limits.

Tables (times are milliseconds since 1970, UTC):

- ``accounts``       one per phone number (E.164), created on the first successful login.
- ``auth_phones``    one per phone number that asked for a code: its current one-time code
                     (an HMAC, never the digits) and that code's wrong guesses. Also the
                     number's lock row (``login_codes``). ``failures`` and ``locked_until_ms``
                     are no longer used (the number lock went in issue 12; always 0).
- ``auth_clients``   one per client IP: the IP's lock row; and the SMS budget's lock row.
- ``auth_events``    when each counted action happened (a code sent to a number, for an IP, to
                     one IP for one number, or at all; a failed login from an IP, or from one
                     IP for one number), for the sliding-window limits and the back-off.
- ``auth_sessions``  browser sessions: SHA-256 of the cookie secret, last activity, absolute
                     expiry, revocation.
- ``api_tokens``     command-line tokens: SHA-256 of the token, its name, scope (``full`` or
                     ``read``), expiry, last use, revocation.

Secrets (session cookies, API tokens) carry 256 random bits, so an unsalted SHA-256 is enough to
make a stolen database useless for logging in; login codes carry only 20 bits and are therefore
keyed with the server secret (see ``timeseal.server.accounts.service``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Row,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from timeseal.store.db import ID_TYPE, StoreError, metadata

accounts = Table(
    "accounts",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("phone", String(16), nullable=False, unique=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_login_at_ms", BigInteger, nullable=False),
)

auth_phones = Table(
    "auth_phones",
    metadata,
    Column("phone", String(16), primary_key=True),
    Column("code_hash", LargeBinary(32), nullable=True),
    Column("code_sent_at_ms", BigInteger, nullable=True),
    Column("code_expires_at_ms", BigInteger, nullable=True),
    Column("code_attempts", Integer, nullable=False),
    Column("code_used_at_ms", BigInteger, nullable=True),
    Column("failures", Integer, nullable=False),  # unused since issue 12: always 0
    Column("locked_until_ms", BigInteger, nullable=False),  # unused since issue 12: always 0
    Column("updated_at_ms", BigInteger, nullable=False),
)

auth_clients = Table(
    "auth_clients",
    metadata,
    Column("ip", String(64), primary_key=True),
    Column("updated_at_ms", BigInteger, nullable=False),
)

auth_events = Table(
    "auth_events",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    # "phone:+86…", "ip:…", "sms" (the SMS budget) or "client:<hash of number and IP>"
    Column("subject", String(80), nullable=False),
    Column("kind", String(16), nullable=False),  # "code_sent" or "login_failed"
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_auth_events_subject_kind_at", "subject", "kind", "at_ms"),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("secret_hash", LargeBinary(32), nullable=False, unique=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_seen_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger, nullable=True),
    Column("ip", String(64), nullable=False),
    Column("user_agent", String(255), nullable=False),
    Index("ix_auth_sessions_account_id", "account_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("secret_hash", LargeBinary(32), nullable=False, unique=True),
    Column("hint", String(8), nullable=False),  # the token's last characters, to tell them apart
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_used_at_ms", BigInteger, nullable=True),
    Column("revoked_at_ms", BigInteger, nullable=True),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("scope", String(8), nullable=False),  # one of TOKEN_SCOPES
    Index("ix_api_tokens_account_id", "account_id"),
)

#: What a token may do: ``full`` everything its account may (but create tokens), ``read`` only
#: safe methods (GET, HEAD, OPTIONS).
TOKEN_SCOPES = ("full", "read")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_ms(t: dt.datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return (t - _EPOCH) // dt.timedelta(milliseconds=1)


def from_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def _ms(d: dt.timedelta) -> int:
    return d // dt.timedelta(milliseconds=1)


_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert_returning(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    key: str,
    on_conflict: Mapping[str, Any],
) -> Row[Any]:
    """INSERT, or UPDATE the row with the same ``key``; return the row as it now is.

    On PostgreSQL the row stays locked until the transaction ends; on SQLite this statement
    takes the database's write lock (when it is the transaction's first), which serialises
    the rest of the transaction in the same way."""
    dialect_insert = _INSERTS.get(conn.dialect.name)
    if dialect_insert is None:  # the store runs on SQLite and PostgreSQL only (DESIGN.md)
        raise StoreError(f"unsupported database {conn.dialect.name!r}: use SQLite or PostgreSQL")
    stmt: Any = (
        dialect_insert(table)
        .values(dict(values))
        .on_conflict_do_update(index_elements=[table.c[key]], set_=dict(on_conflict))
        .returning(*table.c)
    )
    row: Row[Any] = conn.execute(stmt).one()
    return row


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    phone: str  # E.164
    created_at: dt.datetime
    last_login_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    account_id: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime  # absolute; the idle limit is the caller's policy
    ip: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    account_id: int
    name: str
    hint: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime
    scope: str  # one of TOKEN_SCOPES


def _account(row: Row[Any]) -> Account:
    return Account(row.id, row.phone, from_ms(row.created_at_ms), from_ms(row.last_login_at_ms))


def _session(row: Row[Any]) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        account_id=row.account_id,
        created_at=from_ms(row.created_at_ms),
        last_seen_at=from_ms(row.last_seen_at_ms),
        expires_at=from_ms(row.expires_at_ms),
        ip=row.ip,
        user_agent=row.user_agent,
    )


def _token(row: Row[Any]) -> TokenRecord:
    last = row.last_used_at_ms
    return TokenRecord(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        hint=row.hint,
        created_at=from_ms(row.created_at_ms),
        last_used_at=None if last is None else from_ms(last),
        expires_at=from_ms(row.expires_at_ms),
        scope=row.scope,
    )


def new_public_id(prefix: str) -> str:
    """An unguessable id for URLs, e.g. ``ses_3f9c…`` (96 random bits)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def login_account(conn: Connection, phone: str, now: dt.datetime) -> Account:
    """The account of ``phone``, created if this is its first login. The caller holds the
    number's lock row (``login_codes``), so two logins cannot both create it."""
    now_ms = to_ms(now)
    row = conn.execute(
        update(accounts)
        .where(accounts.c.phone == phone)
        .values(last_login_at_ms=now_ms)
        .returning(*accounts.c)
    ).first()
    if row is None:
        row = conn.execute(
            insert(accounts)
            .values(phone=phone, created_at_ms=now_ms, last_login_at_ms=now_ms)
            .returning(*accounts.c)
        ).one()
    return _account(row)


class AccountStore:
    """Reads and writes accounts, sessions and tokens. Cheap; one per process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def account(self, account_id: int) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
        return None if row is None else _account(row)

    # --- sessions -------------------------------------------------------------------------

    def create_session(
        self,
        account_id: int,
        secret_hash: bytes,
        *,
        now: dt.datetime,
        lifetime: dt.timedelta,
        ip: str,
        user_agent: str,
    ) -> SessionRecord:
        now_ms = to_ms(now)
        values = {
            "id": new_public_id("ses"),
            "account_id": account_id,
            "secret_hash": secret_hash,
            "created_at_ms": now_ms,
            "last_seen_at_ms": now_ms,
            "expires_at_ms": now_ms + _ms(lifetime),
            "ip": ip[:64],
            "user_agent": user_agent[:255],
        }
        with self.engine.begin() as conn:
            row = conn.execute(insert(auth_sessions).values(values).returning(*auth_sessions.c))
            return _session(row.one())

    def _live_sessions(self, now: dt.datetime, idle: dt.timedelta) -> Any:
        now_ms = to_ms(now)
        return and_(
            auth_sessions.c.revoked_at_ms.is_(None),
            auth_sessions.c.expires_at_ms > now_ms,
            auth_sessions.c.last_seen_at_ms > now_ms - _ms(idle),
        )

    def session_by_secret(
        self, secret_hash: bytes, *, now: dt.datetime, idle: dt.timedelta
    ) -> tuple[Account, SessionRecord] | None:
        """The live session whose secret hashes to ``secret_hash``, with its account."""
        query = (
            select(
                auth_sessions,
                accounts.c.phone,
                accounts.c.created_at_ms.label("acc_created"),
                accounts.c.last_login_at_ms,
            )
            .join(accounts, accounts.c.id == auth_sessions.c.account_id)
            .where(auth_sessions.c.secret_hash == secret_hash, self._live_sessions(now, idle))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        account = Account(
            row.account_id, row.phone, from_ms(row.acc_created), from_ms(row.last_login_at_ms)
        )
        return account, _session(row)

    def touch_session(self, session_id: str, *, now: dt.datetime, every: dt.timedelta) -> None:
        """Record activity, at most once per ``every`` (a conditional UPDATE, no read)."""
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            conn.execute(
                update(auth_sessions)
                .where(
                    auth_sessions.c.id == session_id,
                    auth_sessions.c.last_seen_at_ms <= now_ms - _ms(every),
                )
                .values(last_seen_at_ms=now_ms)
            )

    def sessions(
        self, account_id: int, *, now: dt.datetime, idle: dt.timedelta
    ) -> list[SessionRecord]:
        query = (
            select(auth_sessions)
            .where(auth_sessions.c.account_id == account_id, self._live_sessions(now, idle))
            .order_by(auth_sessions.c.created_at_ms, auth_sessions.c.id)
        )
        with self.engine.connect() as conn:
            return [_session(row) for row in conn.execute(query)]

    def purge_sessions(self, *, now: dt.datetime, idle: dt.timedelta, grace: dt.timedelta) -> int:
        """Delete sessions that ended (revoked, past their lifetime, or idle) at least
        ``grace`` ago; how many. They can never be used or listed again."""
        cutoff = to_ms(now) - _ms(grace)
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(auth_sessions).where(
                    (auth_sessions.c.revoked_at_ms <= cutoff)
                    | (auth_sessions.c.expires_at_ms <= cutoff)
                    | (auth_sessions.c.last_seen_at_ms <= cutoff - _ms(idle))
                )
            )
        return int(result.rowcount)

    def revoke_session(self, account_id: int, session_id: str, *, now: dt.datetime) -> bool:
        """Revoke one of the account's sessions; False if it has no such live session."""
        return self._revoke(auth_sessions, account_id, session_id, now)

    def _revoke(self, table: Table, account_id: int, row_id: str, now: dt.datetime) -> bool:
        """Revoke the account's not-yet-revoked row ``row_id`` (a session or a token)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(
                    table.c.id == row_id,
                    table.c.account_id == account_id,
                    table.c.revoked_at_ms.is_(None),
                )
                .values(revoked_at_ms=to_ms(now))
            )
            return result.rowcount == 1

    def revoke_sessions(self, account_id: int, *, now: dt.datetime, keep: str | None) -> int:
        """Revoke all the account's sessions except ``keep``; return how many."""
        where = [auth_sessions.c.account_id == account_id, auth_sessions.c.revoked_at_ms.is_(None)]
        if keep is not None:
            where.append(auth_sessions.c.id != keep)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(auth_sessions).where(*where).values(revoked_at_ms=to_ms(now))
            )
            return int(result.rowcount)

    # --- API tokens -----------------------------------------------------------------------

    def create_token(
        self,
        account_id: int,
        name: str,
        secret_hash: bytes,
        hint: str,
        *,
        now: dt.datetime,
        expires_at: dt.datetime,
        scope: str,
    ) -> TokenRecord:
        if scope not in TOKEN_SCOPES:
            raise ValueError(f"token scope must be one of {', '.join(TOKEN_SCOPES)}")
        if expires_at <= now:
            raise ValueError("a token must expire after it is created")
        values = {
            "id": new_public_id("tok"),
            "account_id": account_id,
            "name": name,
            "secret_hash": secret_hash,
            "hint": hint,
            "created_at_ms": to_ms(now),
            "expires_at_ms": to_ms(expires_at),
            "scope": scope,
        }
        with self.engine.begin() as conn:
            row = conn.execute(insert(api_tokens).values(values).returning(*api_tokens.c))
            return _token(row.one())

    def token_by_secret(
        self, secret_hash: bytes, *, now: dt.datetime
    ) -> tuple[Account, TokenRecord] | None:
        """The live (not revoked, not expired) token whose secret hashes to ``secret_hash``,
        with its account."""
        query = (
            select(
                api_tokens,
                accounts.c.phone,
                accounts.c.created_at_ms.label("acc_created"),
                accounts.c.last_login_at_ms,
            )
            .join(accounts, accounts.c.id == api_tokens.c.account_id)
            .where(
                api_tokens.c.secret_hash == secret_hash,
                api_tokens.c.revoked_at_ms.is_(None),
                api_tokens.c.expires_at_ms > to_ms(now),
            )
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        account = Account(
            row.account_id, row.phone, from_ms(row.acc_created), from_ms(row.last_login_at_ms)
        )
        return account, _token(row)

    def touch_token(self, token_id: str, *, now: dt.datetime, every: dt.timedelta) -> None:
        now_ms = to_ms(now)
        last = api_tokens.c.last_used_at_ms
        with self.engine.begin() as conn:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id)
                .where(last.is_(None) | (last <= now_ms - _ms(every)))
                .values(last_used_at_ms=now_ms)
            )

    def tokens(self, account_id: int, *, now: dt.datetime) -> list[TokenRecord]:
        """The account's live tokens (neither revoked nor expired), oldest first."""
        query = (
            select(api_tokens)
            .where(
                api_tokens.c.account_id == account_id,
                api_tokens.c.revoked_at_ms.is_(None),
                api_tokens.c.expires_at_ms > to_ms(now),
            )
            .order_by(api_tokens.c.created_at_ms, api_tokens.c.id)
        )
        with self.engine.connect() as conn:
            return [_token(row) for row in conn.execute(query)]

    def revoke_token(self, account_id: int, token_id: str, *, now: dt.datetime) -> bool:
        return self._revoke(api_tokens, account_id, token_id, now)
