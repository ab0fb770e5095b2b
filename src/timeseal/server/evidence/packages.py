"""Building evidence packages on the server (docs/package-format.md) from sealed records.

:meth:`PackageService.item_package` and :meth:`PackageService.case_package` return the sealed
ZIP for a record or a case, building it on first request: each item's bytes stream from the
blob store into a temporary file beside the staging directory, the manifest is timestamped by
the in-process TSA and signed with the platform's document-signing key (``pki/docsign.pem``:
a detached CAdES signature, ``proofs/manifest.p7s``, whose signature timestamp comes from the
same TSA), and the finished ZIP becomes a blob of its own (content-addressed, so the
local store renames it into place and S3 receives it once). The package is recorded with the
fingerprint of its inputs, so the same inputs always give back the same bytes (downloads
resume across requests) and a package is never modified after it is sealed.

Every item must be in the log (sequenced) before its package can be built, since the package carries
its inclusion proof; until then :class:`~timeseal.server.evidence.vault.NotSequenced` says to ask
again shortly. Each item's certificate PDF (:mod:`timeseal.server.certificate.issue`) goes in with
it, the same bytes in every package (it shows no IP address and no location).

``withhold_private=True`` builds the copy a share link hands out
(:mod:`timeseal.server.evidence.withhold`): the same items, with IP addresses and exact locations
withheld from the custody trail and the capture metadata, and the manifest saying so; a package of
its own (its own fingerprint, manifest, timestamp and signature), so it verifies like any other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

import anyio.from_thread
import anyio.to_thread
from cryptography import x509

from timeseal.core.cades.sign import sign_detached
from timeseal.core.digest import digest_file
from timeseal.core.package import (
    CaptureWindow,
    JSONObject,
    JSONValue,
    PackageItem,
    build_package,
    format_canonical_json,
)
from timeseal.core.signers import KeySigner
from timeseal.core.tlog import VerifierKey
from timeseal.core.tlog.proof import format_tlog_proof
from timeseal.core.tsp.request import build_request
from timeseal.server.certificate.issue import CertificateIssuer
from timeseal.server.evidence.vault import NotSequenced, VaultService
from timeseal.server.evidence.withhold import WITHHELD, withhold_capture, withhold_custody
from timeseal.server.runtime.platform_keys import DocumentSigner
from timeseal.server.tsa.service import TSAService, utc_now
from timeseal.store.cases import Case
from timeseal.store.evidence.rows import CustodyEvent, EvidenceRecord
from timeseal.store.packages import PackageRow, PackageStore

Clock = Callable[[], dt.datetime]

__all__ = ["WITHHELD", "EmptyCase", "PackageError", "PackageService", "capture_window"]

#: Part of every fingerprint: raising it makes every package be built afresh once (for a
#: change in what the server puts into packages). 2: the platform signs the manifest.
BUILD_VERSION = 2


class PackageError(Exception):
    """A package cannot be built."""


class EmptyCase(PackageError):
    """A case without items has nothing to package."""


def capture_window(capture: dict[str, Any]) -> CaptureWindow | None:
    """The capture window a client declared in its capture metadata (``started_at`` and
    ``ended_at``, RFC 3339 with an offset), or None when it declared none (or nonsense)."""
    try:
        start = dt.datetime.fromisoformat(str(capture["started_at"]))
        end = dt.datetime.fromisoformat(str(capture["ended_at"]))
        return CaptureWindow(start.astimezone(dt.UTC), end.astimezone(dt.UTC))
    except (KeyError, ValueError, TypeError):
        return None


class PackageService:
    """Builds, records and finds packages of one vault."""

    def __init__(
        self,
        vault: VaultService,
        tsa: Callable[[], TSAService],
        *,
        tsa_chain: Sequence[x509.Certificate],
        log_key: VerifierKey,
        document_signer: DocumentSigner,
        certificates: CertificateIssuer | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.vault = vault
        self.store = PackageStore(vault.store.engine)
        self._tsa = tsa
        self._chain = list(tsa_chain)
        self._log_key = log_key
        self._manifest_signer = KeySigner(document_signer.key)
        self._manifest_chain = document_signer.chain
        self._certificates = certificates
        self._clock = clock

    async def item_package(
        self, record: EvidenceRecord, *, withhold_private: bool = False
    ) -> PackageRow:
        """The record's package; ``withhold_private``: the share-link copy without IP
        addresses and exact locations."""
        fingerprint = _fingerprint(
            {"scope": "item", "number": record.number, **_withheld(withhold_private)}
        )
        found = self.store.find(record.owner_id, fingerprint)
        if found is not None:
            return found
        sha256, size = await self._build([record], None, withhold_private)
        return self.store.add(
            owner_id=record.owner_id,
            scope="item",
            record_id=record.id,
            case_id=None,
            fingerprint=fingerprint,
            package_sha256=sha256,
            size=size,
            now=self._clock(),
        )

    async def case_package(self, case: Case, *, withhold_private: bool = False) -> PackageRow:
        """The case's package; ``withhold_private`` as for :meth:`item_package`."""
        items = self.vault.cases.items(case.id)
        if not items:
            raise EmptyCase(f"case {case.id} has no items")
        records = []
        for item in items:
            record = self.vault.store.get_by_id(item.record_id)
            assert record is not None  # records are never deleted
            records.append(record)
        described: JSONObject = {
            "id": case.id,
            "title": case.title,
            "description": case.description,
            "created_at": _rfc3339(case.created_at),
            "items": [
                {"number": r.number, "position": i.position, "note": i.note}
                for r, i in zip(records, items, strict=True)
            ],
        }
        fingerprint = _fingerprint(
            {"scope": "case", "case": described, **_withheld(withhold_private)}
        )
        found = self.store.find(case.owner_id, fingerprint)
        if found is not None:
            return found
        sha256, size = await self._build(records, described, withhold_private)
        return self.store.add(
            owner_id=case.owner_id,
            scope="case",
            record_id=None,
            case_id=case.id,
            fingerprint=fingerprint,
            package_sha256=sha256,
            size=size,
            now=self._clock(),
        )

    async def _build(
        self, records: Sequence[EvidenceRecord], case: JSONObject | None, withhold: bool
    ) -> tuple[bytes, int]:
        sequenced = [self.vault.sequenced(r) for r in records]
        pdfs: dict[str, bytes] = {}
        if self._certificates is not None:
            for record in sequenced:
                pdfs[record.number] = await self._certificates.pdf(record)
        items = [self._item(r, pdfs.get(r.number), withhold) for r in sequenced]
        sealed_at = self._clock()
        directory = self.vault.staging
        directory.mkdir(parents=True, exist_ok=True)

        def build() -> tuple[bytes, int]:
            fd, name = tempfile.mkstemp(dir=directory, prefix=".package.", suffix=".zip")
            path = Path(name)
            try:
                with os.fdopen(fd, "w+b") as out:
                    build_package(
                        out,
                        items,
                        tsa_chain=self._chain,
                        log_key=self._log_key,
                        sealed_at=sealed_at,
                        stamp=self._stamp,
                        sign=lambda manifest: sign_detached(
                            manifest,
                            self._manifest_signer,
                            self._manifest_chain,
                            signing_time=sealed_at,
                            stamp=self._stamp,
                        ),
                        case=case,
                    )
                    out.flush()
                    os.fsync(out.fileno())
                sha256 = digest_file(path)
                ref = self.vault.blobs.adopt(path, sha256)
                return ref.sha256, ref.size
            finally:
                path.unlink(missing_ok=True)

        return await anyio.to_thread.run_sync(build)

    def _item(
        self, record: EvidenceRecord, certificate_pdf: bytes | None, withhold: bool
    ) -> PackageItem:
        receipt = self.vault.receipt(record)
        if receipt is None:
            raise NotSequenced(f"{record.number} is not in the log yet")
        blobs = self.vault.blobs
        entries = [_custody_entry(record, e) for e in self.vault.store.custody(record.id)]
        custody: tuple[JSONValue, ...] = tuple(entries)
        capture: JSONObject = dict(record.capture)
        if withhold:
            custody = withhold_custody(entries)
            capture = withhold_capture(capture)
        return PackageItem(
            number=record.number,
            kind=record.kind,
            original_name=record.filename,
            size=record.size,
            sha256=record.content_sha256,
            open=lambda: cast(BinaryIO, blobs.open(record.content_sha256)),
            token=record.tsr_der,
            log_proof=format_tlog_proof(receipt),
            title=record.title,
            media_type=record.media_type,
            certificate_pdf=certificate_pdf,
            supersedes=record.supersedes,
            capture_window=capture_window(record.capture),
            capture=capture,
            custody=custody,
        )

    def _stamp(self, sha256: bytes) -> bytes:
        """A token over the manifest or over its signature, from the in-process TSA (called on
        the builder's thread)."""
        query = build_request(sha256, nonce=secrets.randbits(63))
        reply = anyio.from_thread.run(self._tsa().respond, query.der)
        if not reply.granted:
            raise PackageError("the TSA refused to stamp the manifest (is its clock trusted?)")
        return reply.der


def _custody_entry(record: EvidenceRecord, event: CustodyEvent) -> JSONObject:
    """One custody event as the manifest lists it; share views with their count and the last
    one (a row stands for a day's views from one client through one link)."""
    entry: dict[str, JSONValue] = {
        "action": event.action,
        "at": _rfc3339(event.at),
        "by_owner": event.actor_id == record.owner_id,
        "client_ip": event.client_ip,
    }
    if event.action == "share_opened":
        entry["count"] = event.count
        entry["last_at"] = _rfc3339(event.last_at or event.at)
    return entry


def _withheld(withhold: bool) -> JSONObject:
    """The fingerprint's mark of a withheld copy (none for the owner's: its fingerprints
    stay those of packages built before copies existed)."""
    return {"withheld": True} if withhold else {}


def _fingerprint(inputs: JSONObject) -> bytes:
    return hashlib.sha256(format_canonical_json({"build": BUILD_VERSION, **inputs})).digest()


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
