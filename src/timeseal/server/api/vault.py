"""The vault over HTTP: tus 1.0 uploads at ``/api/v1/uploads`` and records at
``/api/v1/evidence``.

Uploads follow tus 1.0.0 (https://tus.io/protocols/resumable-upload) with the ``creation``,
``checksum`` (sha256) and ``termination`` extensions. ``Upload-Metadata`` must carry ``filename``
and ``sha256`` (the whole file's SHA-256 in hex); ``kind``, ``title``, ``filetype`` and
``supersedes`` are optional. When the last byte arrives the file goes to the blob store and is
sealed; the answer carries ``TimeSeal-Evidence-Number``. A file whose SHA-256 differs from the
declared one is refused with 460 and nothing is kept. Other accounts' uploads and records are
404, exactly like ones that do not exist.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import mimetypes
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, FastAPI, Query
from pydantic import AwareDatetime, BaseModel
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import parse_evidence_number
from timeseal.core.log_entry import EVIDENCE_KINDS
from timeseal.core.package import parse_canonical_json
from timeseal.core.tlog.proof import format_tlog_proof
from timeseal.server.api.disposition import content_disposition
from timeseal.server.api.errors import MESSAGES, ApiError, error_responses
from timeseal.server.api.security import CurrentAccount, client_ip
from timeseal.server.evidence.vault import SealingFailed, SealRequest, UploadGone, VaultService
from timeseal.server.runtime.datadir import VaultConfig
from timeseal.store.blobs import BlobRef, DigestMismatch
from timeseal.store.evidence import EvidenceRecord, UploadRow
from timeseal.store.uploads import (
    ChecksumMismatch,
    PartialUpload,
    UploadBusy,
    UploadFinishing,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,checksum,termination,expiration"
EVIDENCE_NUMBER_HEADER = "TimeSeal-Evidence-Number"
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"
#: Largest numeric id a path or query takes: what a signed 64-bit database column holds.
MAX_ID = 2**63 - 1
#: Media types served as themselves; everything else is application/octet-stream.
INLINE_SAFE = ("image/", "video/", "audio/", "application/pdf")
#: What a download may answer with (:func:`content_response`), for /openapi.json.
CONTENT_MEDIA_TYPES: dict[str, object] = {
    "content": {
        m: {}
        for m in ("application/octet-stream", "image/*", "video/*", "audio/*", "application/pdf")
    }
}

MESSAGES.update(
    {
        "quota_exceeded": (
            "存储空间不足：此次上传会超出账户的存储配额。",
            "Quota exceeded: this upload would take the account past its storage quota.",
        ),
        "upload_too_large": ("文件超过允许的最大大小。", "The file is larger than allowed."),
        "upload_offset_mismatch": (
            "上传偏移量不一致，请先查询当前偏移量（HEAD）。",
            "Upload-Offset does not match the upload; ask for the current one (HEAD).",
        ),
        "upload_busy": ("该上传正在被另一个请求写入。", "Another request is writing this upload."),
        "checksum_mismatch": (
            "数据校验和不一致，本段数据未被接收。",
            "The checksum does not match; this chunk was not accepted.",
        ),
        "sha256_mismatch": (
            "文件的 SHA-256 与声明的不一致，已丢弃。",
            "The file's SHA-256 differs from the declared one; it was discarded.",
        ),
        "tus_version": ("仅支持 tus 1.0.0。", "Only tus 1.0.0 is supported."),
        "sealing_failed": (
            "暂时无法签发时间戳，请稍后重试。",
            "No timestamp can be issued right now; try again later.",
        ),
        "range_not_satisfiable": ("请求的范围无效。", "The requested range is not satisfiable."),
        "upload_expired": (
            "该上传长时间没有进展，已过期；请重新上传。",
            "This upload made no progress for too long and has expired; upload the file again.",
        ),
    }
)

_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class EvidenceSummary(BaseModel):
    number: str
    kind: str
    title: str
    filename: str
    media_type: str
    size: int
    sha256: str
    created_at: dt.datetime
    leaf_index: int | None
    supersedes: str | None


class EvidenceDetail(EvidenceSummary):
    capture: dict[str, Any]
    timestamp_response: str  # base64 of the RFC 3161 TimeStampResp DER
    token_sha256: str
    log_entry: str  # base64 of the log entry the receipt proves
    receipt: str | None  # C2SP tlog-proof text, once sequenced
    custody: list[dict[str, Any]]


class EvidenceList(BaseModel):
    items: list[EvidenceSummary]


def proof_fields(vault: VaultService, record: EvidenceRecord) -> dict[str, Any]:
    """The public facts of a record with what proves them: token, log entry, receipt."""
    receipt = vault.receipt(record)
    return {
        **summary(record),
        "timestamp_response": base64.b64encode(record.tsr_der).decode(),
        "token_sha256": record.token_sha256.hex(),
        "log_entry": base64.b64encode(vault.log_entry(record)).decode(),
        "receipt": None if receipt is None else format_tlog_proof(receipt).decode(),
    }


def owned_record(vault: VaultService, number: str, principal: CurrentAccount) -> EvidenceRecord:
    """The caller's record with this number (in any spelling the parser accepts); anything
    else, another account's record included, is 404 ``not_found``."""
    try:
        record = vault.store.get(parse_evidence_number(number))
    except MalformedError:
        record = None
    if record is None or record.owner_id != principal.account.id:
        raise ApiError("not_found", 404)
    return record


