"""Evidence records, their chain of custody, and the uploads that become them (the vault).

Tables::

    evidence_uploads    one tus upload: owner, declared length and SHA-256, metadata; ``number``
                        once its record is sealed (how a retry finds the record again)
    evidence_records    one sealed item: immutable once inserted, except ``leaf_index``, which
                        the log's sequencer assigns later (NULL until then, set once)
    evidence_custody    append-only trail per record: uploaded, sealed, viewed, downloaded,
                        shared, share_opened; actor account, time, client IP. Share views
                        (``share_opened``) are aggregated: one row per link, client and UTC
                        day (``share_id``, ``view_day``), first time in ``at_ms``, last in
                        ``last_at_ms``, how many in ``views`` (1 for every other row)

Immutability is enforced here: :class:`EvidenceStore` has no way to change a record but
:meth:`EvidenceStore.note_leaf_index` (NULL -> value, once); :meth:`EvidenceStore.update`
refuses every sealed field with :class:`RecordSealed`. A correction is a new record whose
``supersedes`` names the old one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    case,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from timeseal.store.db import ID_TYPE, StoreError, metadata

CustodyAction = Literal["uploaded", "sealed", "viewed", "downloaded", "shared", "share_opened"]
CUSTODY_ACTIONS: tuple[str, ...] = (
    "uploaded",
    "sealed",
    "viewed",
    "downloaded",
    "shared",
    "share_opened",
)

evidence_uploads = Table(
    "evidence_uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("sha256", LargeBinary(32), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("media_type", String(127), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("title", String(255), nullable=False),
    Column("capture", Text, nullable=False),  # JSON object
    Column("supersedes", String(24), nullable=True),
    Column("client_ip", String(64), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("number", String(24), nullable=True),
    # When this upload's own bytes were hashed, matched its declared SHA-256 and were handed
    # to the blob store: only then may it be sealed without its staging (issue 12).
    Column("received_at_ms", BigInteger, nullable=True),
    Index("ix_evidence_uploads_owner", "owner_id", "number"),
)

evidence_records = Table(
    "evidence_records",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("number", String(24), nullable=False, unique=True),
    Column("owner_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("upload_id", String(64), nullable=True, unique=True),
    Column("kind", String(32), nullable=False),
    Column("title", String(255), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("media_type", String(127), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_sha256", LargeBinary(32), nullable=False),
    Column("capture", Text, nullable=False),  # JSON object
    Column("tsr_der", LargeBinary, nullable=False),  # the RFC 3161 TimeStampResp
    Column("token_sha256", LargeBinary(32), nullable=False),
    Column("log_entry_id", BigInteger, nullable=False),
    Column("leaf_index", BigInteger, nullable=True),
    Column("supersedes", String(24), nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Index("ix_evidence_records_owner_created", "owner_id", "created_at_ms"),
    # The public lookups: by content (the verify page's file check), by token, by correction.
    Index("ix_evidence_records_content", "content_sha256"),
    Index("ix_evidence_records_token", "token_sha256"),
    Index("ix_evidence_records_supersedes", "supersedes"),
)

evidence_custody = Table(
    "evidence_custody",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("record_id", ID_TYPE, ForeignKey("evidence_records.id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor_id", ID_TYPE, ForeignKey("accounts.id"), nullable=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("client_ip", String(64), nullable=False),
    Column("share_id", ID_TYPE, ForeignKey("evidence_shares.id"), nullable=True),
    Column("view_day", Integer, nullable=True),  # share views: days since 1970-01-01 (UTC)
    Column("last_at_ms", BigInteger, nullable=True),  # share views: the latest one
    Column("views", Integer, nullable=False),  # share views: how many; 1 for other rows
    Index("ix_evidence_custody_record", "record_id", "id"),
    Index(
        "ix_evidence_custody_share_view",
        "record_id",
        "share_id",
        "view_day",
        "client_ip",
        unique=True,
    ),
)

#: The ``client_ip`` of the row that counts a day's share views from clients past
#: ``note_share_view``'s ``max_clients`` (which keeps one link's rows a day bounded).
OTHER_CLIENTS = "(others)"

#: Columns of a record that may still change after it is sealed (once, from NULL).
_SEQUENCING_FIELDS = frozenset({"leaf_index"})


class EvidenceError(StoreError):
    """A vault store operation failed."""


class RecordSealed(EvidenceError):
    """An attempt to change a field of a sealed record."""


def to_ms(t: dt.datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return int(t.timestamp() * 1000)


def from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


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


def _escape_like(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _record(row: Any) -> EvidenceRecord:
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


def _upload(row: Any) -> UploadRow:
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


class EvidenceStore:
    """Records, custody and upload bookkeeping on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- uploads ----------------------------------------------------------------------------

    def add_upload(self, upload: UploadRow) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(evidence_uploads).values(
                    id=upload.id,
                    owner_id=upload.owner_id,
                    length=upload.length,
                    sha256=upload.sha256,
                    filename=upload.filename,
                    media_type=upload.media_type,
                    kind=upload.kind,
                    title=upload.title,
                    capture=json.dumps(upload.capture, sort_keys=True),
                    supersedes=upload.supersedes,
                    client_ip=upload.client_ip,
                    created_at_ms=to_ms(upload.created_at),
                    number=None,
                )
            )

    def upload(self, upload_id: str) -> UploadRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(evidence_uploads).where(evidence_uploads.c.id == upload_id)
            ).one_or_none()
        return None if row is None else _upload(row)

    def mark_received(self, upload_id: str, at: dt.datetime) -> bool:
        """Record that the upload's own bytes, hashed and matched, are in the blob store;
        False if the upload is gone (terminated or expired meanwhile) or sealed already.
        Only a received upload may be sealed without its staging: a blob that merely exists
        (someone else's file with the declared hash) is never enough."""
        unsealed = (evidence_uploads.c.id == upload_id) & evidence_uploads.c.number.is_(None)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(evidence_uploads)
                .where(unsealed & evidence_uploads.c.received_at_ms.is_(None))
                .values(received_at_ms=to_ms(at))
            ).rowcount
            if done:
                return True
            # Received already (a retry after a crash between hand-over and sealing).
            return (
                conn.execute(
                    select(evidence_uploads.c.id).where(
                        unsealed & evidence_uploads.c.received_at_ms.is_not(None)
                    )
                ).first()
                is not None
            )

    def remove_upload(self, upload_id: str, *, received: bool = False) -> bool:
        """Forget an upload whose bytes never reached the blob store (termination, expiry, a
        refused digest), or with ``received`` also one whose bytes did but which was never
        sealed (expiry); False if there is none such. Sealed uploads are never removed."""
        condition = (evidence_uploads.c.id == upload_id) & evidence_uploads.c.number.is_(None)
        if not received:
            condition &= evidence_uploads.c.received_at_ms.is_(None)
        with self.engine.begin() as conn:
            removed = conn.execute(evidence_uploads.delete().where(condition)).rowcount
        return bool(removed)

    def unsealed_uploads(self) -> list[UploadRow]:
        """Every upload not sealed yet, oldest first (what housekeeping looks at)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(evidence_uploads)
                .where(evidence_uploads.c.number.is_(None))
                .order_by(evidence_uploads.c.created_at_ms)
            ).all()
        return [_upload(r) for r in rows]

    def used_bytes(self, owner_id: int) -> int:
        """Sealed bytes plus the declared lengths of uploads still pending."""
        with self.engine.connect() as conn:
            sealed = conn.execute(
                select(func.coalesce(func.sum(evidence_records.c.size), 0)).where(
                    evidence_records.c.owner_id == owner_id
                )
            ).scalar_one()
            pending = conn.execute(
                select(func.coalesce(func.sum(evidence_uploads.c.length), 0)).where(
                    (evidence_uploads.c.owner_id == owner_id) & evidence_uploads.c.number.is_(None)
                )
            ).scalar_one()
        return int(sealed) + int(pending)

    # --- records ----------------------------------------------------------------------------

    def insert(self, new: NewRecord, *, client_ip: str) -> EvidenceRecord:
        """Insert a sealed record with its ``uploaded`` and ``sealed`` custody events, and
        mark its upload done, in one transaction. If a record for ``new.upload_id`` exists
        already (a retry, or a concurrent finisher), returns that one instead."""
        if new.upload_id is not None:
            existing = self.by_upload(new.upload_id)
            if existing is not None:
                return existing
        at_ms = to_ms(new.created_at)
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    insert(evidence_records).values(
                        number=new.number,
                        owner_id=new.owner_id,
                        upload_id=new.upload_id,
                        kind=new.kind,
                        title=new.title,
                        filename=new.filename,
                        media_type=new.media_type,
                        size=new.size,
                        content_sha256=new.content_sha256,
                        capture=json.dumps(new.capture, sort_keys=True),
                        tsr_der=new.tsr_der,
                        token_sha256=new.token_sha256,
                        log_entry_id=new.log_entry_id,
                        leaf_index=None,
                        supersedes=new.supersedes,
                        created_at_ms=at_ms,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None
                record_id = int(key[0])
                for action in ("uploaded", "sealed"):
                    conn.execute(
                        insert(evidence_custody).values(
                            record_id=record_id,
                            action=action,
                            actor_id=new.owner_id,
                            at_ms=at_ms,
                            client_ip=client_ip,
                            views=1,
                        )
                    )
                if new.upload_id is not None:
                    conn.execute(
                        update(evidence_uploads)
                        .where(evidence_uploads.c.id == new.upload_id)
                        .values(number=new.number)
                    )
        except IntegrityError:
            if new.upload_id is not None:
                existing = self.by_upload(new.upload_id)
                if existing is not None:
                    return existing
            raise
        record = self.get(new.number)
        assert record is not None
        return record

    def get(self, number: str) -> EvidenceRecord | None:
        return self._one(evidence_records.c.number, number)

    def get_by_id(self, record_id: int) -> EvidenceRecord | None:
        return self._one(evidence_records.c.id, record_id)

    def by_upload(self, upload_id: str) -> EvidenceRecord | None:
        return self._one(evidence_records.c.upload_id, upload_id)

    def with_content(self, sha256: bytes, *, limit: int) -> list[EvidenceRecord]:
        """Every owner's records whose content has this SHA-256, oldest first."""
        return self._where(evidence_records.c.content_sha256 == sha256, limit=limit)

    def by_token(self, token_sha256: bytes) -> EvidenceRecord | None:
        """The record sealed with the token whose DER has this SHA-256."""
        found = self._where(evidence_records.c.token_sha256 == token_sha256, limit=1)
        return found[0] if found else None

    def superseding(self, number: str) -> list[EvidenceRecord]:
        """The records that correct ``number`` (their ``supersedes``), oldest first."""
        return self._where(evidence_records.c.supersedes == number, limit=None)

    def _where(self, condition: Any, *, limit: int | None) -> list[EvidenceRecord]:
        query = (
            select(evidence_records)
            .where(condition)
            .order_by(evidence_records.c.created_at_ms, evidence_records.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]

    def _one(self, column: Any, value: object) -> EvidenceRecord | None:
        """The record whose unique ``column`` equals ``value``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(evidence_records).where(column == value)).one_or_none()
        return None if row is None else _record(row)

    def list_for(
        self,
        owner_id: int,
        *,
        kind: str | None = None,
        record_ids: Sequence[int] | None = None,
        sealed_from: dt.datetime | None = None,
        sealed_before: dt.datetime | None = None,
        text: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[EvidenceRecord]:
        """The owner's records, newest first; each filter given narrows the list: ``kind``,
        ``record_ids`` (e.g. a case's), sealed in ``[sealed_from, sealed_before)``, and
        ``text`` found in the title, the file name or the evidence number (any case)."""
        c = evidence_records.c
        query = select(evidence_records).where(c.owner_id == owner_id)
        if kind is not None:
            query = query.where(c.kind == kind)
        if record_ids is not None:
            query = query.where(c.id.in_(list(record_ids)))
        if sealed_from is not None:
            query = query.where(c.created_at_ms >= to_ms(sealed_from))
        if sealed_before is not None:
            query = query.where(c.created_at_ms < to_ms(sealed_before))
        if text:
            pattern = f"%{_escape_like(text)}%"
            query = query.where(
                c.title.ilike(pattern, escape="\\")
                | c.filename.ilike(pattern, escape="\\")
                | c.number.ilike(pattern, escape="\\")
            )
        query = query.order_by(
            evidence_records.c.created_at_ms.desc(), evidence_records.c.id.desc()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [_record(r) for r in rows]

    def note_leaf_index(self, number: str, leaf_index: int) -> None:
        """Record the leaf index the sequencer gave the record's log entry (once)."""
        self.update(number, leaf_index=leaf_index)

    def update(self, number: str, **values: Any) -> None:
        """The only write to an existing record: ``leaf_index``, from NULL to a value.
        Any other field raises :class:`RecordSealed`; so does changing a set leaf index."""
        sealed = sorted(set(values) - _SEQUENCING_FIELDS)
        if sealed:
            raise RecordSealed(f"record {number} is sealed: {', '.join(sealed)} cannot change")
        leaf_index = values.get("leaf_index")
        if not isinstance(leaf_index, int) or leaf_index < 0:
            raise ValueError("leaf_index must be a non-negative int")
        with self.engine.begin() as conn:
            current = conn.execute(
                select(evidence_records.c.leaf_index).where(evidence_records.c.number == number)
            ).one_or_none()
            if current is None:
                raise EvidenceError(f"no record {number}")
            if current[0] is not None:
                if int(current[0]) != leaf_index:
                    raise RecordSealed(f"record {number} already has leaf index {current[0]}")
                return
            conn.execute(
                update(evidence_records)
                .where(
                    (evidence_records.c.number == number) & evidence_records.c.leaf_index.is_(None)
                )
                .values(leaf_index=leaf_index)
            )

    # --- custody ----------------------------------------------------------------------------

    def add_custody(
        self, record_id: int, action: str, *, actor_id: int | None, at: dt.datetime, client_ip: str
    ) -> None:
        if action not in CUSTODY_ACTIONS:
            raise ValueError(f"custody action must be one of {', '.join(CUSTODY_ACTIONS)}")
        with self.engine.begin() as conn:
            conn.execute(
                insert(evidence_custody).values(
                    record_id=record_id,
                    action=action,
                    actor_id=actor_id,
                    at_ms=to_ms(at),
                    client_ip=client_ip[:64],
                    views=1,
                )
            )

    def note_share_view(
        self,
        record_id: int,
        share_id: int,
        *,
        at: dt.datetime,
        client_ip: str,
        max_clients: int,
    ) -> None:
        """Count a view of the record through link ``share_id``: the day's row for this
        client gets one more (and ``at`` as its latest), or is added. Past ``max_clients``
        clients that day, further ones are counted in one :data:`OTHER_CLIENTS` row, so a
        link adds at most ``max_clients + 1`` rows a day however it is used."""
        at_ms = to_ms(at)
        day = at_ms // 86_400_000
        c = evidence_custody.c
        today = (c.record_id == record_id) & (c.share_id == share_id) & (c.view_day == day)
        client = client_ip[:64]
        for _ in range(3):  # a concurrent first view of the same row: count again
            try:
                with self.engine.begin() as conn:
                    if self._count_view(conn, today & (c.client_ip == client), at_ms):
                        return
                    clients = conn.execute(
                        select(func.count()).select_from(evidence_custody).where(today)
                    ).scalar_one()
                    if int(clients) >= max_clients:
                        client = OTHER_CLIENTS
                        if self._count_view(conn, today & (c.client_ip == client), at_ms):
                            return
                    conn.execute(
                        insert(evidence_custody).values(
                            record_id=record_id,
                            action="share_opened",
                            actor_id=None,
                            at_ms=at_ms,
                            client_ip=client,
                            share_id=share_id,
                            view_day=day,
                            last_at_ms=at_ms,
                            views=1,
                        )
                    )
                return
            except IntegrityError:
                continue
        raise AssertionError("evidence_custody: a share view row neither exists nor inserts")

    @staticmethod
    def _count_view(conn: Connection, row: Any, at_ms: int) -> bool:
        c = evidence_custody.c
        result = conn.execute(
            update(evidence_custody)
            .where(row)
            .values(
                views=c.views + 1,
                last_at_ms=case((c.last_at_ms < at_ms, at_ms), else_=c.last_at_ms),
            )
        )
        return bool(result.rowcount)

    def custody(self, record_id: int) -> list[CustodyEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(evidence_custody)
                .where(evidence_custody.c.record_id == record_id)
                .order_by(evidence_custody.c.id)
            ).all()
        return [
            CustodyEvent(
                r.action,
                None if r.actor_id is None else int(r.actor_id),
                from_ms(int(r.at_ms)),
                r.client_ip,
                count=int(r.views),
                last_at=None if r.last_at_ms is None else from_ms(int(r.last_at_ms)),
                share_id=None if r.share_id is None else int(r.share_id),
            )
            for r in rows
        ]
