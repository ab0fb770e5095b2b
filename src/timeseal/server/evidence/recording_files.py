"""The recording directory of docs/segment-chain.md, for a recording the server chained:
``chain.jsonl``, ``capture.json``, file names, and the whole directory as a ZIP.

Pure formatting over the store's rows, except :func:`chain_zip`, which reads the segments and
the joined file from the blob store as it writes them into the archive.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import zipfile
from typing import IO, Any

from timeseal.core.package.canonical import format_canonical_json
from timeseal.core.segment_chain import (
    ChainHeader,
    EndRecord,
    SegmentRecord,
    format_end,
    format_header,
    format_segment,
    start_link,
    token_name,
)
from timeseal.store.blobs import BlobStore
from timeseal.store.recordings import Chunk, Recording

CAPTURE_FORMAT = "timeseal-capture/1"
#: The timeslice the page is asked to use, in seconds: each chunk is sealed when it arrives,
#: so this is the longest stretch of a recording that a dying phone can lose.
SEAL_EVERY = 30
#: A chain.zip larger than this is spooled to a temporary file instead of memory.
_SPOOL_BYTES = 32 * 1024 * 1024


def rfc3339(t: dt.datetime) -> str:
    """UTC with milliseconds and ``Z``: ``2026-11-29T17:20:00.123Z``."""
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def extension(mime_type: str) -> str:
    """The file extension of a recording's media type (``video/webm;codecs=…`` -> webm;
    ``video/mp2t``, the CLI recorder's MPEG-TS segments -> ts)."""
    base = mime_type.split(";")[0].strip().lower()
    return {"video/mp4": "mp4", "video/mp2t": "ts"}.get(base, "webm")


def _source(mime_type: str) -> dict[str, str]:
    """Who sent the chunks: the CLI recorder sends MPEG-TS segments, a page MediaRecorder's."""
    if extension(mime_type) == "ts":
        return {"kind": "timeseal-cli", "description": "ffmpeg MPEG-TS segments"}
    return {"kind": "browser", "description": "MediaRecorder"}


def segment_name(recording: Recording, index: int) -> str:
    return f"seg_{index:06d}.{extension(recording.mime_type)}"


def joined_name(recording: Recording) -> str:
    return f"recording.{extension(recording.mime_type)}"


def chain_file(recording: Recording, chunks: list[Chunk]) -> bytes:
    """chain.jsonl: the header, one line per chained chunk, the end line after a normal
    stop (docs/segment-chain.md "The chain file")."""
    lines = [format_header(ChainHeader(bytes.fromhex(recording.id)))]
    for chunk in chunks:
        record = SegmentRecord(
            chunk.index, segment_name(recording, chunk.index), chunk.size, chunk.sha256, chunk.link
        )
        lines.append(format_segment(record))
    if recording.end_link is not None:
        assert recording.joined_sha256 is not None and recording.joined_size is not None
        end = EndRecord(
            joined_name(recording),
            len(chunks),
            recording.joined_size,
            recording.joined_sha256,
            recording.end_link,
        )
        lines.append(format_end(end))
    return b"".join(lines)


def capture_metadata(recording: Recording, chunks: list[Chunk]) -> dict[str, Any]:
    """capture.json of the recording, also the filed item's capture metadata: what the
    browser declared, and how far the chain went and was sealed (canonical JSON values)."""
    sealed = [c for c in chunks if c.token_time is not None]
    last_sealed = max(sealed, key=lambda c: c.index) if sealed else None
    if recording.state in ("finishing", "finished"):
        stop = "finished"
    elif recording.state in ("cutting_off", "cut_off"):
        stop = "cut_off"
    else:
        stop = "recording"
    times = [c.token_time for c in sealed if c.token_time is not None]
    if recording.end_token_time is not None:
        times.append(recording.end_token_time)
    return {
        "format": CAPTURE_FORMAT,
        "kind": recording.kind,
        "source": _source(recording.mime_type),
        "recording_id": recording.id,
        "mime_type": recording.mime_type,
        "started_at": rfc3339(recording.started_at),
        "ended_at": None if recording.ended_at is None else rfc3339(recording.ended_at),
        "stop": stop,
        "chunks": len(chunks),
        "seal_every": SEAL_EVERY,
        "chain_start": start_link(bytes.fromhex(recording.id)).hex(),
        "end_link": None if recording.end_link is None else recording.end_link.hex(),
        "first_token_time": rfc3339(min(times)) if times else None,
        "last_token_time": rfc3339(max(times)) if times else None,
        "sealed_through": None if last_sealed is None else last_sealed.index,
        "sealed_through_time": (
            None
            if last_sealed is None or last_sealed.token_time is None
            else rfc3339(last_sealed.token_time)
        ),
        "location": recording.declared.get("location"),
        "browser_environment": recording.declared.get("browser_environment", {}),
        "client_ip": recording.client_ip,
    }


def chain_zip(
    recording: Recording, chunks: list[Chunk], blobs: BlobStore, tsa_chain_pem: bytes
) -> IO[bytes]:
    """The recording directory as a ZIP, rewound: chain.jsonl, segments/, tokens/,
    capture.json, certs/tsa-chain.pem, and the joined recording once finished. Media is
    stored, not deflated (it is compressed already)."""
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("chain.jsonl", chain_file(recording, chunks), zipfile.ZIP_DEFLATED)
        for chunk in chunks:
            name = f"segments/{segment_name(recording, chunk.index)}"
            _add_blob(archive, blobs, name, chunk.sha256)
            if chunk.tsr is not None:
                archive.writestr(f"tokens/{token_name(chunk.index)}", chunk.tsr)
        if recording.end_link is not None and recording.end_tsr is not None:
            archive.writestr(f"tokens/{token_name(len(chunks))}", recording.end_tsr)
        meta = format_canonical_json(capture_metadata(recording, chunks))
        archive.writestr("capture.json", meta, zipfile.ZIP_DEFLATED)
        archive.writestr("certs/tsa-chain.pem", tsa_chain_pem, zipfile.ZIP_DEFLATED)
        if recording.end_link is not None and recording.joined_sha256 is not None:
            _add_blob(archive, blobs, joined_name(recording), recording.joined_sha256)
    out.seek(0)
    return out


def _add_blob(archive: zipfile.ZipFile, blobs: BlobStore, name: str, sha256: bytes) -> None:
    with blobs.open(sha256) as reader, archive.open(name, "w") as member:
        for piece in reader:
            member.write(piece)
