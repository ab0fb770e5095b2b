"""Live browser recordings over HTTP (``/api/v1/recordings``) and the server clock
(``/api/v1/time``).

A page records with MediaRecorder and sends each timeslice chunk as it comes
(``PUT …/chunks/{index}``, raw bytes); the server chains and timestamps it before answering
(:mod:`timeseal.server.evidence.recordings`), so whatever arrived before a tab closes is sealed.
``POST …/finish`` files the joined recording as an evidence item; ``GET …/chain.zip`` is the
recording directory ``timeseal verify`` checks. Another account's recording is 404, exactly
like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterator
from typing import IO, Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from timeseal.core.package.canonical import MAX_SAFE_INTEGER, format_canonical_json
from timeseal.core.segment_chain import RECORDING_ID_BYTES, start_link
from timeseal.core.text import is_ascii_decimal
from timeseal.server.api.disposition import content_disposition
from timeseal.server.api.errors import ApiError, error_responses
from timeseal.server.api.security import CurrentAccount, client_ip
from timeseal.server.api.state import Recordings
from timeseal.server.api.vault import MAX_ID
from timeseal.server.evidence.recording_files import SEAL_EVERY, rfc3339
from timeseal.server.evidence.recordings import (
    CHUNK_MAX_BYTES,
    ChunkCountMismatch,
    ChunkOutOfOrder,
    RecordingProblem,
    RecordingService,
)
from timeseal.server.evidence.vault import SealingFailed
from timeseal.store.recordings import Recording

_DECIMAL = r"^-?\d{1,3}(\.\d{1,10})?$"
#: MediaRecorder's types, and MPEG-TS for the CLI recorder's ffmpeg segments (``timeseal
#: capture screen|camera --upload``): MPEG-TS segments, too, join by concatenation.
_MEDIA = re.compile(r"^video/(webm|mp4|mp2t)(\s*;.*)?$", re.IGNORECASE)
_RECORDING_ID = re.compile(r"^[0-9a-f]{32}$")
#: Largest ``browser_environment`` (canonical JSON, UTF-8).
MAX_ENVIRONMENT_BYTES = 16 * 1024
NO_STORE = {"Cache-Control": "no-store"}


class Location(BaseModel):
    """Where the browser said it was: decimal degrees as strings (canonical JSON holds no
    floats), and the accuracy radius in metres."""

    model_config = ConfigDict(extra="forbid")
    lat: Annotated[str, Field(pattern=_DECIMAL)]
    lon: Annotated[str, Field(pattern=_DECIMAL)]
    accuracy_m: Annotated[int | None, Field(ge=0, le=10_000_000)] = None


class NewRecordingBody(BaseModel):
    kind: Literal["camera_recording", "screen_recording"]
    mime_type: Annotated[str, Field(max_length=127)]
    title: Annotated[str | None, Field(max_length=255)] = None
    case_id: Annotated[int | None, Field(ge=1, le=MAX_ID)] = None
    location: Location | None = None
    browser_environment: dict[str, Any] = Field(default_factory=dict)
    recording_id: Annotated[str | None, Field(pattern=r"^[0-9a-fA-F]{32}$")] = None

    @field_validator("mime_type")
    @classmethod
    def _video(cls, value: str) -> str:
        if not _MEDIA.match(value.strip()):
            raise ValueError("video/webm…, video/mp4… or video/mp2t only")
        return value.strip()

    @field_validator("browser_environment")
    @classmethod
    def _environment(cls, value: dict[str, Any]) -> dict[str, Any]:
        normalised = canonical_values(value)
        assert isinstance(normalised, dict)
        try:
            size = len(format_canonical_json(normalised))
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        if size > MAX_ENVIRONMENT_BYTES:
            raise ValueError(f"larger than {MAX_ENVIRONMENT_BYTES} bytes")
        return normalised


class FinishBody(BaseModel):
    chunks: Annotated[int, Field(ge=0, le=2**31 - 1)]


class ServerTime(BaseModel):
    now: str  # RFC 3339, UTC, milliseconds, "Z"


class RecordingCreated(BaseModel):
    id: str
    chain_start: str  # link[-1], 64 hex
    next_index: int
    chunk_max_bytes: int
    seal_every: int
    state: str


class ChunkSealed(BaseModel):
    index: int
    size: int
    sha256: str
    link: str
    sealed_through: int
    token_time: str


class RecordingFinished(BaseModel):
    state: Literal["finished"]
    evidence: str


class RecordingStatus(BaseModel):
    id: str
    kind: str
    state: Literal["recording", "finished", "cut_off"]
    chunks: int
    sealed_through: int | None
    last_token_time: str | None
    started_at: str
    ended_at: str | None
    evidence: str | None


def canonical_values(value: Any) -> Any:
    """A JSON value as canonical JSON can hold it: a float that is a whole number becomes an
    integer, any other float (``devicePixelRatio`` 2.625) its decimal text, like the
    coordinates; so do integers beyond ±(2**53 - 1). Nothing is dropped."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
            return int(value)
        return repr(value)
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, dict):
        return {str(k): canonical_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical_values(v) for v in value]
    raise ValueError(f"{type(value).__name__} is not JSON")