def summary(record: EvidenceRecord) -> dict[str, Any]:
    return {
        "number": record.number,
        "kind": record.kind,
        "title": record.title,
        "filename": record.filename,
        "media_type": record.media_type,
        "size": record.size,
        "sha256": record.content_sha256.hex(),
        "created_at": record.created_at,
        "leaf_index": record.leaf_index,
        "supersedes": record.supersedes,
    }


def _tus(**headers: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **headers}


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


#: Largest capture metadata object an upload may carry (JSON text, UTF-8).
MAX_CAPTURE_BYTES = 64 * 1024


def _capture_metadata(text: str | None) -> dict[str, Any]:
    """The ``capture`` upload metadata: a JSON object (device, software, ``started_at`` /
    ``ended_at``, location, environment report, target verification, operation log) kept
    with the record and put into its package, so it must be what a package's canonical JSON
    can hold (integers only: decimals such as coordinates go as strings); 400 if not."""
    if text is None:
        return {}
    data = text.encode()
    if len(data) > MAX_CAPTURE_BYTES:
        raise ApiError("invalid_request", 400, headers=_tus())
    try:
        value, _ = parse_canonical_json(data)
    except MalformedError:
        raise ApiError("invalid_request", 400, headers=_tus()) from None
    if not isinstance(value, dict):
        raise ApiError("invalid_request", 400, headers=_tus())
    return dict(value)


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


def _displayable(text: str) -> bool:
    """No control, surrogate or bidirectional-control characters: a file name or title is
    shown on pages and certificates and sent in ``Content-Disposition``, where a line break
    or NUL breaks every download of the file."""
    return not any(unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI_CONTROLS for c in text)


def _int_header(request: Request, name: str) -> int:
    """A non-negative decimal header (tus ``Upload-Length``, ``Upload-Offset``): ASCII digits
    only (``str.isdigit`` also takes "²" and "٣", which ``int`` then refuses), at most what a
    64-bit column holds; 400 otherwise."""
    value = request.headers.get(name, "")
    if not _DECIMAL.fullmatch(value) or int(value) > MAX_ID:
        raise ApiError("invalid_request", 400, headers=_tus())
    return int(value)


