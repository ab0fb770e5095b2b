"""Sealed evidence packages (docs/package-format.md) and certificates: what was built for what.

Table::

    evidence_packages   one built artefact: owner, scope ("item" or "case": a package ZIP;
                        "cert": an item's certificate PDF) and target (record or case), the
                        fingerprint of its inputs, and the artefact's SHA-256 and size (it
                        is a blob itself, content-addressed like the evidence)

A package is never modified after it is sealed. Asking again for the package of the same
inputs (the same record; the same case title, description, items and notes) returns the same
ZIP, byte for byte, so downloads resume across requests; changed inputs get a new package.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    ForeignKey,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from timeseal.store.db import ID_TYPE, from_ms, metadata, to_ms

#: What an artefact is: an item's package, a case's package, an item's certificate.
SCOPES = ("item", "case", "cert")

evidence_packages = Table(
    "evidence_packages",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("owner_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("scope", String(8), nullable=False),  # "item", "case" or "cert"
    Column("record_id", ID_TYPE, ForeignKey("evidence_records.id"), nullable=True),
    Column("case_id", ID_TYPE, ForeignKey("evidence_cases.id"), nullable=True),
    Column("fingerprint", LargeBinary(32), nullable=False),
    Column("package_sha256", LargeBinary(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    UniqueConstraint("owner_id", "fingerprint"),
)


@dataclass(frozen=True, slots=True)
class PackageRow:
    id: int
    owner_id: int
    scope: str
    record_id: int | None
    case_id: int | None
    fingerprint: bytes
    package_sha256: bytes
    size: int
    created_at: dt.datetime


def _row(row: Any) -> PackageRow:
    return PackageRow(
        id=int(row.id),
        owner_id=int(row.owner_id),
        scope=row.scope,
        record_id=None if row.record_id is None else int(row.record_id),
        case_id=None if row.case_id is None else int(row.case_id),
        fingerprint=bytes(row.fingerprint),
        package_sha256=bytes(row.package_sha256),
        size=int(row.size),
        created_at=from_ms(int(row.created_at_ms)),
    )


class PackageStore:
    """Package bookkeeping on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find(self, owner_id: int, fingerprint: bytes) -> PackageRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(evidence_packages).where(
                    (evidence_packages.c.owner_id == owner_id)
                    & (evidence_packages.c.fingerprint == fingerprint)
                )
            ).one_or_none()
        return None if row is None else _row(row)

    def add(
        self,
        *,
        owner_id: int,
        scope: str,
        record_id: int | None,
        case_id: int | None,
        fingerprint: bytes,
        package_sha256: bytes,
        size: int,
        now: dt.datetime,
    ) -> PackageRow:
        """Record a built package; if one with the same inputs was recorded meanwhile (two
        requests built at once), that one is kept and returned."""
        if scope not in SCOPES or (record_id is None) == (case_id is None):
            raise ValueError("an artefact is of one record (item, cert) or one case (case)")
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(evidence_packages).values(
                        owner_id=owner_id,
                        scope=scope,
                        record_id=record_id,
                        case_id=case_id,
                        fingerprint=fingerprint,
                        package_sha256=package_sha256,
                        size=size,
                        created_at_ms=to_ms(now),
                    )
                )
        except IntegrityError:
            pass
        found = self.find(owner_id, fingerprint)
        assert found is not None
        return found
