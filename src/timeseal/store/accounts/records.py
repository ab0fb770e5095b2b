"""What the account store hands back (accounts, sessions, tokens), and what the login code
shares with it: times in milliseconds, the upsert that locks a row, public ids, first login."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Table, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from timeseal.store.accounts.tables import accounts
from timeseal.store.db import StoreError, from_ms, to_ms


def duration_ms(d: dt.timedelta) -> int:
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


def account_from_row(row: Row[Any]) -> Account:
    return Account(row.id, row.phone, from_ms(row.created_at_ms), from_ms(row.last_login_at_ms))


def session_from_row(row: Row[Any]) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        account_id=row.account_id,
        created_at=from_ms(row.created_at_ms),
        last_seen_at=from_ms(row.last_seen_at_ms),
        expires_at=from_ms(row.expires_at_ms),
        ip=row.ip,
        user_agent=row.user_agent,
    )


def token_from_row(row: Row[Any]) -> TokenRecord:
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
    return account_from_row(row)
