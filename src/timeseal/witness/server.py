"""``timeseal witness serve``: a C2SP tlog-witness that anyone can run next to the log.

A witness keeps, for each log its operator has added, the last checkpoint it cosigned, and
cosigns a new checkpoint only if it is signed by the log's key and a consistency proof shows
that it extends that one. A log that shows two different trees to two people cannot get both
cosigned by the same witness; with a few independent witnesses (a law firm, a consumer
association), a forked or rewound log is caught.

The data directory (default ``./timeseal-witness``)::

    witness.key     the cosigning key, PRIVATE+KEY+<name>+<id>+<base64> (mode 0600)
    witness.vkey    its verifier key, name+hex+base64 of type 0x04 (cosignature/v1)
    witness.db      SQLite (WAL, synchronous=FULL): ``logs``, one row per origin, and
                    ``refused``, the validly signed checkpoints refused as inconsistent

HTTP (C2SP tlog-witness; the submission and monitoring prefixes are both ``/``):

- ``POST /add-checkpoint``             the add-checkpoint call
- ``GET /<sha256(origin) hex>/checkpoint``  the last cosigned checkpoint of a log
- ``GET /`` and ``GET /healthz``       a short status, text and JSON

Check-and-update is a compare-and-swap: the request is decided against the row as read, and
the row is updated only ``WHERE origin = ? AND size = ? AND version = ?`` in one transaction.
If another request got there first, nothing is written and the request is decided again
against the new row (usually a 409). So two concurrent requests can never both advance a log,
whichever process or thread serves them, and nothing is cosigned before it is on disk.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from timeseal import __version__
from timeseal.core.errors import MalformedError, TimeSealError
from timeseal.core.files import fsync_dir, write_durably
from timeseal.core.text import is_ascii_decimal
from timeseal.core.tlog import (
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    Note,
    SignatureType,
    SignerKey,
    WitnessStatus,
    decide_add_checkpoint,
    format_cosignature_response,
    format_note,
    format_signer_key,
    format_size_response,
    format_verifier_key,
    generate_signer_key,
    make_cosignature,
    parse_add_checkpoint,
    parse_signer_key,
)
from timeseal.core.tlog.witness import MAX_ADD_CHECKPOINT_SIZE
from timeseal.witness.store import LogRecord, WitnessError, WitnessStore, posix_seconds

log = logging.getLogger("timeseal.witness")

KEY_FILE = "witness.key"
VKEY_FILE = "witness.vkey"
DB_FILE = "witness.db"
_MAX_ATTEMPTS = 1000  # compare-and-swap retries; each failure means another request succeeded


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the data directory ------------------------------------------------------------------------


def default_name() -> str:
    """``<host name>/timeseal-witness``, or ``timeseal-witness`` if the host name is odd."""
    name = f"{socket.gethostname()}/timeseal-witness"
    try:
        generate_signer_key(name, SignatureType.COSIGNATURE_V1)
    except ValueError:
        return "timeseal-witness"
    return name


def _create_key(data_dir: Path, name: str) -> None:
    """Write a new key to ``witness.key`` (mode 0600) unless one is there; race-safe."""
    key = generate_signer_key(name, SignatureType.COSIGNATURE_V1)
    path = data_dir / KEY_FILE
    tmp = data_dir / f"{KEY_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # in case a stale temporary file had another mode
    with os.fdopen(fd, "w") as f:
        f.write(format_signer_key(key) + "\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails if another process created the key first: keep theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    fsync_dir(data_dir)


def load_key(data_dir: Path) -> SignerKey:
    """The witness's cosigning key; refused if others can read the file."""
    path = data_dir / KEY_FILE
    try:
        text = path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessError(f"cannot read the witness key {path}: {exc}") from exc
    mode = path.stat().st_mode & 0o077
    if mode:
        raise WitnessError(f"{path} is readable by others (mode {oct(mode)}); chmod 600 it")
    try:
        key = parse_signer_key(text)
    except TimeSealError as exc:
        raise WitnessError(f"{path}: {exc}") from exc
    if key.signature_type is not SignatureType.COSIGNATURE_V1:
        raise WitnessError(f"{path}: not a cosignature/v1 (0x04) key")
    return key