def include_vault(app: FastAPI, vault: VaultService, config: VaultConfig) -> None:
    """Mount the uploads and evidence endpoints (after ``include_auth``)."""
    router = APIRouter(prefix="/api/v1")

    expiry = dt.timedelta(hours=config.upload_expiry_hours)

    def staged(upload_id: str) -> PartialUpload | None:
        """The upload's staging, or None once it was handed over; 410 ``upload_expired``
        when it made no progress for ``upload_expiry_hours`` (housekeeping removes it)."""
        try:
            upload = PartialUpload.open(vault.staging, upload_id)
            if upload.last_activity + expiry <= dt.datetime.now(dt.UTC):
                raise ApiError("upload_expired", 410, headers=_tus())
        except UploadNotFound:
            return None
        return upload

    def expires(upload: PartialUpload) -> dict[str, str]:
        """tus expiration: when the upload expires unless more bytes arrive."""
        try:
            when = upload.last_activity + expiry
        except UploadNotFound:  # finished meanwhile
            return {}
        return {"Upload-Expires": email.utils.format_datetime(when, usegmt=True)}

    def check_tus(request: Request) -> None:
        if request.headers.get("tus-resumable") != TUS_VERSION:
            raise ApiError("tus_version", 412, headers={"Tus-Version": TUS_VERSION})

    def own_upload(upload_id: str, principal: CurrentAccount) -> UploadRow:
        row = vault.store.upload(upload_id) if len(upload_id) <= 64 else None
        if row is None or row.owner_id != principal.account.id:
            raise ApiError("not_found", 404, headers=_tus())
        return row

    def own_record(number: str, principal: CurrentAccount) -> EvidenceRecord:
        return vault.sequenced(owned_record(vault, number, principal))

    def received(upload_id: str) -> bool:
        """Whether the upload's own bytes reached the blob store (read afresh: the staging
        may have gone because the upload was terminated a moment ago)."""
        current = vault.store.upload(upload_id)
        return current is not None and current.received_at is not None

    async def seal_finished(row: UploadRow, upload: PartialUpload | None, ip: str) -> str:
        """Hand this upload's own bytes to the blob store (if still staged) and seal them;
        404 if the upload was terminated or expired meanwhile."""
        try:
            blob = await anyio.to_thread.run_sync(vault.receive_upload, row, upload)
        except DigestMismatch:
            vault.store.remove_upload(row.id)
            raise ApiError("sha256_mismatch", 460, headers=_tus()) from None
        except UploadBusy:  # another request is finishing it; the client asks again
            raise ApiError("upload_busy", 409, headers=_tus()) from None
        except UploadGone:
            raise ApiError("not_found", 404, headers=_tus()) from None
        try:
            record = await vault.seal(
                blob,
                SealRequest(
                    owner_id=row.owner_id,
                    kind=row.kind,
                    title=row.title,
                    filename=row.filename,
                    media_type=row.media_type,
                    upload_id=row.id,
                    supersedes=row.supersedes,
                    capture=row.capture,
                    client_ip=ip,
                ),
            )
        except SealingFailed:
            raise ApiError("sealing_failed", 503, headers=_tus()) from None
        return record.number

    @router.options("/uploads", include_in_schema=False)
    @router.options("/uploads/{upload_id}", include_in_schema=False)
    async def tus_options() -> Response:
        return Response(
            status_code=204,
            headers=_tus(
                **{
                    "Tus-Version": TUS_VERSION,
                    "Tus-Extension": TUS_EXTENSIONS,
                    "Tus-Max-Size": str(config.max_upload_bytes),
                    "Tus-Checksum-Algorithm": "sha256",
                }
            ),
        )

    @router.post(
        "/uploads", status_code=201, responses=error_responses(400, 401, 412, 413), tags=["vault"]
    )
    async def create_upload(request: Request, principal: CurrentAccount) -> Response:
        """tus creation: ``Upload-Length`` and ``Upload-Metadata`` (filename, sha256, ...)."""
        check_tus(request)
        length = _int_header(request, "upload-length")
        if length > config.max_upload_bytes:
            raise ApiError("upload_too_large", 413, headers=_tus())
        meta = _parse_metadata(request.headers.get("upload-metadata", ""))
        filename = meta.get("filename", "").replace("/", "_").replace("\\", "_")[:255]
        sha = meta.get("sha256", "").lower()
        kind = meta.get("kind", "other")
        if not filename or not _HEX64.match(sha) or kind not in EVIDENCE_KINDS:
            raise ApiError("invalid_request", 400, headers=_tus())
        if not all(_displayable(meta.get(key, "")) for key in ("filename", "title")) or not (
            _MEDIA_TYPE.fullmatch(meta.get("filetype") or "a/b")
        ):
            raise ApiError("invalid_request", 400, headers=_tus())
        supersedes = meta.get("supersedes")
        if supersedes is not None:
            try:
                supersedes = own_record(supersedes, principal).number
            except ApiError:
                raise ApiError("invalid_request", 400, headers=_tus()) from None
        capture = _capture_metadata(meta.get("capture"))
        media_type = meta.get("filetype") or mimetypes.guess_type(filename)[0]
        owner = principal.account.id
        over = vault.used_bytes(owner) + length - config.quota_bytes
        if over > 0:
            raise ApiError("quota_exceeded", 413, headers=_tus())
        upload_id = secrets.token_urlsafe(24)
        row = UploadRow(
            id=upload_id,
            owner_id=owner,
            length=length,
            sha256=bytes.fromhex(sha),
            filename=filename,
            media_type=(media_type or "application/octet-stream")[:127],
            kind=kind,
            title=(meta.get("title") or filename)[:255],
            capture=capture,
            supersedes=supersedes,
            client_ip=client_ip(request),
            created_at=dt.datetime.now(dt.UTC),
        )
        staging = PartialUpload.create(vault.staging, upload_id, length=length)
        vault.store.add_upload(row)
        headers = _tus(
            Location=f"/api/v1/uploads/{upload_id}", **{"Upload-Offset": "0"}, **expires(staging)
        )
        if length == 0:
            number = await seal_finished(row, PartialUpload.open(vault.staging, upload_id), "")
            headers[EVIDENCE_NUMBER_HEADER] = number
        return Response(status_code=201, headers=headers)

    @router.head(
        "/uploads/{upload_id}",
        response_class=Response,  # headers only: no JSON body to document
        responses=error_responses(401, 404, 410),
        tags=["vault"],
    )
    async def upload_offset(upload_id: str, principal: CurrentAccount) -> Response:
        """tus: the upload's durable offset (where to resume)."""
        row = own_upload(upload_id, principal)
        headers = _tus(**{"Upload-Length": str(row.length)})
        if row.number is not None:
            headers.update({"Upload-Offset": str(row.length), EVIDENCE_NUMBER_HEADER: row.number})
            return Response(status_code=200, headers=headers)
        upload = staged(upload_id)
        try:
            offset = row.length if upload is None else upload.offset
        except UploadNotFound:  # finished or discarded meanwhile
            upload, offset = None, row.length
        if upload is None and not received(upload_id):
            raise ApiError("not_found", 404, headers=_tus())
        headers["Upload-Offset"] = str(offset)
        if upload is not None:
            headers.update(expires(upload))
        return Response(status_code=200, headers=headers)

    @router.patch(
        "/uploads/{upload_id}",
        status_code=204,
        responses=error_responses(400, 401, 404, 409, 410, 412, 413, 415, 460),
        tags=["vault"],
    )
    async def upload_chunk(upload_id: str, request: Request, principal: CurrentAccount) -> Response:
        """tus: append the body at ``Upload-Offset``; the last byte seals the file."""
        check_tus(request)
        row = own_upload(upload_id, principal)
        if request.headers.get("content-type", "").split(";")[0].strip() != OFFSET_MEDIA_TYPE:
            raise ApiError("unsupported_media_type", 415, headers=_tus())
        offset = _int_header(request, "upload-offset")
        ip = client_ip(request)
        if row.number is not None:  # a retry after completion: the same record
            if offset != row.length:
                raise ApiError("upload_offset_mismatch", 409, headers=_tus())
            return Response(
                status_code=204,
                headers=_tus(
                    **{"Upload-Offset": str(row.length), EVIDENCE_NUMBER_HEADER: row.number}
                ),
            )
        upload = staged(upload_id)
        if upload is None:
            if not received(upload_id):  # terminated or expired, not handed over
                raise ApiError("not_found", 404, headers=_tus())
            if offset != row.length:
                raise ApiError("upload_offset_mismatch", 409, headers=_tus())
            new_offset = row.length
        else:
            expected = _checksum(request.headers.get("upload-checksum"))
            try:
                new_offset = await _append_body(upload, offset, request, expected)
            except ChecksumMismatch:
                raise ApiError("checksum_mismatch", 460, headers=_tus()) from None
            except UploadOffsetMismatch:
                raise ApiError("upload_offset_mismatch", 409, headers=_tus()) from None
            except UploadFinishing:  # complete before a crash or a lost reply: finish again
                if offset != row.length:
                    raise ApiError("upload_offset_mismatch", 409, headers=_tus()) from None
                new_offset = row.length
            except UploadBusy:
                raise ApiError("upload_busy", 409, headers=_tus()) from None
            except UploadTooLarge:
                raise ApiError("upload_too_large", 413, headers=_tus()) from None
            except UploadNotFound:  # terminated (or finished) while this request began
                if not received(upload_id):
                    raise ApiError("not_found", 404, headers=_tus()) from None
                if offset != row.length:
                    raise ApiError("upload_offset_mismatch", 409, headers=_tus()) from None
                new_offset = row.length
        headers = _tus(**{"Upload-Offset": str(new_offset)})
        if new_offset == row.length:
            headers[EVIDENCE_NUMBER_HEADER] = await seal_finished(row, upload, ip)
        elif upload is not None:
            headers.update(expires(upload))
        return Response(status_code=204, headers=headers)

    @router.delete(
        "/uploads/{upload_id}",
        status_code=204,
        responses=error_responses(401, 404, 409, 412),
        tags=["vault"],
    )
    async def terminate_upload(
        upload_id: str, request: Request, principal: CurrentAccount
    ) -> Response:
        """tus termination: forget an unfinished upload and its bytes."""
        check_tus(request)
        row = own_upload(upload_id, principal)
        if row.number is not None:  # sealed evidence is never deleted
            raise ApiError("not_found", 404, headers=_tus())
        try:
            terminated = await anyio.to_thread.run_sync(vault.terminate_upload, upload_id)
        except UploadBusy:
            raise ApiError("upload_busy", 409, headers=_tus()) from None
        if not terminated:  # its bytes are in (it is being sealed), or it is gone already
            raise ApiError("not_found", 404, headers=_tus())
        return Response(status_code=204, headers=_tus())

    @router.get(
        "/evidence",
        response_model=EvidenceList,
        responses=error_responses(401, 404),
        tags=["vault"],
    )
    async def list_evidence(
        principal: CurrentAccount,
        kind: Annotated[str | None, Query()] = None,
        case: Annotated[
            int | None, Query(ge=1, le=MAX_ID, description="Only the items of this case.")
        ] = None,
        sealed_from: Annotated[
            AwareDatetime | None, Query(description="Sealed at or after this time.")
        ] = None,
        sealed_before: Annotated[
            AwareDatetime | None, Query(description="Sealed before this time.")
        ] = None,
        q: Annotated[
            str | None,
            Query(max_length=100, description="Text in the title, file name or number."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    ) -> dict[str, Any]:
        """The caller's records, newest first, narrowed by every filter given."""
        record_ids = None
        if case is not None:
            record_ids = vault.cases.record_ids_in(principal.account.id, case)
            if record_ids is None:
                raise ApiError("not_found", 404)
        records = vault.store.list_for(
            principal.account.id,
            kind=kind,
            record_ids=record_ids,
            sealed_from=sealed_from,
            sealed_before=sealed_before,
            text=q,
            limit=limit,
            offset=offset,
        )
        return {"items": [summary(r) for r in records]}

    @router.get(
        "/evidence/{number}",
        response_model=EvidenceDetail,
        responses=error_responses(401, 404),
        tags=["vault"],
    )
    async def get_evidence(number: str, request: Request, principal: CurrentAccount) -> Any:
        """A record with its token, log entry, receipt (once sequenced) and custody trail.
        A custody entry stands for ``count`` events from ``at`` to ``last_at`` (share views
        are counted per link, client and day; every other entry is one event)."""
        record = own_record(number, principal)
        now = dt.datetime.now(dt.UTC)
        vault.store.add_custody(
            record.id, "viewed", actor_id=principal.account.id, at=now, client_ip=client_ip(request)
        )
        return {
            **proof_fields(vault, record),
            "capture": record.capture,
            "custody": [
                {
                    "action": e.action,
                    "actor_id": e.actor_id,
                    "at": e.at.isoformat(),
                    "client_ip": e.client_ip,
                    "count": e.count,
                    "last_at": (e.last_at or e.at).isoformat(),
                }
                for e in vault.store.custody(record.id)
            ],
        }

    @router.get(
        "/evidence/{number}/content",
        responses={
            200: CONTENT_MEDIA_TYPES,
            206: CONTENT_MEDIA_TYPES,
            **error_responses(401, 404, 416),
        },
        response_class=Response,
        tags=["vault"],
    )
    async def evidence_content(number: str, request: Request, principal: CurrentAccount) -> Any:
        """The file, streamed; one ``Range`` (``bytes=a-b``, ``a-``, ``-n``) is honoured."""
        record = own_record(number, principal)
        start, end, status = parse_range(request.headers.get("range"), record.size)
        vault.store.add_custody(
            record.id,
            "downloaded",
            actor_id=principal.account.id,
            at=dt.datetime.now(dt.UTC),
            client_ip=client_ip(request),
        )
        return content_response(vault, record, start, end, status)

    app.include_router(router)


def parse_range(spec: str | None, size: int) -> tuple[int, int, int]:
    """``(start, end, status)`` for one ``Range`` header (``bytes=a-b``, ``a-``, ``-n``):
    the whole file with 200 when there is none; 416 ``range_not_satisfiable`` if it is bad."""
    if spec is None:
        return 0, size, 200
    match = _RANGE.match(spec.strip())
    if match is None or match.groups() == ("", ""):
        raise ApiError("range_not_satisfiable", 416, headers={"Content-Range": f"*/{size}"})
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if last == "" else min(size, int(last) + 1)
    if start >= size or end <= start:
        raise ApiError("range_not_satisfiable", 416, headers={"Content-Range": f"*/{size}"})
    return start, end, 206


def content_response(
    vault: VaultService, record: EvidenceRecord, start: int, end: int, status: int
) -> StreamingResponse:
    """The record's bytes ``[start, end)`` as an attachment. Only media types in
    :data:`INLINE_SAFE` are served as themselves, everything else as
    application/octet-stream, always with ``nosniff``."""
    media = record.media_type.lower()
    safe = media if media.startswith(INLINE_SAFE) else "application/octet-stream"
    return blob_response(
        vault,
        BlobRef(record.content_sha256, record.size),
        record.filename,
        safe,
        start,
        end,
        status,
    )


def blob_response(
    vault: VaultService,
    blob: BlobRef,
    filename: str,
    media_type: str,
    start: int,
    end: int,
    status: int,
    *,
    disposition: Literal["attachment", "inline"] = "attachment",
) -> StreamingResponse:
    """Bytes ``[start, end)`` of a blob as an attachment named ``filename`` (in both forms of
    RFC 6266, :mod:`.disposition`; 206 with ``Content-Range`` for a range), its SHA-256 as the
    ETag, never cached by others.
    ``inline`` is for the web app's owner-only previews of images and videos only."""
    headers = {
        "Content-Length": str(end - start),
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": content_disposition(filename, disposition),
        "Cache-Control": "private, no-store",
        "ETag": f'"{blob.sha256.hex()}"',
    }
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
    return StreamingResponse(
        _blob_range(vault, blob.sha256, start, end),
        status_code=status,
        media_type=media_type,
        headers=headers,
    )


def _blob_range(vault: VaultService, sha256: bytes, start: int, end: int) -> Iterator[bytes]:
    if start == end:
        return
    with vault.blobs.open(sha256) as reader:
        yield from reader.read_range(start, end)


async def _next_chunk(stream: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


#: Body chunks are handed to the writing thread in batches of about this size: a thread hop
#: per 256 KiB instead of one per network read (~64 KiB), with at most one batch waiting, so
#: each upload in flight holds well under a MiB (50 at once stay small).
BODY_BATCH = 256 << 10


def _checksum(header: str | None) -> bytes | None:
    """The SHA-256 of a tus ``Upload-Checksum: sha256 <base64>`` header (None without one);
    400 for another algorithm or a malformed value."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise ApiError("invalid_request", 400, headers=_tus())
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise ApiError("invalid_request", 400, headers=_tus()) from None
    if len(digest) != hashlib.sha256().digest_size:
        raise ApiError("invalid_request", 400, headers=_tus())
    return digest


async def _append_body(
    upload: PartialUpload, offset: int, request: Request, expected: bytes | None
) -> int:
    """Append the request body as it arrives, straight into the staged file: the event loop
    reads and batches (:data:`BODY_BATCH`), a worker thread writes (and hashes). With
    ``expected`` (tus checksum) the bytes count only if the whole body matches it; without,
    a client that goes away keeps what arrived (tus), and the answer is the new durable
    offset."""
    send, receive = anyio.create_memory_object_stream[bytes](1)

    async def pump() -> None:
        async with send:
            pending = bytearray()
            async for chunk in request.stream():
                pending += chunk
                if len(pending) >= BODY_BATCH:
                    await send.send(bytes(pending))
                    pending.clear()
            if pending:
                await send.send(bytes(pending))

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                yield anyio.from_thread.run(receive.receive)
            except anyio.EndOfStream:
                return

    disconnected = False

    async def pump_until_gone() -> None:
        nonlocal disconnected
        try:
            await pump()
        except ClientDisconnect:
            disconnected = True

    try:
        async with anyio.create_task_group() as tasks, receive:
            tasks.start_soon(pump_until_gone)
            try:
                written = await anyio.to_thread.run_sync(
                    lambda: upload.append(offset, chunks(), expected_sha256=expected)
                )
            except BaseException:
                tasks.cancel_scope.cancel()
                raise
    except BaseExceptionGroup as group:  # anyio groups even a single error: the writer's
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    if disconnected:  # what arrived is durable (or, with a checksum, nothing counted)
        return upload.offset
    return written
