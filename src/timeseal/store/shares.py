"""Read-only share links: an owner lets someone without an account (a lawyer, a mediator, a
court) see one evidence item, or one case with its items, until a deadline.

Table::

    evidence_shares     one link: owner, what it shares (``scope`` + target), SHA-256 of the
                        link token (the token itself is shown once, at creation), optional
                        access code (scrypt, per-link salt), expiry, revocation, and the
                        access-code failure window used for rate limiting

``scope`` says what the link shares: ``"evidence"`` with ``record_id`` naming the item, or
``"case"`` with ``case_id`` naming the case (whose items the link shows as they are when it is
opened).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    insert,
    select,
    update,
)

from timeseal.store.db import ID_TYPE, metadata
from timeseal.store.evidence import from_ms, to_ms

#: scrypt parameters for access codes (RFC 7914; 16 MiB, tens of milliseconds).
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}

evidence_shares = Table(
    "evidence_shares",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("owner_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("scope", String(16), nullable=False),  # "evidence" or "case"
    Column("record_id", ID_TYPE, ForeignKey("evidence_records.id"), nullable=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("token_hint", String(8), nullable=False),  # last characters, for the owner's list
    Column("label", String(100), nullable=False),
    Column("code_salt", LargeBinary(16), nullable=True),
    Column("code_hash", LargeBinary(32), nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger, nullable=True),
    Column("code_failures", Integer, nullable=False),
    Column("code_window_ms", BigInteger, nullable=False),  # start of the failure window
    Column("case_id", ID_TYPE, ForeignKey("evidence_cases.id"), nullable=True),  # scope "case"
    Index("ix_evidence_shares_owner_record", "owner_id", "record_id"),
    Index("ix_evidence_shares_owner_case", "owner_id", "case_id"),
)


@dataclass(frozen=True, slots=True)
class ShareLink:
    id: int
    owner_id: int
    scope: str
    record_id: int | None
    case_id: int | None
    token_hint: str
    label: str
    has_code: bool
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    code_failures: int
    code_window_start: dt.datetime

    def active(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _code_hash(code: str, salt: bytes) -> bytes:
    return hashlib.scrypt(code.encode(), salt=salt, **_SCRYPT)


def _share(row: Any) -> ShareLink:
    return ShareLink(
        id=int(row.id),
        owner_id=int(row.owner_id),
        scope=row.scope,
        record_id=None if row.record_id is None else int(row.record_id),
        case_id=None if row.case_id is None else int(row.case_id),
        token_hint=row.token_hint,
        label=row.label,
        has_code=row.code_hash is not None,
        created_at=from_ms(int(row.created_at_ms)),
        expires_at=from_ms(int(row.expires_at_ms)),
        revoked_at=None if row.revoked_at_ms is None else from_ms(int(row.revoked_at_ms)),
        code_failures=int(row.code_failures),
        code_window_start=from_ms(int(row.code_window_ms)),
    )


class ShareStore:
    """Share links on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        *,
        owner_id: int,
        record_id: int | None = None,
        case_id: int | None = None,
        label: str,
        code: str | None,
        now: dt.datetime,
        expires_at: dt.datetime,
    ) -> tuple[ShareLink, str]:
        """A new link for one evidence record or one case (exactly one of ``record_id`` and
        ``case_id``); the link and its token (256 random bits), which is not stored and cannot
        be shown again."""
        if (record_id is None) == (case_id is None):
            raise ValueError("a link shares one record or one case")
        token = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16) if code is not None else None
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(evidence_shares).values(
                    owner_id=owner_id,
                    scope="evidence" if case_id is None else "case",
                    record_id=record_id,
                    case_id=case_id,
                    token_hash=token_hash(token),
                    token_hint=token[-4:],
                    label=label,
                    code_salt=salt,
                    code_hash=None if code is None or salt is None else _code_hash(code, salt),
                    created_at_ms=to_ms(now),
                    expires_at_ms=to_ms(expires_at),
                    revoked_at_ms=None,
                    code_failures=0,
                    code_window_ms=to_ms(now),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            share_id = int(key[0])
        share = self.get(share_id)
        assert share is not None
        return share, token

    def get(self, share_id: int) -> ShareLink | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(evidence_shares).where(evidence_shares.c.id == share_id)
            ).one_or_none()
        return None if row is None else _share(row)

    def by_token(self, token: str) -> ShareLink | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(evidence_shares).where(evidence_shares.c.token_hash == token_hash(token))
            ).one_or_none()
        return None if row is None else _share(row)

    def for_record(self, owner_id: int, record_id: int) -> list[ShareLink]:
        """The owner's links to one record, oldest first (revoked ones included)."""
        return self._links(owner_id, evidence_shares.c.record_id == record_id)

    def for_case(self, owner_id: int, case_id: int) -> list[ShareLink]:
        """The owner's links to one case, oldest first (revoked ones included)."""
        return self._links(owner_id, evidence_shares.c.case_id == case_id)

    def _links(self, owner_id: int, target: Any) -> list[ShareLink]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(evidence_shares)
                .where((evidence_shares.c.owner_id == owner_id) & target)
                .order_by(evidence_shares.c.id)
            ).all()
        return [_share(r) for r in rows]

    def revoke(self, share_id: int, *, now: dt.datetime) -> None:
        """Revoke a link (once; revoking again keeps the first time)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(evidence_shares)
                .where(
                    (evidence_shares.c.id == share_id) & evidence_shares.c.revoked_at_ms.is_(None)
                )
                .values(revoked_at_ms=to_ms(now))
            )

    def check_code(self, share_id: int, code: str) -> bool:
        """Whether ``code`` is the link's access code (constant-time compare)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(evidence_shares.c.code_salt, evidence_shares.c.code_hash).where(
                    evidence_shares.c.id == share_id
                )
            ).one_or_none()
        if row is None or row.code_hash is None:
            return False
        return hmac.compare_digest(_code_hash(code, bytes(row.code_salt)), bytes(row.code_hash))

    def note_failure(self, share_id: int, *, now: dt.datetime, window: dt.timedelta) -> int:
        """Count a wrong code in the current window (a new window once the old one is over);
        the failures in the window after this one."""
        now_ms = to_ms(now)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(evidence_shares.c.code_failures, evidence_shares.c.code_window_ms)
                .where(evidence_shares.c.id == share_id)
                .with_for_update()
            ).one()
            if now_ms - int(row.code_window_ms) >= window.total_seconds() * 1000:
                failures, start = 1, now_ms
            else:
                failures, start = int(row.code_failures) + 1, int(row.code_window_ms)
            conn.execute(
                update(evidence_shares)
                .where(evidence_shares.c.id == share_id)
                .values(code_failures=failures, code_window_ms=start)
            )
        return failures
