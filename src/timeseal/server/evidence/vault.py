"""Sealing evidence (no HTTP): a finished blob becomes an immutable, timestamped, logged record.

:meth:`VaultService.seal` mints an evidence number, asks the in-process TSA for a token over the
content SHA-256 (through :class:`~timeseal.server.tsa.service.TSAService`, so the token is journaled
and logged like every other), appends the :class:`~timeseal.core.log_entry.EvidenceEntry` leaf to
the log, and inserts the record with its ``uploaded`` and ``sealed`` custody events. It is
idempotent per upload: a retry after completion returns the record already sealed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timeseal.core.evidence.number import new_evidence_number, number_date
from timeseal.core.log_entry import EvidenceEntry, format_entry
from timeseal.core.tlog.proof import TlogProof
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import FailureInfo, parse_response
from timeseal.server.tsa.service import TSAService, utc_now
from timeseal.store.blobs import BlobRef, BlobStore
from timeseal.store.cases import CaseStore
from timeseal.store.evidence.records import EvidenceStore
from timeseal.store.evidence.rows import EvidenceRecord, NewRecord, UploadRow
from timeseal.store.log.store import LogStore
from timeseal.store.uploads import PartialUpload, UploadNotFound


class SealingFailed(Exception):
    """The TSA refused to issue a token; ``clock_untrusted`` when because of its clock
    (``timeNotAvailable``), which only the operator can fix."""

    def __init__(self, message: str, *, clock_untrusted: bool = False) -> None:
        super().__init__(message)
        self.clock_untrusted = clock_untrusted

    @property
    def code(self) -> str:
        """The API's error code: ``clock_untrusted`` (what the operator must do) when the
        TSA's clock is the reason, else ``sealing_failed`` (try again later)."""
        return "clock_untrusted" if self.clock_untrusted else "sealing_failed"


class UploadGone(Exception):
    """The upload was terminated or expired, or its own bytes never reached the blob store:
    there is nothing this upload may seal."""


class NotSequenced(Exception):
    """A record is not in the log yet (it is, within about a second of sealing), so what
    needs its inclusion proof (a package, a certificate) must wait."""


@dataclass(frozen=True, slots=True)
class SealRequest:
    """Metadata of an item to seal, besides its blob."""

    owner_id: int
    kind: str
    title: str
    filename: str
    media_type: str
    upload_id: str | None = None
    supersedes: str | None = None
    capture: dict[str, Any] | None = None
    client_ip: str = "unknown"


@dataclass(frozen=True, slots=True)
class Stamped:
    """A granted TimeStampResp (DER), the token inside it (DER) and its genTime."""

    response_der: bytes
    token_der: bytes
    gen_time: dt.datetime


