"""ZIP files built by hand, byte by byte, the way an attacker would (issue 12): members whose
compressed bytes are reused (a "zip bomb": one 64 MiB run of zeros deflates to 64 KiB),
members whose data overlaps, JSON nested past any parser's recursion, directories of
thousands of tiny entries. ``zipfile`` cannot write most of these, so APPNOTE.TXT's records
are packed directly (4.3.7 local file header, 4.3.12 central directory header, 4.3.16 end
of central directory record)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

STORED = 0
DEFLATED = 8
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_UTF8 = 0x800
_DOS_DATE = 0x21  # 1980-01-01
_MODE = 0o100644 << 16


@dataclass(frozen=True, slots=True)
class RawMember:
    """One member as it goes into the ZIP: ``data`` is written as is (already deflated when
    ``method`` is DEFLATED); ``size`` and ``crc`` describe the uncompressed bytes."""

    name: str
    data: bytes
    size: int
    crc: int
    method: int = STORED
    #: Where the central directory says the member starts; None: where it was written.
    header_offset: int | None = None
    #: Written in the central directory only (pointing at another member's bytes).
    central_only: bool = False


def stored(name: str, data: bytes) -> RawMember:
    return RawMember(name, data, len(data), zlib.crc32(data))


def deflated(name: str, data: bytes) -> RawMember:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return RawMember(name, packer.compress(data) + packer.flush(), len(data), zlib.crc32(data), 8)


def deflated_zeros(size: int) -> tuple[bytes, int]:
    """Raw deflate of ``size`` zero bytes (about size/1000 bytes) and their CRC-32, made a
    MiB at a time so building a bomb costs no more memory than the bomb."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    parts, crc = [], 0
    for start in range(0, size, len(block)):
        piece = block[: min(len(block), size - start)]
        parts.append(packer.compress(piece))
        crc = zlib.crc32(piece, crc)
    parts.append(packer.flush())
    return b"".join(parts), crc


def zeros_bomb(names: Sequence[str], size: int) -> list[RawMember]:
    """One DEFLATED member of ``size`` zero bytes per name, all sharing one compressed run."""
    data, crc = deflated_zeros(size)
    return [RawMember(name, data, size, crc, DEFLATED) for name in names]


def write_zip(members: Sequence[RawMember]) -> bytes:
    """The ZIP of ``members``, in order, then their central directory and end record."""
    body = bytearray()
    central = bytearray()
    count = 0
    for m in members:
        name = m.name.encode("utf-8")
        offset = len(body) if m.header_offset is None else m.header_offset
        if not m.central_only:
            body += _LOCAL.pack(
                b"PK\x03\x04", 20, _UTF8, m.method, 0, _DOS_DATE,
                m.crc, len(m.data), m.size, len(name), 0,
            )  # fmt: skip
            body += name + m.data
        central += _CENTRAL.pack(
            b"PK\x01\x02", (3 << 8) | 20, 20, _UTF8, m.method, 0, _DOS_DATE,
            m.crc, len(m.data), m.size, len(name), 0, 0, 0, 0, _MODE, offset,
        )  # fmt: skip
        central += name
        count += 1
    count = min(count, 0xFFFF)  # a 16-bit field; readers walk the directory, not the count
    end = _END.pack(b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)
    return bytes(body + central + end)


def local_header(name: str, data: bytes) -> bytes:
    """The local header and data of a STORED member (to nest inside another's data)."""
    raw = name.encode("utf-8")
    header = _LOCAL.pack(
        b"PK\x03\x04", 20, _UTF8, STORED, 0, _DOS_DATE, zlib.crc32(data), len(data), len(data),
        len(raw), 0,
    )  # fmt: skip
    return header + raw + data


def deep_json(depth: int) -> bytes:
    """``[[[…]]]`` nested ``depth`` deep: 2 bytes a level."""
    return b"[" * depth + b"]" * depth
