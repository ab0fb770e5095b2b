"""A sealing platform in memory for package tests: the test PKI's in-process TSA, and a Merkle
log with a signed checkpoint, built with the core's own ``integrate``-free primitives.

``Sealer.items(specs)`` does what the vault does for each item (token over its SHA-256, an
``timeseal/evidence/v1`` leaf in the log) and returns ``PackageItem`` inputs whose proofs all
point at one checkpoint signed after the last leaf.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric import ec
from fpdf import FPDF

from tests.support.pki import NOW, PKIFixture
from tests.unit.core.tlog.helpers import MemoryHashes
from timeseal.core import pki
from timeseal.core.cades.sign import sign_detached
from timeseal.core.evidence.number import legacy_check_symbol, new_evidence_number
from timeseal.core.log_entry import EvidenceEntry, format_entry
from timeseal.core.package import CaptureWindow, JSONObject, PackageItem, build_package
from timeseal.core.signers import KeySigner
from timeseal.core.tlog import (
    Checkpoint,
    SignerKey,
    TlogProof,
    cosign_checkpoint,
    format_tlog_proof,
    generate_signer_key,
    inclusion_proof,
    leaf_hash,
    sign_checkpoint,
)
from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.core.tsp.request import build_request
from timeseal.server.certificate.sign import CertificateSigner
from timeseal.server.runtime.platform_keys import DocumentSigner

ORIGIN = "timeseal.test/log"
GEN_TIME = NOW + dt.timedelta(minutes=1)
CAPTURE = CaptureWindow(NOW - dt.timedelta(minutes=10), NOW - dt.timedelta(seconds=30))
CASE = {"number": "CASE-2026-0001", "title": "快递面单泄露个人信息 / parcel label leak"}


def number_with_check(check_symbols: str, start: int = 0) -> str:
    """An evidence number whose check symbol is one of ``check_symbols``: a number minted
    today, or one minted before 2026-12 (Crockford's mod-37 check) for ``*~$=U``, which
    packages of such numbers still have to name safely."""
    for i in range(start, start + 10_000):
        symbols = "".join("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(i >> (5 * k)) & 31] for k in range(7))
        number = new_evidence_number(NOW.date(), symbols)
        if set(check_symbols) & set("*~$=U"):
            number = number[:-1] + legacy_check_symbol(f"{NOW.date():%Y%m%d}", symbols)
        if number[-1] in check_symbols:
            return number
    raise AssertionError("no such number")


def pattern(seed: str, size: int) -> bytes:
    """``size`` deterministic pseudo-random bytes."""
    return hashlib.shake_256(seed.encode()).digest(size)


@dataclass(frozen=True)
class Spec:
    number: str
    kind: str
    original_name: str
    data: bytes
    media_type: str


def three_specs() -> list[Spec]:
    """A photo, a video (several MiB) and a web capture; the photo's number ends in ``$``."""
    return [
        Spec(number_with_check("$"), "photo", "IMG 0001 (快递面单).jpg",
             b"\xff\xd8\xff\xe0" + pattern("photo", 300_000), "image/jpeg"),
        Spec(number_with_check("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 1), "video",
             "客服聊天录屏.mp4", pattern("video", 5 << 20), "video/mp4"),
        Spec(number_with_check("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 2), "web-capture",
             "shop.example/order?id=42.wacz", b"PK" + pattern("wacz", 80_000), "application/wacz"),
    ]  # fmt: skip


@dataclass(frozen=True)
class _Reply:
    der: bytes
    granted: bool = True


class _Responder:
    """The sealer's TSA, answering the certificate signer as the server's TSA service does."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    async def respond(self, body: bytes) -> _Reply:
        self.sealer.serial += 1
        request = self.sealer.authority.check(body)
        issued = self.sealer.authority.issue(
            request, gen_time=GEN_TIME, serial_number=self.sealer.serial
        )
        return _Reply(issued.response_der)


def bytes_opener(data: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(data)


class Sealer:
    """TSA + log. ``stamp`` is the callable the builder takes for the manifest token."""

    def __init__(
        self,
        pki: PKIFixture,
        *,
        key: SignerKey | None = None,
        filler: int = 5,
        witness: SignerKey | None = None,
    ) -> None:
        self.pki = pki
        self.witness = witness
        self.authority: TimeStampAuthority = pki.authority()
        self.key = key or generate_signer_key(ORIGIN)
        self.leaves = [f"other entry {i}".encode() for i in range(filler)]
        self.serial = 0x1000
        self._certificate_signer: CertificateSigner | None = None
        self._document_signer: DocumentSigner | None = None

    @property
    def document_signer(self) -> DocumentSigner:
        """The platform's document-signing key and chain (it signs manifests and PDFs)."""
        if self._document_signer is None:
            issued = pki.create_document_signing_key_and_certificate(self.pki.root, now=NOW)
            assert isinstance(issued.key, ec.EllipticCurvePrivateKey)
            self._document_signer = DocumentSigner(
                issued.key, (issued.certificate, self.pki.root.certificate)
            )
        return self._document_signer

    def sign(self, manifest: bytes) -> bytes:
        """The platform's signature over ``manifest``, as the server makes it."""
        identity = self.document_signer
        return sign_detached(
            manifest, KeySigner(identity.key), identity.chain, signing_time=GEN_TIME,
            stamp=self.stamp,
        )  # fmt: skip

    def stamp(self, digest: bytes) -> bytes:
        self.serial += 1
        request = self.authority.check(build_request(digest, nonce=self.serial).der)
        return self.authority.issue(
            request, gen_time=GEN_TIME, serial_number=self.serial
        ).response_der

    def certificate(self, number: str) -> bytes:
        """A real certificate PDF for ``number``: a one-page PDF signed (PAdES) by a
        document-signing certificate of this PKI's root and document-timestamped by its TSA,
        as the server signs certificates (the layout does not matter here)."""
        if self._certificate_signer is None:
            self._certificate_signer = CertificateSigner(self.document_signer, _Responder(self))
        page = FPDF()
        page.add_page()
        page.set_font("helvetica", size=14)
        page.cell(text=f"TimeSeal certificate {number}")
        return asyncio.run(self._certificate_signer.sign(bytes(page.output()), number=number))

    def token_der(self, response_der: bytes) -> bytes:
        from timeseal.core.tsp.response import parse_response

        token = parse_response(response_der).token
        assert token is not None
        return token.der

    def items(
        self,
        specs: Sequence[Spec],
        *,
        opener: Callable[[Spec], Callable[[], BinaryIO]] | None = None,
        certificate: bool = True,
    ) -> list[PackageItem]:
        tokens, indices = [], []
        for spec in specs:
            digest = hashlib.sha256(spec.data).digest()
            token = self.stamp(digest)
            entry = EvidenceEntry(
                spec.number, spec.kind, digest, len(spec.data),
                hashlib.sha256(self.token_der(token)).digest(),
            )  # fmt: skip
            indices.append(len(self.leaves))
            self.leaves.append(format_entry(entry))
            self.leaves.append(b"a later entry")
            tokens.append(token)
        proofs = self.proofs(indices)
        return [
            PackageItem(
                number=spec.number,
                kind=spec.kind,
                original_name=spec.original_name,
                size=len(spec.data),
                sha256=hashlib.sha256(spec.data).digest(),
                open=(opener or (lambda s: bytes_opener(s.data)))(spec),
                token=token,
                log_proof=proof,
                title=f"{spec.kind} 证据",
                media_type=spec.media_type,
                certificate_pdf=self.certificate(spec.number) if certificate else None,
                capture_window=CAPTURE,
                capture={"device": {"model": "Pixel 8", "os": "Android 15"}, "operator": "user-1"},
                custody=({"at": "2026-11-29T10:59:40Z", "event": "uploaded", "by": "user-1"},),
            )
            for spec, token, proof in zip(specs, tokens, proofs, strict=True)
        ]  # fmt: skip

    def proofs(self, indices: Sequence[int]) -> list[bytes]:
        hashes = MemoryHashes([leaf_hash(x) for x in self.leaves])
        size = len(self.leaves)
        signed = sign_checkpoint(Checkpoint(ORIGIN, size, hashes.state.root_hash), self.key)
        if self.witness is not None:
            signed = cosign_checkpoint(signed, self.witness, at=GEN_TIME)
        return [
            format_tlog_proof(
                TlogProof(i, inclusion_proof(hashes, leaf_index=i, tree_size=size), signed,
                          extra=self.leaves[i])
            )
            for i in indices
        ]  # fmt: skip

    def build(
        self,
        items: Sequence[PackageItem],
        *,
        case: bool | JSONObject = True,
        sealed_at: dt.datetime = GEN_TIME,
        stamp: Callable[[bytes], bytes] | None = None,
        sign: Callable[[bytes], bytes] | None = None,
        out: io.BytesIO | None = None,
    ) -> bytes:
        """The package of ``items``: a case package of :data:`CASE` (or of the ``case`` given),
        an item package for ``case=False``; written to ``out`` when given."""
        out = io.BytesIO() if out is None else out
        build_package(
            out,
            items,
            tsa_chain=self.pki.chain,
            log_key=self.key.verifier_key,
            sealed_at=sealed_at,
            stamp=stamp or self.stamp,
            sign=sign or self.sign,
            case=case if isinstance(case, dict) else CASE if case else None,
        )
        return out.getvalue()


def members(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def rezip(files: dict[str, bytes]) -> bytes:
    """A package with these members, in this order (STORED), as a tamperer would make it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def flip(data: bytes, at: int | None = None) -> bytes:
    """``data`` with one bit of one byte flipped (by default in the middle)."""
    i = len(data) // 2 if at is None else at
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def chunks(seed: str, size: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    block = pattern(seed, chunk)
    for start in range(0, size, chunk):
        yield block[: min(chunk, size - start)]
