"""Issuing each item's certificate PDF once, and finding it again.

:meth:`CertificateIssuer.certificate` returns the signed certificate of a sealed, sequenced
record: built on first request (``timeseal.server.certificate.render``: facts from the record, its
token and the checkpoint its log proof uses; a preview of an image or a video's key frame;
signed and document-timestamped), then kept as a blob and recorded like a package (scope
``cert``), so the item has one certificate, byte for byte, wherever it appears: downloaded on
its own, in the item's package, in every case package.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread

from timeseal.core.package import JSONObject, format_canonical_json
from timeseal.core.pki import sha256_fingerprint
from timeseal.server.evidence.vault import NotSequenced, VaultService
from timeseal.server.refusal import Refusal
from timeseal.server.runtime.platform_keys import DocumentSigner
from timeseal.server.tsa.service import TSAService, utc_now
from timeseal.store.blobs import BlobRef, BlobStore
from timeseal.store.evidence.rows import EvidenceRecord
from timeseal.store.packages import PackageStore

if TYPE_CHECKING:  # the PDF stack (fpdf2, fontTools, pyHanko) loads on the first certificate
    from timeseal.server.certificate.media import CertificateFonts
    from timeseal.server.certificate.sign import CertificateSigner

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

#: Part of every certificate's fingerprint: raising it issues every certificate afresh once.
CERTIFICATE_VERSION = 2  # 2: issue date, root fingerprint, offline steps, browser environment
#: Images larger than this get no thumbnail (it would be read into memory whole).
MAX_PREVIEW_IMAGE_BYTES = 64 << 20


class CertificateIssuer:
    """Builds and keeps the certificates of one vault. One per process: pyHanko sizes the
    signature with a sample token once per signer."""

    def __init__(
        self,
        vault: VaultService,
        tsa: Callable[[], TSAService],
        document_signer: DocumentSigner,
        *,
        base_url: Callable[[], str],
        fonts: Callable[[], CertificateFonts] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.vault = vault
        self.store = PackageStore(vault.store.engine)
        self._tsa = tsa
        self._identity = document_signer
        self._base_url = base_url
        self._load_fonts = fonts
        self._fonts: CertificateFonts | None = None
        self._signer: CertificateSigner | None = None
        self._lock = asyncio.Lock()
        self._clock = clock

    async def certificate(self, record: EvidenceRecord) -> BlobRef:
        """The record's certificate PDF as a blob (building it the first time)."""
        fingerprint = _fingerprint(record.number)
        found = self.store.find(record.owner_id, fingerprint)
        if found is not None:
            return BlobRef(found.package_sha256, found.size)
        async with self._lock:  # one build at a time per process; the fonts load once
            found = self.store.find(record.owner_id, fingerprint)
            if found is not None:
                return BlobRef(found.package_sha256, found.size)
            pdf = await self._build(self.vault.sequenced(record))
        ref = await anyio.to_thread.run_sync(self.vault.blobs.write_stream, [pdf])
        row = self.store.add(
            owner_id=record.owner_id,
            scope="cert",
            record_id=record.id,
            case_id=None,
            fingerprint=fingerprint,
            package_sha256=ref.sha256,
            size=ref.size,
            now=self._clock(),
        )
        return BlobRef(row.package_sha256, row.size)

    async def pdf(self, record: EvidenceRecord) -> bytes:
        """The certificate's bytes (a few dozen KiB)."""
        ref = await self.certificate(record)
        with self.vault.blobs.open(ref.sha256) as reader:
            return reader.read()

    async def _build(self, record: EvidenceRecord) -> bytes:
        # Imported here: a worker that never issues a certificate never loads the PDF stack
        # (tens of MiB of resident memory).
        from timeseal.server.certificate.media import FontMissing, load_fonts
        from timeseal.server.certificate.render import build_certificate, facts_from_record
        from timeseal.server.certificate.sign import CertificateSigner

        receipt = self.vault.receipt(record)
        if receipt is None:
            raise NotSequenced(f"{record.number} is not in the log yet")
        if self._fonts is None:  # cutting the font the first time takes seconds: off the loop
            try:
                self._fonts = await anyio.to_thread.run_sync(self._load_fonts or load_fonts)
            except FontMissing as exc:  # tried again at the next request: no restart needed
                log.error("cannot build the certificate of %s: %s", record.number, exc)
                raise Refusal("certificate_font_missing") from exc
        if self._signer is None:
            self._signer = CertificateSigner(self._identity, self._tsa())
        root = self._identity.chain[-1]
        facts = facts_from_record(
            record,
            checkpoint=receipt.checkpoint.checkpoint,
            base_url=self._base_url(),
            issued_at=self._clock(),
            root_fingerprint=sha256_fingerprint(root) if root.issuer == root.subject else None,
        )
        preview = await anyio.to_thread.run_sync(_preview, self.vault.blobs, record)
        return await build_certificate(
            facts, fonts=self._fonts, signer=self._signer, preview=preview
        )


def _fingerprint(number: str) -> bytes:
    inputs: JSONObject = {"certificate": CERTIFICATE_VERSION, "number": number}
    return hashlib.sha256(format_canonical_json(inputs)).digest()


def _preview(blobs: BlobStore, record: EvidenceRecord) -> bytes | None:
    """A thumbnail of an image, or a key frame of a video kept in local files; None for
    anything else (a certificate without a picture is still complete)."""
    from timeseal.server.certificate.media import (
        CertificateMediaError,
        image_preview,
        video_key_frame,
    )

    media = record.media_type.lower()
    try:
        if media.startswith("image/") and record.size <= MAX_PREVIEW_IMAGE_BYTES:
            with blobs.open(record.content_sha256) as reader:
                return image_preview(reader.read())
        path = getattr(blobs, "path", None)
        if media.startswith("video/") and callable(path):
            local = path(record.content_sha256)
            if isinstance(local, Path) and local.exists():
                return video_key_frame(local)
    except (CertificateMediaError, OSError, ValueError) as exc:
        log.warning("no preview for %s: %s", record.number, exc)
    return None
