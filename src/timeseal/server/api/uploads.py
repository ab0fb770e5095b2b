"""Uploads into the vault over HTTP: tus 1.0 at ``/api/v1/uploads``.

Uploads follow tus 1.0.0 (https://tus.io/protocols/resumable-upload) with the ``creation``,
``checksum`` (sha256), ``termination`` and ``expiration`` extensions; the protocol's headers
and ``Upload-Metadata`` are :mod:`.tus`. When the last byte arrives the file goes to the blob
store and is sealed; the answer carries ``TimeSeal-Evidence-Number``. A file whose SHA-256
differs from the declared one is refused with 460 and nothing is kept. Other accounts'
uploads are 404, exactly like ones that do not exist.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import secrets
from collections.abc import Iterator

import anyio
import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from timeseal.server.api.errors import ApiError, error_responses
from timeseal.server.api.security import CurrentAccount, client_ip
from timeseal.server.api.state import Vault, VaultSettings
from timeseal.server.api.tus import (
    EVIDENCE_NUMBER_HEADER,
    OFFSET_MEDIA_TYPE,
    TUS_EXTENSIONS,
    TUS_VERSION,
    check_tus,
    int_header,
    tus_headers,
    upload_checksum,
    upload_metadata,
)
from timeseal.server.api.vault import sequenced_record
from timeseal.server.evidence.vault import SealingFailed, SealRequest, UploadGone, VaultService
from timeseal.server.runtime.configuration import VaultConfig
from timeseal.store.blobs import DigestMismatch
from timeseal.store.evidence.rows import UploadRow
from timeseal.store.uploads import (
    ChecksumMismatch,
    PartialUpload,
    UploadBusy,
    UploadFinishing,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
)

#: Body chunks are handed to the writing thread in batches of about this size: a thread hop
#: per 256 KiB instead of one per network read (~64 KiB), with at most one batch waiting, so
#: each upload in flight holds well under a MiB (50 at once stay small).
BODY_BATCH = 256 << 10


def _expiry(config: VaultConfig) -> dt.timedelta:
    return dt.timedelta(hours=config.upload_expiry_hours)


def staged(vault: VaultService, config: VaultConfig, upload_id: str) -> PartialUpload | None:
    """The upload's staging, or None once it was handed over; 410 ``upload_expired``
    when it made no progress for ``upload_expiry_hours`` (housekeeping removes it)."""
    try:
        upload = PartialUpload.open(vault.staging, upload_id)
        if upload.last_activity + _expiry(config) <= dt.datetime.now(dt.UTC):
            raise ApiError("upload_expired", 410, headers=tus_headers())
    except UploadNotFound:
        return None
    return upload


def expires(config: VaultConfig, upload: PartialUpload) -> dict[str, str]:
    """tus expiration: when the upload expires unless more bytes arrive."""
    try:
        when = upload.last_activity + _expiry(config)
    except UploadNotFound:  # finished meanwhile
        return {}
    return {"Upload-Expires": email.utils.format_datetime(when, usegmt=True)}


def own_upload(vault: VaultService, upload_id: str, principal: CurrentAccount) -> UploadRow:
    row = vault.store.upload(upload_id) if len(upload_id) <= 64 else None
    if row is None or row.owner_id != principal.account.id:
        raise ApiError("not_found", 404, headers=tus_headers())
    return row


def received(vault: VaultService, upload_id: str) -> bool:
    """Whether the upload's own bytes reached the blob store (read afresh: the staging
    may have gone because the upload was terminated a moment ago)."""
    current = vault.store.upload(upload_id)
    return current is not None and current.received_at is not None


async def seal_finished(
    vault: VaultService, row: UploadRow, upload: PartialUpload | None, ip: str
) -> str:
    """Hand this upload's own bytes to the blob store (if still staged) and seal them;
    404 if the upload was terminated or expired meanwhile."""
    try:
        blob = await anyio.to_thread.run_sync(vault.receive_upload, row, upload)
    except DigestMismatch:
        vault.store.remove_upload(row.id)
        raise ApiError("sha256_mismatch", 460, headers=tus_headers()) from None
    except UploadBusy:  # another request is finishing it; the client asks again
        raise ApiError("upload_busy", 409, headers=tus_headers()) from None
    except UploadGone:
        raise ApiError("not_found", 404, headers=tus_headers()) from None
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
    except SealingFailed as exc:
        raise ApiError(exc.code, 503, headers=tus_headers()) from None
    return record.number


router = APIRouter(prefix="/api/v1")


@router.options("/uploads", include_in_schema=False)
@router.options("/uploads/{upload_id}", include_in_schema=False)
async def tus_options(config: VaultSettings) -> Response:
    return Response(
        status_code=204,
        headers=tus_headers(
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
async def create_upload(
    request: Request, principal: CurrentAccount, vault: Vault, config: VaultSettings
) -> Response:
    """tus creation: ``Upload-Length`` and ``Upload-Metadata`` (filename, sha256, ...)."""
    check_tus(request)
    length = int_header(request, "upload-length")
    if length > config.max_upload_bytes:
        raise ApiError("upload_too_large", 413, headers=tus_headers())
    meta = upload_metadata(request.headers.get("upload-metadata", ""))
    supersedes = meta.supersedes
    if supersedes is not None:
        try:
            supersedes = sequenced_record(vault, supersedes, principal).number
        except ApiError:
            raise ApiError("invalid_request", 400, headers=tus_headers()) from None
    owner = principal.account.id
    if vault.used_bytes(owner) + length - config.quota_bytes > 0:
        raise ApiError("quota_exceeded", 413, headers=tus_headers())
    upload_id = secrets.token_urlsafe(24)
    row = UploadRow(
        id=upload_id,
        owner_id=owner,
        length=length,
        sha256=meta.sha256,
        filename=meta.filename,
        media_type=meta.media_type,
        kind=meta.kind,
        title=meta.title,
        capture=meta.capture,
        supersedes=supersedes,
        client_ip=client_ip(request),
        created_at=dt.datetime.now(dt.UTC),
    )
    staging = PartialUpload.create(vault.staging, upload_id, length=length)
    vault.store.add_upload(row)
    headers = tus_headers(
        Location=f"/api/v1/uploads/{upload_id}",
        **{"Upload-Offset": "0"},
        **expires(config, staging),
    )
    if length == 0:
        upload = PartialUpload.open(vault.staging, upload_id)
        headers[EVIDENCE_NUMBER_HEADER] = await seal_finished(vault, row, upload, "")
    return Response(status_code=201, headers=headers)


@router.head(
    "/uploads/{upload_id}",
    response_class=Response,  # headers only: no JSON body to document
    responses=error_responses(401, 404, 410),
    tags=["vault"],
)
async def upload_offset(
    upload_id: str, principal: CurrentAccount, vault: Vault, config: VaultSettings
) -> Response:
    """tus: the upload's durable offset (where to resume)."""
    row = own_upload(vault, upload_id, principal)
    headers = tus_headers(**{"Upload-Length": str(row.length)})
    if row.number is not None:
        headers.update({"Upload-Offset": str(row.length), EVIDENCE_NUMBER_HEADER: row.number})
        return Response(status_code=200, headers=headers)
    upload = staged(vault, config, upload_id)
    try:
        offset = row.length if upload is None else upload.offset
    except UploadNotFound:  # finished or discarded meanwhile
        upload, offset = None, row.length
    if upload is None and not received(vault, upload_id):
        raise ApiError("not_found", 404, headers=tus_headers())
    headers["Upload-Offset"] = str(offset)
    if upload is not None:
        headers.update(expires(config, upload))
    return Response(status_code=200, headers=headers)