def status(recording: Recording) -> dict[str, Any]:
    """The public state of a recording (half-closed states show as what they become)."""
    state = {"finishing": "recording", "cutting_off": "cut_off"}.get(
        recording.state, recording.state
    )
    return {
        "id": recording.id,
        "kind": recording.kind,
        "state": state,
        "chunks": recording.chunks,
        "sealed_through": recording.sealed_through,
        "last_token_time": (
            None if recording.last_token_time is None else rfc3339(recording.last_token_time)
        ),
        "started_at": rfc3339(recording.started_at),
        "ended_at": None if recording.ended_at is None else rfc3339(recording.ended_at),
        "evidence": recording.evidence_number,
    }


def _problem(exc: RecordingProblem) -> ApiError:
    if isinstance(exc, ChunkOutOfOrder | ChunkCountMismatch):
        return ApiError(exc.code, 409, next_index=exc.next_index)
    if exc.code == "quota_exceeded":
        return ApiError(exc.code, 413)
    return ApiError(exc.code, 409)


async def _read_body(request: Request) -> bytes:
    """The chunk's bytes, refusing more than :data:`CHUNK_MAX_BYTES` as soon as it shows."""
    declared = request.headers.get("content-length", "")
    if is_ascii_decimal(declared) and int(declared) > CHUNK_MAX_BYTES:
        raise ApiError("chunk_too_large", 413)
    body = bytearray()
    try:
        async for piece in request.stream():
            body += piece
            if len(body) > CHUNK_MAX_BYTES:
                raise ApiError("chunk_too_large", 413)
    except ClientDisconnect:
        raise ApiError("invalid_request", 400) from None
    if not body:
        raise ApiError("chunk_empty", 400)
    return bytes(body)


def _stream(file: IO[bytes]) -> Iterator[bytes]:
    with file:
        while piece := file.read(1 << 20):
            yield piece


RecordingId = Annotated[str, Path(min_length=32, max_length=32)]
ChunkIndex = Annotated[int, Path(ge=0, le=2**31 - 1)]


def own_recording(
    service: RecordingService, recording_id: str, principal: CurrentAccount
) -> Recording:
    recording = service.store.get(recording_id) if _RECORDING_ID.match(recording_id) else None
    if recording is None or recording.owner_id != principal.account.id:
        raise ApiError("not_found", 404)
    return recording


router = APIRouter(prefix="/api/v1")


@router.get("/time", response_model=ServerTime, tags=["recordings"])
async def server_time() -> JSONResponse:
    """The server clock (UTC, milliseconds), for a page to measure its own offset."""
    now = dt.datetime.now(dt.UTC)
    return JSONResponse({"now": rfc3339(now)}, headers=NO_STORE)


