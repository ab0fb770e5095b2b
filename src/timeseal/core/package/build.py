"""Sealing an evidence package: stream the items into a deterministic ZIP, then timestamp and
sign the manifest through callables the caller supplies (the core never talks to a network and
holds no key).

The same inputs give byte-identical packages: fixed member order (items in the order given,
then every other listed file by path, then ``manifest.json``, ``proofs/manifest.tsr`` and
``proofs/manifest.p7s``), fixed dates and modes (see :mod:`timeseal.core.package._zip`),
canonical JSON. The caller's ``stamp`` and ``sign`` are called once each, only after every
item's bytes were read and matched; any failure before the end leaves the output stream as it
was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from timeseal.core._cms import message_digest_check, signed_attributes
from timeseal.core.cades.verify import parse_signed_data
from timeseal.core.errors import MalformedError, TimeSealError
from timeseal.core.package import layout
from timeseal.core.package._zip import DeterministicZipWriter
from timeseal.core.package.canonical import JSONObject, JSONValue, check_json_bounds
from timeseal.core.package.manifest import (
    MAX_MANIFEST_SIZE,
    CaptureWindow,
    FileEntry,
    Manifest,
    ManifestItem,
    format_manifest,
)
from timeseal.core.package.verify_md import render_verify_md
from timeseal.core.tlog.note import VerifierKey, format_verifier_key
from timeseal.core.tlog.proof import parse_tlog_proof
from timeseal.core.tsp.response import (
    PKIStatus,
    TimeStampResponse,
    granted_response,
    parse_response,
)

#: Returns a fresh binary stream over the item's bytes, positioned at the start.
Opener = Callable[[], BinaryIO]
#: Takes the SHA-256 of manifest.json and returns an RFC 3161 TimeStampResp or token (DER).
Stamp = Callable[[bytes], bytes]
#: Takes manifest.json's bytes and returns the platform's detached CAdES signature over them
#: (a DER CMS ContentInfo with a signature timestamp: docs/package-format.md).
Sign = Callable[[bytes], bytes]

CHUNK_SIZE = 4 << 20


class ContentMismatch(TimeSealError, ValueError):
    """An item's bytes are not the ones the caller vouched for (size or SHA-256)."""

    def __init__(self, number: str, what: str, expected: str, got: str) -> None:
        super().__init__(f"{number}: {what} mismatch: expected {expected}, read {got}")
        self.number = number
        self.what = what


@dataclass(frozen=True, slots=True)
class PackageItem:
    """One item to seal: where its bytes come from and what the caller already knows.

    ``size`` and ``sha256`` are what the vault recorded; the builder re-reads the bytes and
    refuses to seal if they differ. ``token`` is the item's RFC 3161 TimeStampResp (or bare
    token) over ``sha256``; ``log_proof`` its C2SP tlog-proof (with the item's
    ``timeseal/evidence/v1`` entry in ``extra``).
    """

    number: str
    kind: str
    original_name: str
    size: int
    sha256: bytes
    open: Opener
    token: bytes
    log_proof: bytes
    title: str = ""
    media_type: str = "application/octet-stream"
    certificate_pdf: bytes | None = None
    supersedes: str | None = None
    capture_window: CaptureWindow | None = None
    capture: JSONObject = field(default_factory=dict)
    custody: tuple[JSONValue, ...] = ()


def build_package(
    out: BinaryIO,
    items: Sequence[PackageItem],
    *,
    tsa_chain: Sequence[x509.Certificate],
    log_key: VerifierKey,
    sealed_at: dt.datetime,
    stamp: Stamp,
    sign: Sign,
    case: JSONObject | None = None,
) -> Manifest:
    """Write one package to ``out`` (seekable) and return its manifest.

    An item package when ``case`` is None (exactly one item), else a case package. Raises
    ``ContentMismatch`` when an item's bytes do not match, ``ValueError`` for inputs that
    could never verify (a token over another hash, a token that is not granted, a malformed
    log proof, a signature that is not a detached signature over the manifest) and whatever
    ``stamp`` and ``sign`` raise; in every case ``out`` is left as it was.
    """
    if not tsa_chain:
        raise ValueError("tsa_chain must hold the TSA certificate and its issuers")
    is_case = case is not None
    tokens = {i.number: _response_der(i.token, i.sha256, i.number) for i in items}
    entries = [_manifest_item(i, is_case) for i in items]
    small = _small_files(items, entries, tokens, tsa_chain=tsa_chain, log_key=log_key)
    listed = [FileEntry(e.path, e.size, e.sha256) for e in entries]
    listed += [FileEntry(p, len(d), hashlib.sha256(d).digest()) for p, d in small.items()]
    small[layout.VERIFY_MD] = render_verify_md(
        entries,
        sorted(listed, key=lambda f: f.path),
        tsa_chain=tsa_chain,
        log_key=log_key,
        token_times={number: _gen_time(der) for number, der in tokens.items()},
        sealed_at=sealed_at,
    )
    verify_md = small[layout.VERIFY_MD]
    listed.append(FileEntry(layout.VERIFY_MD, len(verify_md), hashlib.sha256(verify_md).digest()))
    manifest = Manifest(
        scope="case" if is_case else "item",
        sealed_at=sealed_at,
        items=tuple(entries),
        files=tuple(sorted(listed, key=lambda f: f.path)),
        log_origin=log_key.name,
        case=case,
    )
    manifest_bytes = _verifiable_manifest_bytes(manifest)
    with DeterministicZipWriter(out) as zf:
        for item, entry in zip(items, entries, strict=True):
            _copy_item(zf, item, entry.path)
        for path in sorted(small):
            zf.write(path, small[path])
        zf.write(layout.MANIFEST, manifest_bytes)
        digest = hashlib.sha256(manifest_bytes).digest()
        zf.write(layout.MANIFEST_TOKEN, _response_der(stamp(digest), digest, layout.MANIFEST))
        zf.write(
            layout.MANIFEST_SIGNATURE, _checked_signature(sign(manifest_bytes), manifest_bytes)
        )
    return manifest