def _offset_mismatch() -> ApiError:
    return ApiError("upload_offset_mismatch", 409, headers=tus_headers())


async def _append_staged(
    vault: VaultService, row: UploadRow, upload: PartialUpload, offset: int, request: Request
) -> int:
    """Append the request's body to the staged upload; the new durable offset."""
    expected = upload_checksum(request.headers.get("upload-checksum"))
    try:
        return await _append_body(upload, offset, request, expected)
    except ChecksumMismatch:
        raise ApiError("checksum_mismatch", 460, headers=tus_headers()) from None
    except UploadOffsetMismatch:
        raise _offset_mismatch() from None
    except UploadFinishing:  # complete before a crash or a lost reply: finish again
        if offset != row.length:
            raise _offset_mismatch() from None
        return row.length
    except UploadBusy:
        raise ApiError("upload_busy", 409, headers=tus_headers()) from None
    except UploadTooLarge:
        raise ApiError("upload_too_large", 413, headers=tus_headers()) from None
    except UploadNotFound:  # terminated (or finished) while this request began
        if not received(vault, row.id):
            raise ApiError("not_found", 404, headers=tus_headers()) from None
        if offset != row.length:
            raise _offset_mismatch() from None
        return row.length


@router.patch(
    "/uploads/{upload_id}",
    status_code=204,
    responses=error_responses(400, 401, 404, 409, 410, 412, 413, 415, 460),
    tags=["vault"],
)
async def upload_chunk(
    upload_id: str,
    request: Request,
    principal: CurrentAccount,
    vault: Vault,
    config: VaultSettings,
) -> Response:
    """tus: append the body at ``Upload-Offset``; the last byte seals the file."""
    check_tus(request)
    row = own_upload(vault, upload_id, principal)
    if request.headers.get("content-type", "").split(";")[0].strip() != OFFSET_MEDIA_TYPE:
        raise ApiError("unsupported_media_type", 415, headers=tus_headers())
    offset = int_header(request, "upload-offset")
    ip = client_ip(request)
    if row.number is not None:  # a retry after completion: the same record
        if offset != row.length:
            raise _offset_mismatch()
        headers = {"Upload-Offset": str(row.length), EVIDENCE_NUMBER_HEADER: row.number}
        return Response(status_code=204, headers=tus_headers(**headers))
    upload = staged(vault, config, upload_id)
    if upload is None:
        if not received(vault, upload_id):  # terminated or expired, not handed over
            raise ApiError("not_found", 404, headers=tus_headers())
        if offset != row.length:
            raise _offset_mismatch()
        new_offset = row.length
    else:
        new_offset = await _append_staged(vault, row, upload, offset, request)
    headers = tus_headers(**{"Upload-Offset": str(new_offset)})
    if new_offset == row.length:
        headers[EVIDENCE_NUMBER_HEADER] = await seal_finished(vault, row, upload, ip)
    elif upload is not None:
        headers.update(expires(config, upload))
    return Response(status_code=204, headers=headers)


@router.delete(
    "/uploads/{upload_id}",
    status_code=204,
    responses=error_responses(401, 404, 409, 412),
    tags=["vault"],
)
async def terminate_upload(
    upload_id: str, request: Request, principal: CurrentAccount, vault: Vault
) -> Response:
    """tus termination: forget an unfinished upload and its bytes."""
    check_tus(request)
    row = own_upload(vault, upload_id, principal)
    if row.number is not None:  # sealed evidence is never deleted
        raise ApiError("not_found", 404, headers=tus_headers())
    try:
        terminated = await anyio.to_thread.run_sync(vault.terminate_upload, upload_id)
    except UploadBusy:
        raise ApiError("upload_busy", 409, headers=tus_headers()) from None
    if not terminated:  # its bytes are in (it is being sealed), or it is gone already
        raise ApiError("not_found", 404, headers=tus_headers())
    return Response(status_code=204, headers=tus_headers())


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
