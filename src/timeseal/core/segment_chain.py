"""The segment chain of a live-sealed recording (docs/segment-chain.md).

A recording is cut into short segments. Each closed segment is hashed into a chain, and the
chain's head is timestamped now and then, so a recording cut off at any moment still proves
every segment up to the last timestamped head::

    link[-1] = SHA-256(TAG_START || recording_id)                        (16 bytes of id)
    link[i]  = SHA-256(TAG_SEGMENT || link[i-1] || u64(i) || u64(size_i) || SHA-256(segment_i))
    link[n]  = SHA-256(TAG_END || link[n-1] || u64(n) || u64(size) || SHA-256(recording))

``u64`` is an unsigned 64-bit big-endian integer. The tags end in NUL, so none is a prefix of
another, and each preimage has one fixed length per tag: no two different inputs share a
preimage. The end link (written only at a normal stop) binds the concatenated, playable file.

A head is timestamped by an RFC 3161 token whose messageImprint (SHA-256) *is* the link, so
``openssl ts -verify -digest <link hex>`` checks it with no TimeSeal software.

The chain file is one canonical-JSON object per line (see ``format_*``), appended and fsync'd
line by line. This module is pure: formatting, parsing and link maths. Writing the journal is
``timeseal.capture.recording.chain_journal``; verifying is :mod:`timeseal.core.segment_verify`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from timeseal.core.errors import MalformedError
from timeseal.core.package.canonical import format_canonical_json, parse_canonical_json

FORMAT = "timeseal-segment-chain/1"
TAG_START = b"timeseal/segment-chain/v1/start\x00"
TAG_SEGMENT = b"timeseal/segment-chain/v1/segment\x00"
TAG_END = b"timeseal/segment-chain/v1/end\x00"
RECORDING_ID_BYTES = 16
#: Segment and recording file names: plain names, no directories, nothing hidden.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_MAX_U64 = 2**64 - 1
#: A sanity cap on the chain file (a 10-hour recording of 1-second segments is ~6 MB).
MAX_CHAIN_BYTES = 64 * 1024 * 1024


def _u64(value: int) -> bytes:
    if not 0 <= value <= _MAX_U64:
        raise ValueError(f"{value} does not fit an unsigned 64-bit integer")
    return value.to_bytes(8, "big")


def _require_digest(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ValueError(f"{what} must be 32 raw bytes")


def start_link(recording_id: bytes) -> bytes:
    """link[-1]: SHA-256(TAG_START || recording_id), binding the chain to one recording."""
    if not isinstance(recording_id, bytes) or len(recording_id) != RECORDING_ID_BYTES:
        raise ValueError(f"recording_id must be {RECORDING_ID_BYTES} raw bytes")
    return hashlib.sha256(TAG_START + recording_id).digest()


def segment_link(previous: bytes, index: int, size: int, sha256: bytes) -> bytes:
    """link[i] = SHA-256(TAG_SEGMENT || link[i-1] || u64(i) || u64(size) || SHA-256(seg))."""
    _require_digest(previous, "previous link")
    _require_digest(sha256, "segment SHA-256")
    return hashlib.sha256(TAG_SEGMENT + previous + _u64(index) + _u64(size) + sha256).digest()


def end_link(previous: bytes, count: int, size: int, sha256: bytes) -> bytes:
    """link[n] = SHA-256(TAG_END || link[n-1] || u64(n) || u64(size) || SHA-256(recording))."""
    _require_digest(previous, "previous link")
    _require_digest(sha256, "recording SHA-256")
    return hashlib.sha256(TAG_END + previous + _u64(count) + _u64(size) + sha256).digest()


@dataclass(frozen=True, slots=True)
class ChainHeader:
    """Line 1: ``{"format":…,"recording_id":<32 hex>,"start":<link[-1] hex>}``."""

    recording_id: bytes

    def __post_init__(self) -> None:
        start_link(self.recording_id)  # validates

    @property
    def start(self) -> bytes:
        return start_link(self.recording_id)


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """One closed segment: ``{"index","link","name","sha256","size"}``."""

    index: int
    name: str
    size: int
    sha256: bytes
    link: bytes

    def __post_init__(self) -> None:
        _u64(self.index)
        _u64(self.size)
        _require_digest(self.sha256, "sha256")
        _require_digest(self.link, "link")
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"unsafe segment name {self.name!r}")


@dataclass(frozen=True, slots=True)
class EndRecord:
    """The last line at a normal stop: ``{"end","link","segments","sha256","size"}`` where
    ``end`` names the concatenated recording."""

    name: str
    segments: int
    size: int
    sha256: bytes
    link: bytes

    def __post_init__(self) -> None:
        _u64(self.segments)
        _u64(self.size)
        _require_digest(self.sha256, "sha256")
        _require_digest(self.link, "link")
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"unsafe recording name {self.name!r}")


@dataclass(frozen=True, slots=True)
class SegmentChain:
    """A parsed chain file. ``torn_tail`` is true when the file ended in a partial line (a
    write cut off by a crash); that line is ignored."""

    header: ChainHeader
    segments: tuple[SegmentRecord, ...]
    end: EndRecord | None = None
    torn_tail: bool = False

    @property
    def head_before_end(self) -> bytes:
        """The last segment's link, else link[-1]: what the end link chains from."""
        return self.segments[-1].link if self.segments else self.header.start

    @property
    def head(self) -> bytes:
        """The newest link: the end link, else :attr:`head_before_end`."""
        return self.end.link if self.end is not None else self.head_before_end