@router.post(
    "/recordings",
    status_code=201,
    response_model=RecordingCreated,
    responses=error_responses(400, 401, 403, 404, 409, 422),
    tags=["recordings"],
)
async def create_recording(
    body: NewRecordingBody, request: Request, principal: CurrentAccount, service: Recordings
) -> JSONResponse:
    """Start a recording: its chain starts at link[-1] of its id (given or random)."""
    owner = principal.account.id
    if body.case_id is not None and service.vault.cases.get(owner, body.case_id) is None:
        raise ApiError("not_found", 404)
    recording_id = (
        bytes.fromhex(body.recording_id)
        if body.recording_id is not None
        else secrets.token_bytes(RECORDING_ID_BYTES)
    )
    declared: dict[str, Any] = {
        "location": None if body.location is None else body.location.model_dump(),
        "browser_environment": body.browser_environment,
    }
    recording = service.create(
        recording_id=recording_id,
        owner_id=owner,
        kind=body.kind,
        mime_type=body.mime_type,
        title=body.title,
        case_id=body.case_id,
        declared=declared,
        client_ip=client_ip(request),
    )
    if recording is None:  # the id exists: a retry of our own create, or not ours
        recording = service.store.get(recording_id.hex())
        assert recording is not None
        if recording.owner_id != owner or recording.kind != body.kind:
            raise ApiError("recording_exists", 409)
    return JSONResponse(
        {
            "id": recording.id,
            "chain_start": start_link(bytes.fromhex(recording.id)).hex(),
            "next_index": recording.chunks,
            "chunk_max_bytes": CHUNK_MAX_BYTES,
            "seal_every": SEAL_EVERY,
            "state": status(recording)["state"],
        },
        status_code=201,
        headers=NO_STORE,
    )


@router.put(
    "/recordings/{recording_id}/chunks/{index}",
    response_model=ChunkSealed,
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    tags=["recordings"],
)
async def put_chunk(
    recording_id: RecordingId,
    index: ChunkIndex,
    request: Request,
    principal: CurrentAccount,
    service: Recordings,
) -> JSONResponse:
    """One chunk's raw bytes: stored, chained, its head timestamped, then answered."""
    recording = own_recording(service, recording_id, principal)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/octet-stream":
        raise ApiError("unsupported_media_type", 415)
    data = await _read_body(request)
    try:
        answer = await service.put_chunk(recording, index, data)
    except RecordingProblem as exc:
        raise _problem(exc) from None
    except SealingFailed as exc:
        raise ApiError(exc.code, 503, retry_after=2) from None
    return JSONResponse(answer.as_json(), headers=NO_STORE)


@router.post(
    "/recordings/{recording_id}/finish",
    response_model=RecordingFinished,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    tags=["recordings"],
)
async def finish_recording(
    recording_id: RecordingId, body: FinishBody, principal: CurrentAccount, service: Recordings
) -> JSONResponse:
    """A normal stop after ``chunks`` chunks: the joined file becomes sealed evidence."""
    recording = own_recording(service, recording_id, principal)
    try:
        done = await service.finish(recording, body.chunks)
    except RecordingProblem as exc:
        raise _problem(exc) from None
    except SealingFailed as exc:
        raise ApiError(exc.code, 503, retry_after=2) from None
    return JSONResponse({"state": "finished", "evidence": done.evidence_number}, headers=NO_STORE)


@router.get(
    "/recordings/{recording_id}",
    response_model=RecordingStatus,
    responses=error_responses(401, 404),
    tags=["recordings"],
)
async def recording_status(
    recording_id: RecordingId, principal: CurrentAccount, service: Recordings
) -> JSONResponse:
    """Where the recording is: chunks chained, how far sealed, the evidence it became."""
    return JSONResponse(status(own_recording(service, recording_id, principal)), headers=NO_STORE)


@router.get(
    "/recordings/{recording_id}/chain.zip",
    responses={200: {"content": {"application/zip": {}}}, **error_responses(401, 404)},
    response_class=Response,
    tags=["recordings"],
)
async def recording_chain(
    recording_id: RecordingId, principal: CurrentAccount, service: Recordings
) -> Any:
    """The recording directory (chain.jsonl, segments/, tokens/, capture.json, …) as a
    ZIP, for ``timeseal verify`` on the unpacked directory."""
    recording = own_recording(service, recording_id, principal)
    file = await anyio.to_thread.run_sync(service.chain_zip, recording)
    name = f"recording-{recording.id}-chain.zip"
    return StreamingResponse(
        _stream(file),
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition(name),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
