"""Sealed records over HTTP: the caller's records at ``/api/v1/evidence``, one record with
its proofs and custody trail, and its bytes (one ``Range`` honoured); and the download helpers
every download of the API and the web pages goes through (:func:`parse_range`,
:func:`content_response`, :func:`blob_response`). Uploads are :mod:`.uploads`. Other accounts'
records are 404, exactly like ones that do not exist.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from timeseal.core.evidence.number import find_by_number
from timeseal.core.tlog.proof import format_tlog_proof
from timeseal.server.api.disposition import content_disposition
from timeseal.server.api.errors import ApiError, error_responses
from timeseal.server.api.public_records import number_refusal
from timeseal.server.api.security import CurrentAccount, client_ip
from timeseal.server.api.state import Vault
from timeseal.server.evidence.vault import VaultService
from timeseal.store.blobs import BlobRef
from timeseal.store.evidence.rows import EvidenceRecord

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
    else, another account's record included, is 404 ``not_found``, but a number whose check
    character is missing or wrong is 400 saying so."""
    record, problem = find_by_number(number, vault.store.get)
    if record is None:
        raise number_refusal(problem)
    if record.owner_id != principal.account.id:
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


def sequenced_record(vault: VaultService, number: str, principal: CurrentAccount) -> EvidenceRecord:
    """:func:`owned_record`, with its log leaf if it was sequenced meanwhile."""
    return vault.sequenced(owned_record(vault, number, principal))


router = APIRouter(prefix="/api/v1")


@router.get(
    "/evidence",
    response_model=EvidenceList,
    responses=error_responses(401, 404),
    tags=["vault"],
)
async def list_evidence(
    principal: CurrentAccount,
    vault: Vault,
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
async def get_evidence(
    number: str, request: Request, principal: CurrentAccount, vault: Vault
) -> Any:
    """A record with its token, log entry, receipt (once sequenced) and custody trail.
    A custody entry stands for ``count`` events from ``at`` to ``last_at`` (share views
    are counted per link, client and day; every other entry is one event)."""
    record = sequenced_record(vault, number, principal)
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
async def evidence_content(
    number: str, request: Request, principal: CurrentAccount, vault: Vault
) -> Any:
    """The file, streamed; one ``Range`` (``bytes=a-b``, ``a-``, ``-n``) is honoured."""
    record = sequenced_record(vault, number, principal)
    start, end, status = parse_range(request.headers.get("range"), record.size)
    vault.store.add_custody(
        record.id,
        "downloaded",
        actor_id=principal.account.id,
        at=dt.datetime.now(dt.UTC),
        client_ip=client_ip(request),
    )
    return content_response(vault, record, start, end, status)


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