def _small_files(
    items: Sequence[PackageItem],
    entries: Sequence[ManifestItem],
    tokens: dict[str, bytes],
    *,
    tsa_chain: Sequence[x509.Certificate],
    log_key: VerifierKey,
) -> dict[str, bytes]:
    """Every member but the items, VERIFY.md and the manifest's own two: path -> bytes."""
    small: dict[str, bytes] = {
        layout.TSA_CHAIN: b"".join(c.public_bytes(Encoding.PEM) for c in tsa_chain),
        layout.LOG_VKEY: (format_verifier_key(log_key) + "\n").encode("ascii"),
    }
    for item, entry in zip(items, entries, strict=True):
        small[entry.token] = tokens[item.number]
        small[entry.log_proof] = _checked_proof(item)
        if entry.certificate is not None and item.certificate_pdf is not None:
            small[entry.certificate] = item.certificate_pdf
    return small


def _verifiable_manifest_bytes(manifest: Manifest) -> bytes:
    """manifest.json, refused (``ValueError``) when too large or too deep for a verifier."""
    manifest_bytes = format_manifest(manifest)
    if len(manifest_bytes) > MAX_MANIFEST_SIZE:
        raise ValueError(
            f"manifest.json would be {len(manifest_bytes)} bytes; a verifier reads at most "
            f"{MAX_MANIFEST_SIZE} (split the case, or trim capture metadata)"
        )
    try:
        check_json_bounds(manifest_bytes)
    except MalformedError as exc:
        raise ValueError(f"manifest.json would not verify: {exc}") from exc
    return manifest_bytes


def _manifest_item(item: PackageItem, is_case: bool) -> ManifestItem:
    has_pdf = item.certificate_pdf is not None
    return ManifestItem(
        number=item.number,
        kind=item.kind,
        title=item.title,
        original_name=item.original_name,
        media_type=item.media_type,
        path=layout.item_path(item.number, item.original_name),
        size=item.size,
        sha256=item.sha256,
        token=layout.token_path(item.number),
        log_proof=layout.log_proof_path(item.number),
        certificate=layout.certificate_path(item.number, case=is_case) if has_pdf else None,
        supersedes=item.supersedes,
        capture_window=item.capture_window,
        capture=item.capture,
        custody=item.custody,
    )


def _copy_item(zf: DeterministicZipWriter, item: PackageItem, path: str) -> None:
    """Stream the bytes in, hashing as they pass; refuse on a size or SHA-256 mismatch."""
    h = hashlib.sha256()
    size = 0
    with item.open() as source, zf.open(path, item.size) as member:
        while chunk := source.read(CHUNK_SIZE):
            size += len(chunk)
            if size > item.size:
                raise ContentMismatch(item.number, "size", str(item.size), f"more than {size - 1}")
            h.update(chunk)
            member.write(chunk)
    if size != item.size:
        raise ContentMismatch(item.number, "size", str(item.size), str(size))
    if not hmac.compare_digest(h.digest(), item.sha256):
        raise ContentMismatch(item.number, "SHA-256", item.sha256.hex(), h.hexdigest())


def _response_der(der: bytes, digest: bytes, what: str) -> bytes:
    """A granted TimeStampResp over ``digest``; a bare token is wrapped, byte for byte."""
    try:
        response = parse_response(der)
    except TimeSealError:
        try:
            wrapped = granted_response(der)
        except TimeSealError as exc:
            raise ValueError(f"{what}: neither a TimeStampResp nor a token: {exc}") from exc
        response = parse_response(wrapped)
    _require_token_over(response, digest, what)
    return response.der


def _gen_time(response_der: bytes) -> dt.datetime:
    """The genTime of a response :func:`_response_der` accepted (so it parses and is granted)."""
    token = parse_response(response_der).token
    assert token is not None
    return token.tst_info.gen_time


def _require_token_over(response: TimeStampResponse, digest: bytes, what: str) -> None:
    if response.status is not PKIStatus.GRANTED or response.token is None:
        raise ValueError(f"{what}: the timestamp was not granted ({response.status.name})")
    imprint = response.token.tst_info.message_imprint
    if not hmac.compare_digest(imprint, digest):
        raise ValueError(f"{what}: token imprint {imprint.hex()}, expected {digest.hex()}")


def _checked_signature(der: bytes, manifest_bytes: bytes) -> bytes:
    """``der`` if it is a detached CMS signature whose messageDigest is the manifest's."""
    try:
        signed_data = parse_signed_data(der)
    except MalformedError as exc:
        raise ValueError(f"{layout.MANIFEST_SIGNATURE}: {exc}") from exc
    if signed_data["encap_content_info"]["content"].native is not None:
        raise ValueError(f"{layout.MANIFEST_SIGNATURE}: not a detached signature")
    signer_info = signed_data["signer_infos"][0]
    attrs = signed_attributes(signer_info)
    ok, why = message_digest_check(signer_info, attrs, manifest_bytes)
    if not ok:
        raise ValueError(f"{layout.MANIFEST_SIGNATURE}: {why}")
    return der


def _checked_proof(item: PackageItem) -> bytes:
    try:
        parse_tlog_proof(item.log_proof)
    except MalformedError as exc:
        raise ValueError(f"{item.number}: log proof does not parse: {exc}") from exc
    return item.log_proof