class VaultService:
    """Seals blobs into records; finds records and their sequencing state."""

    def __init__(
        self,
        store: EvidenceStore,
        blobs: BlobStore,
        log_store: LogStore,
        tsa: Callable[[], TSAService],
        staging: Path,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.store = store
        self.cases = CaseStore(store.engine)
        self.blobs = blobs
        self.log_store = log_store
        self._tsa = tsa
        self.staging = staging
        self._clock = clock
        self._pending_usage: list[Callable[[int], int]] = []

    def count_pending(self, usage: Callable[[int], int]) -> None:
        """Also count ``usage(owner_id)`` bytes against the quota: what another part of the
        server holds for an owner that is not a record yet (a browser recording's chunks)."""
        self._pending_usage.append(usage)

    def used_bytes(self, owner_id: int) -> int:
        """What the quota counts: sealed records, uploads in progress, and the bytes the
        parts registered with :meth:`count_pending` hold."""
        return self.store.used_bytes(owner_id) + sum(u(owner_id) for u in self._pending_usage)

    # --- uploads --------------------------------------------------------------------------
    #
    # A blob is sealed into an account only from bytes that this very upload received: its
    # staging hashed them and matched the declared SHA-256 (a deduplicated blob included),
    # and the row was marked received before the staging went. A blob that merely exists
    # under the declared hash proves nothing: the hashes and sizes of sealed files are public
    # in the log, so anyone could declare them.

    def receive_upload(self, row: UploadRow, upload: PartialUpload | None) -> BlobRef:
        """The blob ``row``'s own bytes became: handed over now from its staging ``upload``,
        or earlier (before a crash, or by a concurrent request) as its row records.
        :class:`UploadGone` if there is none; the staging's errors (busy, incomplete,
        :class:`~timeseal.store.blobs.DigestMismatch`) propagate. Blocking: run it on a
        worker thread."""
        if upload is not None:
            try:
                return upload.finish(self.blobs, row.sha256, claim=lambda _: self._claim(row))
            except UploadNotFound:  # finished or discarded by another request a moment ago
                pass
        current = self.store.upload(row.id)
        if current is None or current.received_at is None or not self.blobs.exists(row.sha256):
            raise UploadGone(row.id)
        return BlobRef(row.sha256, self.blobs.size(row.sha256))

    def _claim(self, row: UploadRow) -> None:
        if not self.store.mark_received(row.id, self._clock()):
            raise UploadGone(row.id)

    def terminate_upload(self, upload_id: str) -> bool:
        """Forget an upload whose bytes were not received: its row first, under the staging's
        lock, then its staged bytes, so no request finds it half gone. False if it cannot be
        (received, sealed, or unknown); :class:`~timeseal.store.uploads.UploadBusy` while a
        request is writing it."""

        def forget() -> None:
            if not self.store.remove_upload(upload_id):
                raise UploadGone(upload_id)

        try:
            PartialUpload.open(self.staging, upload_id).discard(forget)
        except UploadNotFound:
            return self.store.remove_upload(upload_id)
        except UploadGone:
            return False
        return True

    async def seal(self, blob: BlobRef, request: SealRequest) -> EvidenceRecord:
        if request.upload_id is not None:
            existing = self.store.by_upload(request.upload_id)
            if existing is not None:
                return existing
        now = self._clock()
        number = new_evidence_number(number_date(now))
        stamped = await self.timestamp(blob.sha256)
        token_sha256 = hashlib.sha256(stamped.token_der).digest()
        entry = EvidenceEntry(
            number=number,
            kind=request.kind,
            content_sha256=blob.sha256,
            size=blob.size,
            token_sha256=token_sha256,
            supersedes=request.supersedes,
        )
        [entry_id] = self.log_store.append([format_entry(entry)])
        return self.store.insert(
            NewRecord(
                number=number,
                owner_id=request.owner_id,
                upload_id=request.upload_id,
                kind=request.kind,
                title=request.title,
                filename=request.filename,
                media_type=request.media_type,
                size=blob.size,
                content_sha256=blob.sha256,
                tsr_der=stamped.response_der,
                token_sha256=token_sha256,
                log_entry_id=entry_id,
                created_at=now,
                supersedes=request.supersedes,
                capture=dict(request.capture or {}),
            ),
            client_ip=request.client_ip,
        )

    async def timestamp(self, sha256: bytes) -> Stamped:
        """An RFC 3161 token over a SHA-256 value from this server's TSA (journaled and
        logged like every token it issues); :class:`SealingFailed` if the TSA refuses."""
        query = build_request(sha256, nonce=secrets.randbits(63))
        reply = await self._tsa().respond(query.der)
        response = parse_response(reply.der)
        if not reply.granted or response.token is None:
            raise SealingFailed(
                f"the TSA refused to stamp: {', '.join(response.status_text)}",
                clock_untrusted=reply.failure is FailureInfo.TIME_NOT_AVAILABLE,
            )
        return Stamped(reply.der, response.token.der, response.token.tst_info.gen_time)

    def sequenced(self, record: EvidenceRecord) -> EvidenceRecord:
        """``record`` with its leaf index, once the sequencer has given it one."""
        if record.leaf_index is not None:
            return record
        leaf_index = self.log_store.leaf_index_of(record.log_entry_id)
        if leaf_index is None:
            return record
        self.store.note_leaf_index(record.number, leaf_index)
        updated = self.store.get(record.number)
        assert updated is not None
        return updated

    def receipt(self, record: EvidenceRecord) -> TlogProof | None:
        """The record's C2SP tlog-proof; its ``extra`` line carries the proven log entry, so
        that ``timeseal verify FILE`` can check it against the file's token offline."""
        if record.leaf_index is None:
            return None
        try:
            proof = self.log_store.receipt(record.leaf_index)
        except LookupError:
            return None
        return dataclasses.replace(proof, extra=self.log_entry(record))

    def log_entry(self, record: EvidenceRecord) -> bytes:
        """The exact log entry of ``record`` (what its receipt proves)."""
        return format_entry(
            EvidenceEntry(
                number=record.number,
                kind=record.kind,
                content_sha256=record.content_sha256,
                size=record.size,
                token_sha256=record.token_sha256,
                supersedes=record.supersedes,
            )
        )
