"""The account store: accounts, browser sessions and API tokens.

Secrets (session cookies, API tokens) carry 256 random bits, so an unsalted SHA-256 is enough to
make a stolen database useless for logging in (see :mod:`timeseal.store.accounts.tables`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, Table, and_, delete, insert, select, update

from timeseal.store.accounts.records import (
    Account,
    SessionRecord,
    TokenRecord,
    account_from_row,
    duration_ms,
    new_public_id,
    session_from_row,
    token_from_row,
)
from timeseal.store.accounts.tables import TOKEN_SCOPES, accounts, api_tokens, auth_sessions
from timeseal.store.db import from_ms, to_ms


class AccountStore:
    """Reads and writes accounts, sessions and tokens. Cheap; one per process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def account(self, account_id: int) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
        return None if row is None else account_from_row(row)

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
            "expires_at_ms": now_ms + duration_ms(lifetime),
            "ip": ip[:64],
            "user_agent": user_agent[:255],
        }
        with self.engine.begin() as conn:
            row = conn.execute(insert(auth_sessions).values(values).returning(*auth_sessions.c))
            return session_from_row(row.one())

    def _live_sessions(self, now: dt.datetime, idle: dt.timedelta) -> Any:
        now_ms = to_ms(now)
        return and_(
            auth_sessions.c.revoked_at_ms.is_(None),
            auth_sessions.c.expires_at_ms > now_ms,
            auth_sessions.c.last_seen_at_ms > now_ms - duration_ms(idle),
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
        return account, session_from_row(row)

    def touch_session(self, session_id: str, *, now: dt.datetime, every: dt.timedelta) -> None:
        """Record activity, at most once per ``every`` (a conditional UPDATE, no read)."""
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            conn.execute(
                update(auth_sessions)
                .where(
                    auth_sessions.c.id == session_id,
                    auth_sessions.c.last_seen_at_ms <= now_ms - duration_ms(every),
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
            return [session_from_row(row) for row in conn.execute(query)]

    def purge_sessions(self, *, now: dt.datetime, idle: dt.timedelta, grace: dt.timedelta) -> int:
        """Delete sessions that ended (revoked, past their lifetime, or idle) at least
        ``grace`` ago; how many. They can never be used or listed again."""
        cutoff = to_ms(now) - duration_ms(grace)
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(auth_sessions).where(
                    (auth_sessions.c.revoked_at_ms <= cutoff)
                    | (auth_sessions.c.expires_at_ms <= cutoff)
                    | (auth_sessions.c.last_seen_at_ms <= cutoff - duration_ms(idle))
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
            return token_from_row(row.one())

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
        return account, token_from_row(row)

    def touch_token(self, token_id: str, *, now: dt.datetime, every: dt.timedelta) -> None:
        now_ms = to_ms(now)
        last = api_tokens.c.last_used_at_ms
        with self.engine.begin() as conn:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id)
                .where(last.is_(None) | (last <= now_ms - duration_ms(every)))
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
            return [token_from_row(row) for row in conn.execute(query)]

    def revoke_token(self, account_id: int, token_id: str, *, now: dt.datetime) -> bool:
        return self._revoke(api_tokens, account_id, token_id, now)
