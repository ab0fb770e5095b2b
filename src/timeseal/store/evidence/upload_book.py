"""The vault's bookkeeping of uploads: declared, received, removed, sealed, and the bytes
they take from an owner's quota."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Engine, func, insert, select, update

from timeseal.store.db import to_ms
from timeseal.store.evidence.rows import UploadRow, upload_from_row
from timeseal.store.evidence.tables import evidence_records, evidence_uploads


class UploadBook:
    """The ``evidence_uploads`` rows of one engine; a part of
    :class:`~timeseal.store.evidence.records.EvidenceStore`."""

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
        return None if row is None else upload_from_row(row)

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
        return [upload_from_row(r) for r in rows]

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
