"""The tus 1.0.0 protocol's headers for the uploads API (:mod:`.uploads`): the version check,
the headers every answer carries, decimal and checksum headers, and ``Upload-Metadata`` read
into what a sealed record keeps (https://tus.io/protocols/resumable-upload).

``Upload-Metadata`` must carry ``filename`` and ``sha256`` (the whole file's SHA-256 in hex);
``kind``, ``title``, ``filetype``, ``supersedes`` and ``capture`` are optional. Every refusal
is 400 ``invalid_request``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from timeseal.core.errors import MalformedError
from timeseal.core.log_entry import EVIDENCE_KINDS
from timeseal.core.package import parse_canonical_json
from timeseal.server.api.errors import ApiError
from timeseal.server.api.vault import MAX_ID

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,checksum,termination,expiration"
EVIDENCE_NUMBER_HEADER = "TimeSeal-Evidence-Number"
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"
#: Largest capture metadata object an upload may carry (JSON text, UTF-8).
MAX_CAPTURE_BYTES = 64 * 1024

_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DECIMAL = re.compile(r"[0-9]{1,19}")
#: RFC 6838 §4.2 type/subtype names, optionally with RFC 9110 parameters (a browser's
#: ``Blob.type`` such as ``video/webm;codecs=vp8,opus``); printable ASCII only.
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"""(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[ !#-~]*"|[A-Za-z0-9!#$&^_.+,-]+))*"""
)
#: Characters that reorder or hide text: a file name "invoice\u202egpj.exe" shows as
#: "invoiceexe.jpg". Refused in names, like control characters.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


@dataclass(frozen=True, slots=True)
class UploadMetadata:
    """What ``Upload-Metadata`` says about the file, checked; ``supersedes`` is the number as
    sent (whether it is the caller's is the route's to check)."""

    filename: str
    sha256: bytes
    kind: str
    title: str
    media_type: str
    supersedes: str | None
    capture: dict[str, Any]


def tus_headers(**headers: str) -> dict[str, str]:
    """The headers of every tus answer, with ``headers`` added."""
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **headers}


def check_tus(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise ApiError("tus_version", 412, headers={"Tus-Version": TUS_VERSION})


def _refused() -> ApiError:
    return ApiError("invalid_request", 400, headers=tus_headers())


def int_header(request: Request, name: str) -> int:
    """A non-negative decimal header (tus ``Upload-Length``, ``Upload-Offset``): ASCII digits
    only (``str.isdigit`` also takes "²" and "٣", which ``int`` then refuses), at most what a
    64-bit column holds; 400 otherwise."""
    value = request.headers.get(name, "")
    if not _DECIMAL.fullmatch(value) or int(value) > MAX_ID:
        raise _refused()
    return int(value)


def upload_checksum(header: str | None) -> bytes | None:
    """The SHA-256 of a tus ``Upload-Checksum: sha256 <base64>`` header (None without one);
    400 for another algorithm or a malformed value."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise _refused()
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise _refused() from None
    if len(digest) != hashlib.sha256().digest_size:
        raise _refused()
    return digest


def _parse_metadata(header: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        if not _METADATA_KEY.match(key) or key in values:
            raise ApiError("invalid_request", 400)
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError("invalid_request", 400) from None
    return values


def capture_metadata(text: str | None) -> dict[str, Any]:
    """The ``capture`` upload metadata: a JSON object (device, software, ``started_at`` /
    ``ended_at``, location, environment report, target verification, operation log) kept
    with the record and put into its package, so it must be what a package's canonical JSON
    can hold (integers only: decimals such as coordinates go as strings); 400 if not."""
    if text is None:
        return {}
    data = text.encode()
    if len(data) > MAX_CAPTURE_BYTES:
        raise _refused()
    try:
        value, _ = parse_canonical_json(data)
    except MalformedError:
        raise _refused() from None
    if not isinstance(value, dict):
        raise _refused()
    return dict(value)


def displayable(text: str) -> bool:
    """No control, surrogate or bidirectional-control characters: a file name or title is
    shown on pages and certificates and sent in ``Content-Disposition``, where a line break
    or NUL breaks every download of the file."""
    return not any(unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI_CONTROLS for c in text)


def upload_metadata(header: str) -> UploadMetadata:
    """``Upload-Metadata`` read and checked (see the module's docstring)."""
    meta = _parse_metadata(header)
    filename = meta.get("filename", "").replace("/", "_").replace("\\", "_")[:255]
    sha = meta.get("sha256", "").lower()
    kind = meta.get("kind", "other")
    if not filename or not _HEX64.match(sha) or kind not in EVIDENCE_KINDS:
        raise _refused()
    if not all(displayable(meta.get(key, "")) for key in ("filename", "title")) or not (
        _MEDIA_TYPE.fullmatch(meta.get("filetype") or "a/b")
    ):
        raise _refused()
    media_type = meta.get("filetype") or mimetypes.guess_type(filename)[0]
    return UploadMetadata(
        filename=filename,
        sha256=bytes.fromhex(sha),
        kind=kind,
        title=(meta.get("title") or filename)[:255],
        media_type=(media_type or "application/octet-stream")[:127],
        supersedes=meta.get("supersedes"),
        capture=capture_metadata(meta.get("capture")),
    )
