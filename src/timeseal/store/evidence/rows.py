"""What the vault's store takes and hands back: uploads, sealed records, custody events."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from timeseal.store.db import StoreError, from_ms


class EvidenceError(StoreError):
    """A vault store operation failed."""


class RecordSealed(EvidenceError):
    """An attempt to change a field of a sealed record."""


@dataclass(frozen=True, slots=True)
class UploadRow:
    id: str
    owner_id: int
    length: int
    sha256: bytes
    filename: str
    media_type: str
    kind: str
    title: str
    capture: dict[str, Any]
    supersedes: str | None
    client_ip: str
    created_at: dt.datetime
    number: str | None = None
    #: When this upload's own bytes reached the blob store (see :meth:`EvidenceStore.
    #: mark_received`); None while they are still staged, or if they never arrived.
    received_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    id: int
    number: str
    owner_id: int
    upload_id: str | None
    kind: str
    title: str
    filename: str
    media_type: str
    size: int
    content_sha256: bytes
    capture: dict[str, Any]
    tsr_der: bytes
    token_sha256: bytes
    log_entry_id: int
    leaf_index: int | None
    supersedes: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CustodyEvent:
    """One row of the trail. For aggregated share views, ``at`` is the first of ``count``
    views that day from ``client_ip`` through link ``share_id``, ``last_at`` the latest."""

    action: str
    actor_id: int | None
    at: dt.datetime
    client_ip: str
    count: int = 1
    last_at: dt.datetime | None = None
    share_id: int | None = None


@dataclass(frozen=True, slots=True)
class NewRecord:
    """What :meth:`EvidenceStore.insert` needs; ``id`` and ``leaf_index`` come later."""

    number: str
    owner_id: int
    upload_id: str | None
    kind: str
    title: str
    filename: str
    media_type: str
    size: int
    content_sha256: bytes
    tsr_der: bytes
    token_sha256: bytes
    log_entry_id: int
    created_at: dt.datetime
    supersedes: str | None = None
    capture: dict[str, Any] = field(default_factory=dict)


def record_from_row(row: Any) -> EvidenceRecord:
    return EvidenceRecord(
        id=int(row.id),
        number=row.number,
        owner_id=int(row.owner_id),
        upload_id=row.upload_id,
        kind=row.kind,
        title=row.title,
        filename=row.filename,
        media_type=row.media_type,
        size=int(row.size),
        content_sha256=bytes(row.content_sha256),
        capture=json.loads(row.capture),
        tsr_der=bytes(row.tsr_der),
        token_sha256=bytes(row.token_sha256),
        log_entry_id=int(row.log_entry_id),
        leaf_index=None if row.leaf_index is None else int(row.leaf_index),
        supersedes=row.supersedes,
        created_at=from_ms(int(row.created_at_ms)),
    )


def upload_from_row(row: Any) -> UploadRow:
    return UploadRow(
        id=row.id,
        owner_id=int(row.owner_id),
        length=int(row.length),
        sha256=bytes(row.sha256),
        filename=row.filename,
        media_type=row.media_type,
        kind=row.kind,
        title=row.title,
        capture=json.loads(row.capture),
        supersedes=row.supersedes,
        client_ip=row.client_ip,
        created_at=from_ms(int(row.created_at_ms)),
        number=row.number,
        received_at=None if row.received_at_ms is None else from_ms(int(row.received_at_ms)),
    )
