"""Sealed evidence records: inserting one with its first custody events, and finding them.

Immutability is enforced here: :class:`EvidenceStore` has no way to change a record but
:meth:`EvidenceStore.note_leaf_index` (NULL -> value, once); :meth:`EvidenceStore.update`
refuses every sealed field with :class:`RecordSealed`. A correction is a new record whose
``supersedes`` names the old one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from timeseal.store.db import to_ms
from timeseal.store.evidence.custody import CustodyTrail
from timeseal.store.evidence.rows import (
    EvidenceError,
    EvidenceRecord,
    NewRecord,
    RecordSealed,
    record_from_row,
)
from timeseal.store.evidence.tables import evidence_custody, evidence_records, evidence_uploads
from timeseal.store.evidence.upload_book import UploadBook

#: Columns of a record that may still change after it is sealed (once, from NULL).
_SEQUENCING_FIELDS = frozenset({"leaf_index"})


def _escape_like(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class EvidenceStore(UploadBook, CustodyTrail):
    """Records, custody and upload bookkeeping on one engine."""

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
            return [record_from_row(r) for r in conn.execute(query)]

    def _one(self, column: Any, value: object) -> EvidenceRecord | None:
        """The record whose unique ``column`` equals ``value``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(evidence_records).where(column == value)).one_or_none()
        return None if row is None else record_from_row(row)

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
        return [record_from_row(r) for r in rows]

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
