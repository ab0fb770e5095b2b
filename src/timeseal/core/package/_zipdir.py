"""A ZIP's central directory measured before :mod:`zipfile` parses it.

``zipfile.ZipFile`` reads the whole central directory in one piece and builds a ``ZipInfo``
(~400 bytes) per entry at once, so a directory of millions of 46-byte entries costs gigabytes
before any member is looked at. :func:`measure_directory` finds the directory from the end
records (APPNOTE.TXT 4.3.14-4.3.16, ZIP64 included, as zipfile finds it), refuses it when it
is larger than the caller allows, and counts its entries by walking their fixed headers
(APPNOTE.TXT 4.3.12), keeping nothing but the names.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from timeseal.core.errors import MalformedError

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record, 4.3.16
_EOCD_MAGIC = b"PK\x05\x06"
_LOCATOR = struct.Struct("<4sLQL")  # ZIP64 end of central directory locator, 4.3.15
_LOCATOR_MAGIC = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # ZIP64 end of central directory record, 4.3.14
_EOCD64_MAGIC = b"PK\x06\x06"
_ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header, 4.3.12
_ENTRY_MAGIC = b"PK\x01\x02"
_MAX_COMMENT = 0xFFFF


class DirectoryTooLarge(MalformedError):
    """The central directory is larger, or holds more entries, than the caller allows."""


@dataclass(frozen=True, slots=True)
class Directory:
    """Where the central directory lies in the file, and the names of its entries."""

    start: int
    size: int
    names: tuple[bytes, ...]


def measure_directory(source: BinaryIO, *, max_size: int, max_entries: int) -> Directory:
    """The central directory of the ZIP in ``source``; ``MalformedError`` if there is none, or
    if it is larger than ``max_size`` bytes or holds more than ``max_entries`` entries."""
    end = source.seek(0, 2)
    tail_size = min(end, _EOCD.size + _MAX_COMMENT)
    source.seek(end - tail_size)
    tail = source.read(tail_size)
    at = tail.rfind(_EOCD_MAGIC)
    if at < 0 or len(tail) - at < _EOCD.size:
        raise MalformedError("no end of central directory record: not a ZIP")
    eocd_at = end - tail_size + at
    size = _EOCD.unpack_from(tail, at)[5]
    directory_end = eocd_at
    if eocd_at >= _LOCATOR.size + _EOCD64.size:
        source.seek(eocd_at - _LOCATOR.size - _EOCD64.size)
        zip64 = source.read(_EOCD64.size + _LOCATOR.size)
        if zip64[_EOCD64.size :][:4] == _LOCATOR_MAGIC and zip64[:4] == _EOCD64_MAGIC:
            size = _EOCD64.unpack_from(zip64)[8]
            directory_end = eocd_at - _LOCATOR.size - _EOCD64.size
    if size > max_size:
        raise DirectoryTooLarge(
            f"central directory of {size} bytes; a package's is at most {max_size} bytes"
        )
    start = directory_end - size
    if start < 0:
        raise MalformedError("central directory size is larger than the file")
    source.seek(start)
    data = source.read(size)
    names: list[bytes] = []
    pos = 0
    while pos + _ENTRY.size <= len(data) and data[pos : pos + 4] == _ENTRY_MAGIC:
        if len(names) == max_entries:
            raise DirectoryTooLarge(f"more than {max_entries} members; a package has fewer")
        fields = _ENTRY.unpack_from(data, pos)
        name_size, extra_size, comment_size = fields[12], fields[13], fields[14]
        names.append(data[pos + _ENTRY.size : pos + _ENTRY.size + name_size])
        pos += _ENTRY.size + name_size + extra_size + comment_size
    return Directory(start, size, tuple(names))