def format_header(header: ChainHeader) -> bytes:
    return _line(
        {"format": FORMAT, "recording_id": header.recording_id.hex(), "start": header.start.hex()}
    )


def format_segment(record: SegmentRecord) -> bytes:
    return _line(
        {
            "index": record.index,
            "link": record.link.hex(),
            "name": record.name,
            "sha256": record.sha256.hex(),
            "size": record.size,
        }
    )


def format_end(record: EndRecord) -> bytes:
    return _line(
        {
            "end": record.name,
            "link": record.link.hex(),
            "segments": record.segments,
            "sha256": record.sha256.hex(),
            "size": record.size,
        }
    )


def _line(value: dict[str, str | int]) -> bytes:
    return format_canonical_json(value) + b"\n"


def parse_segment_chain(data: bytes) -> SegmentChain:
    """Parse a chain file strictly: canonical lines, a header first, indices 0, 1, 2, … in
    order, unique names, at most one end line and nothing after it.

    The links are *not* recomputed here (that needs the segments' bytes and is
    :func:`timeseal.core.segment_verify.verify_segment_chain`'s job). ``MalformedError``
    says what is wrong.
    """
    if not isinstance(data, bytes):
        raise TypeError("data must be bytes")
    if len(data) > MAX_CHAIN_BYTES:
        raise MalformedError(f"chain file larger than {MAX_CHAIN_BYTES} bytes")
    lines = data.split(b"\n")
    torn = lines[-1] != b""
    lines = lines[:-1]  # a final partial line is a torn append; complete lines end in "\n"
    if not lines:
        raise MalformedError("chain file has no header line")
    header = _parse_header(_object(lines[0], 1))
    segments: list[SegmentRecord] = []
    end: EndRecord | None = None
    names: set[str] = set()
    for number, raw in enumerate(lines[1:], start=2):
        obj = _object(raw, number)
        if end is not None:
            raise MalformedError(f"line {number}: a record after the end record")
        if "end" in obj:
            end = _parse_end(obj, number)
            if end.segments != len(segments):
                raise MalformedError(
                    f"line {number}: end record counts {end.segments} segments, "
                    f"the chain has {len(segments)}"
                )
            continue
        record = _parse_segment(obj, number)
        if record.index != len(segments):
            raise MalformedError(
                f"line {number}: segment index {record.index}, expected {len(segments)}"
            )
        if record.name in names:
            raise MalformedError(f"line {number}: segment name {record.name!r} repeats")
        names.add(record.name)
        segments.append(record)
    return SegmentChain(header, tuple(segments), end, torn)


def _object(raw: bytes, number: int) -> dict[str, object]:
    try:
        value, canonical = parse_canonical_json(raw)
    except MalformedError as exc:
        raise MalformedError(f"line {number}: {exc}") from exc
    if not canonical:
        raise MalformedError(f"line {number}: not canonical JSON")
    if not isinstance(value, dict):
        raise MalformedError(f"line {number}: not a JSON object")
    return value


def _fields(obj: dict[str, object], keys: set[str], number: int) -> None:
    if set(obj) != keys:
        raise MalformedError(f"line {number}: keys {sorted(obj)}, expected {sorted(keys)}")


def _hex(obj: dict[str, object], key: str, number: int, size: int = 32) -> bytes:
    value = obj[key]
    if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{2 * size}}}", value):
        raise MalformedError(f"line {number}: {key} must be {size} bytes in lowercase hex")
    return bytes.fromhex(value)


def _int(obj: dict[str, object], key: str, number: int) -> int:
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedError(f"line {number}: {key} must be a non-negative integer")
    return value


def _str(obj: dict[str, object], key: str, number: int) -> str:
    value = obj[key]
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise MalformedError(f"line {number}: {key} must be a plain file name")
    return value


def _parse_header(obj: dict[str, object]) -> ChainHeader:
    _fields(obj, {"format", "recording_id", "start"}, 1)
    if obj["format"] != FORMAT:
        raise MalformedError(f"line 1: format {obj['format']!r}, expected {FORMAT!r}")
    header = ChainHeader(_hex(obj, "recording_id", 1, RECORDING_ID_BYTES))
    start = _hex(obj, "start", 1)
    if start != header.start:
        raise MalformedError(
            f"line 1: start {start.hex()} is not link[-1] {header.start.hex()} of the id"
        )
    return header


def _parse_segment(obj: dict[str, object], number: int) -> SegmentRecord:
    _fields(obj, {"index", "link", "name", "sha256", "size"}, number)
    return SegmentRecord(
        index=_int(obj, "index", number),
        name=_str(obj, "name", number),
        size=_int(obj, "size", number),
        sha256=_hex(obj, "sha256", number),
        link=_hex(obj, "link", number),
    )


def _parse_end(obj: dict[str, object], number: int) -> EndRecord:
    _fields(obj, {"end", "link", "segments", "sha256", "size"}, number)
    return EndRecord(
        name=_str(obj, "end", number),
        segments=_int(obj, "segments", number),
        size=_int(obj, "size", number),
        sha256=_hex(obj, "sha256", number),
        link=_hex(obj, "link", number),
    )


def token_name(head_index: int) -> str:
    """The conventional file name of the token over link[head_index] (``tokens/…``)."""
    return f"head-{head_index:06d}.tsr"