def initialise(data_dir: Path, *, name: str | None = None) -> SignerKey:
    """Create the key and the database if they do not exist yet; return the key.

    ``name`` is the key name for a new key (default :func:`default_name`); given for an
    existing key, it must be that key's name. Idempotent and safe to run concurrently.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not (data_dir / KEY_FILE).exists():
        _create_key(data_dir, name or default_name())
    key = load_key(data_dir)
    if name is not None and name != key.name:
        raise WitnessError(f"the witness key in {data_dir} is named {key.name!r}, not {name!r}")
    vkey = format_verifier_key(key.verifier_key) + "\n"
    vkey_path = data_dir / VKEY_FILE
    if not vkey_path.exists() or vkey_path.read_text() != vkey:
        write_durably(vkey_path, vkey.encode())
    WitnessStore(data_dir / DB_FILE).create_schema()
    return key


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer to add-checkpoint: status, body, content type."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


class Witness:
    """Decides add-checkpoint requests against the store and cosigns the accepted ones."""

    def __init__(
        self, key: SignerKey, store: WitnessStore, *, clock: Callable[[], dt.datetime] = utc_now
    ) -> None:
        self.key = key
        self.store = store
        self._clock = clock

    @property
    def vkey(self) -> str:
        return format_verifier_key(self.key.verifier_key)

    def add_checkpoint(self, body: bytes) -> Answer:
        """The whole add-checkpoint call on a request body (blocking: run it in a thread)."""
        try:
            request = parse_add_checkpoint(body)
        except MalformedError as exc:
            return _text(WitnessStatus.BAD_REQUEST, f"malformed request: {exc}")
        origin = request.checkpoint.checkpoint.origin
        for _ in range(_MAX_ATTEMPTS):
            record = self.store.get(origin)
            if record is None:
                return _text(WitnessStatus.NOT_FOUND, f"unknown origin {origin!r}")
            answer = self._try(request, body, record)
            if answer is not None:
                return answer
        raise RuntimeError(f"{origin}: gave up after {_MAX_ATTEMPTS} concurrent updates")

    def _try(self, request: AddCheckpointRequest, body: bytes, record: LogRecord) -> Answer | None:
        decision = decide_add_checkpoint(request, log_keys=(record.key,), latest=record.latest)
        origin = record.origin
        if decision.status is WitnessStatus.CONFLICT:
            return Answer(409, format_size_response(record.size), SIZE_CONTENT_TYPE)
        if decision.status is WitnessStatus.UNPROCESSABLE:
            # Validly signed (step 1 passed) yet inconsistent: perhaps proof of a forked log.
            log.warning("refused %s: %s", origin, decision.detail)
            self.store.keep_refused(origin, decision.detail, body, now=self._clock())
        if not decision.accepted:
            return _text(decision.status, decision.detail)
        # Timestamps never go backwards for a log, even if the clock does, and are never 0.
        timestamp = max(posix_seconds(self._clock()), record.cosigned_at, 1)
        at = dt.datetime.fromtimestamp(timestamp, dt.UTC)
        note = request.checkpoint.note
        cosignature = make_cosignature(self.key, note.text, at)
        kept = tuple(s for s in note.signatures if s.is_by(record.key))
        try:
            stored = format_note(Note(note.text, (*kept, cosignature.note_signature)))
        except ValueError as exc:  # a note within a line of the 1 MB limit
            return _text(WitnessStatus.BAD_REQUEST, f"cannot cosign: {exc}")
        if not self.store.advance(record, request.checkpoint.checkpoint, stored, timestamp):
            log.info("%s: another request updated the log first; deciding again", origin)
            return None
        log.info("cosigned %s at size %d", origin, request.checkpoint.checkpoint.size)
        return Answer(200, format_cosignature_response((cosignature.note_signature,)))


def _text(status: int, detail: str) -> Answer:
    return Answer(int(status), (detail + "\n").encode())


# --- HTTP --------------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None if it is longer than ``limit``."""
    declared = request.headers.get("content-length", "")
    if is_ascii_decimal(declared) and int(declared) > limit:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_witness_app(data_dir: Path, *, clock: Callable[[], dt.datetime] = utc_now) -> Starlette:
    """The witness's ASGI app over an initialised data directory (see :func:`initialise`)."""
    witness = Witness(load_key(data_dir), WitnessStore(data_dir / DB_FILE), clock=clock)
    store = witness.store

    async def add_checkpoint(request: Request) -> Response:
        body = await _read_body(request, MAX_ADD_CHECKPOINT_SIZE)
        if body is None:
            return PlainTextResponse("request body too large\n", status_code=413)
        answer = await to_thread.run_sync(witness.add_checkpoint, body)
        return Response(
            answer.body, status_code=answer.status, headers={"content-type": answer.content_type}
        )

    async def monitoring(request: Request) -> Response:
        origin_hash = request.path_params["origin_hash"]
        if len(origin_hash) != 64 or origin_hash.strip("0123456789abcdef"):
            return PlainTextResponse("not an origin hash\n", status_code=404)
        note = await to_thread.run_sync(store.checkpoint_by_origin_hash, origin_hash)
        if note is None:
            return PlainTextResponse("no checkpoint cosigned for that log\n", status_code=404)
        return Response(note, headers={"content-type": "text/plain; charset=utf-8"})

    async def status(_request: Request) -> Response:
        logs = await to_thread.run_sync(store.logs)
        lines = [f"TimeSeal witness {__version__} (C2SP tlog-witness)", f"vkey {witness.vkey}"]
        lines += [f"log {origin} {size}" for origin, size in logs]
        return PlainTextResponse("\n".join(lines) + "\n")

    async def healthz(_request: Request) -> Response:
        logs = await to_thread.run_sync(store.logs)
        refused = await to_thread.run_sync(store.refused_count)
        body = {
            "status": "ok",
            "version": __version__,
            "vkey": witness.vkey,
            "logs": len(logs),
            "refused": refused,
        }
        return JSONResponse(body)

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/", status, methods=["GET"]),
            Route("/{origin_hash}/checkpoint", monitoring, methods=["GET"]),
        ]
    )
