"""Reading a package ZIP once: member names vetted, every member hashed exactly once.

STORED members are read straight from the archive at their data offset, in large chunks, so
that verifying costs about one SHA-256 pass over the bytes (zipfile's reader would add a CRC-32
pass). The local header must name the same file as the central directory; anything else is a
ZIP built to show different files to different readers.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from timeseal.core.package import layout

CHUNK_SIZE = 8 << 20
#: Members kept in memory for parsing (tokens, proofs, PEM, manifest, certificate PDFs).
MAX_KEPT_SIZE = 64 << 20
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class Member:
    """One file of the ZIP as read: size and SHA-256 of its bytes, and the bytes if kept."""

    path: str
    size: int
    sha256: bytes
    data: bytes | None  # None for items/… and anything larger than MAX_KEPT_SIZE
    error: str = ""  # why the bytes could not be read ("" if they could)


@dataclass(slots=True)
class Archive:
    """What :func:`read_archive` found: readable members by name, and every problem."""

    members: dict[str, Member] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_archive(source: BinaryIO, progress: Callable[[int], None] | None = None) -> Archive:
    """Read every member of the ZIP in ``source`` (seekable); raises ``zipfile.BadZipFile``
    (or ``OSError``) only when there is no readable central directory at all."""
    archive = Archive()
    with zipfile.ZipFile(source) as zf:
        seen: dict[str, str] = {}
        for info in zf.infolist():
            name = info.filename
            if name.endswith("/") and info.file_size == 0:
                continue  # a directory entry some re-zipping tools add; it holds nothing
            reason = layout.unsafe_reason(name)
            if reason is None and name.casefold() in seen:
                reason = f"duplicate of {seen[name.casefold()]!r}"
            if reason is None and info.flag_bits & 0x1:
                reason = "encrypted"
            if reason is None and (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):
                reason = "not a regular file (a symbolic link or device would escape on unzip)"
            if reason is not None:
                archive.problems.append(f"{name!r}: {reason}")
                continue
            seen[name.casefold()] = name
            archive.members[name] = _read_member(zf, source, info, progress)
            if archive.members[name].error:
                archive.problems.append(f"{name!r}: {archive.members[name].error}")
    return archive


def _read_member(
    zf: zipfile.ZipFile,
    source: BinaryIO,
    info: zipfile.ZipInfo,
    progress: Callable[[int], None] | None,
) -> Member:
    keep = not info.filename.startswith("items/") and info.file_size <= MAX_KEPT_SIZE
    h = hashlib.sha256()
    kept: list[bytes] = []
    size = 0
    try:
        chunks: Iterator[bytes | memoryview]
        if info.compress_type == zipfile.ZIP_STORED:
            chunks = _stored_chunks(source, info)
        else:
            chunks = _inflated_chunks(zf, info)
        for chunk in chunks:
            h.update(chunk)
            size += len(chunk)
            if keep:
                kept.append(bytes(chunk))
            if progress is not None:
                progress(len(chunk))
    except (OSError, zipfile.BadZipFile, NotImplementedError, ValueError, EOFError) as exc:
        return Member(info.filename, size, h.digest(), None, f"unreadable: {exc}")
    return Member(info.filename, size, h.digest(), b"".join(kept) if keep else None)


def _stored_chunks(source: BinaryIO, info: zipfile.ZipInfo) -> _Chunks:
    source.seek(info.header_offset)
    header = source.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise zipfile.BadZipFile("truncated local header")
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_MAGIC:
        raise zipfile.BadZipFile("bad local header signature")
    name_length, extra_length = fields[9], fields[10]
    raw_name = source.read(name_length)
    encoding = "utf-8" if fields[2] & 0x800 else "cp437"
    if raw_name.decode(encoding, "replace") != info.filename:
        raise zipfile.BadZipFile("local header names another file than the central directory")
    source.seek(extra_length, 1)
    return _Chunks(source, info.file_size)


class _Chunks:
    """``remaining`` bytes from ``source`` in CHUNK_SIZE pieces, into one reused buffer."""

    def __init__(self, source: BinaryIO, remaining: int) -> None:
        self._source = source
        self._remaining = remaining
        self._buffer = bytearray(min(CHUNK_SIZE, max(remaining, 1)))

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> memoryview:
        if self._remaining == 0:
            raise StopIteration
        view = memoryview(self._buffer)[: min(self._remaining, len(self._buffer))]
        got = self._source.readinto(view)  # type: ignore[attr-defined]
        if not got:
            raise EOFError("member data is truncated")
        self._remaining -= got
        return view[:got]


def _inflated_chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Iter:
    return _Iter(zf.open(info))


class _Iter:
    """Chunks from zipfile's own reader (which also checks the CRC-32) for compressed members."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> _Iter:
        return self

    def __next__(self) -> bytes:
        chunk = self._stream.read(CHUNK_SIZE)
        if not chunk:
            self._stream.close()
            raise StopIteration
        return chunk
