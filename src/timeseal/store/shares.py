"""Read-only share links: an owner lets someone without an account (a lawyer, a mediator, a
court) see one evidence item, or one case with its items, until a deadline.

Tables::

    evidence_shares     one link: owner, what it shares (``scope`` + target), SHA-256 of the
                        link token (the token itself is shown once, at creation), optional
                        access code (scrypt, per-link salt), expiry, revocation, and whether
                        it shares IP addresses and exact locations (``show_ip_location``)
    share_code_failures wrong access codes per link and client (an IPv4 address or an IPv6
                        /64): how many in a row, the last one, and until when the client waits

``scope`` says what the link shares: ``"evidence"`` with ``record_id`` naming the item, or
``"case"`` with ``case_id`` naming the case (whose items the link shows as they are when it is
opened).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from sqlalchemy.exc import IntegrityError

from timeseal.store.db import ID_TYPE, from_ms, metadata, to_ms

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
    Column("case_id", ID_TYPE, ForeignKey("evidence_cases.id"), nullable=True),  # scope "case"
    Column("show_ip_location", Boolean, nullable=False),
    Index("ix_evidence_shares_owner_record", "owner_id", "record_id"),
    Index("ix_evidence_shares_owner_case", "owner_id", "case_id"),
)

share_code_failures = Table(
    "share_code_failures",
    metadata,
    Column("share_id", ID_TYPE, ForeignKey("evidence_shares.id"), primary_key=True),
    Column("client", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),  # wrong codes in a row
    Column("last_failure_ms", BigInteger, nullable=False),
    Column("blocked_until_ms", BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class CodeFailures:
    """A client's run of wrong codes for one link; ``blocked_until`` is when it may try again."""

    failures: int
    last_failure: dt.datetime
    blocked_until: dt.datetime


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
    show_ip_location: bool = False  # the owner opted in to sharing IPs and exact locations

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
        show_ip_location=bool(row.show_ip_location),
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
        show_ip_location: bool = False,
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
                    show_ip_location=show_ip_location,
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

    def code_failures(self, share_id: int, client: str) -> CodeFailures | None:
        """``client``'s current run of wrong codes for the link, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(share_code_failures).where(
                    (share_code_failures.c.share_id == share_id)
                    & (share_code_failures.c.client == client)
                )
            ).one_or_none()
        return None if row is None else _failures(row)

    def note_failure(
        self,
        share_id: int,
        client: str,
        *,
        now: dt.datetime,
        forget_after: dt.timedelta,
        wait: Callable[[int], dt.timedelta],
    ) -> CodeFailures:
        """Count a wrong code from ``client`` (a run older than ``forget_after`` starts over);
        ``wait(failures)`` is how long the client then waits (a ``timedelta``)."""
        now_ms = to_ms(now)
        key = (share_code_failures.c.share_id == share_id) & (
            share_code_failures.c.client == client
        )
        for _ in range(3):  # a concurrent first failure of the same client: read it again
            try:
                with self.engine.begin() as conn:
                    row = conn.execute(
                        select(share_code_failures).where(key).with_for_update()
                    ).one_or_none()
                    failures = 1
                    if row is not None and now_ms - int(row.last_failure_ms) < _ms(forget_after):
                        failures = int(row.failures) + 1
                    blocked_until_ms = now_ms + _ms(wait(failures))
                    values = {
                        "failures": failures,
                        "last_failure_ms": now_ms,
                        "blocked_until_ms": blocked_until_ms,
                    }
                    if row is None:
                        conn.execute(
                            insert(share_code_failures).values(
                                share_id=share_id, client=client, **values
                            )
                        )
                    else:
                        conn.execute(update(share_code_failures).where(key).values(**values))
            except IntegrityError:
                continue
            return CodeFailures(failures, from_ms(now_ms), from_ms(blocked_until_ms))
        raise AssertionError("share_code_failures: the row neither exists nor can be inserted")

    def forget_failures(self, share_id: int, client: str) -> None:
        """The client gave the right code: its run of wrong ones is over."""
        with self.engine.begin() as conn:
            conn.execute(
                share_code_failures.delete().where(
                    (share_code_failures.c.share_id == share_id)
                    & (share_code_failures.c.client == client)
                )
            )


def _ms(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _failures(row: Any) -> CodeFailures:
    return CodeFailures(
        failures=int(row.failures),
        last_failure=from_ms(int(row.last_failure_ms)),
        blocked_until=from_ms(int(row.blocked_until_ms)),
    )
