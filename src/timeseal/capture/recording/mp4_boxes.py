"""Is an MP4 file finished? ISO/IEC 14496-12 §4.2: a file is a sequence of boxes, each
``size`` (32-bit big-endian; 1: a 64-bit ``largesize`` follows the type; 0: to the end of
the file) and a four-character ``type``. ffmpeg's mp4 muxer writes the ``moov`` box (the index
a player needs) last, when it closes the file, so a file whose top-level boxes tile it exactly
and include ``moov`` was closed normally; one cut off by a crash has no ``moov``, or a box
running past the end. Only the box headers are read, never the media."""

from __future__ import annotations

import struct
from pathlib import Path

_HEADER = struct.Struct(">I4s")
_LARGE = struct.Struct(">Q")


def top_level_boxes(path: Path) -> list[tuple[bytes, int]] | None:
    """(type, size) of each top-level box, or None when the boxes do not tile the file."""
    total = path.stat().st_size
    boxes: list[tuple[bytes, int]] = []
    offset = 0
    with path.open("rb") as f:
        while offset < total:
            f.seek(offset)
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return None
            size, kind = _HEADER.unpack(header)
            if size == 1:
                large = f.read(_LARGE.size)
                if len(large) < _LARGE.size:
                    return None
                (size,) = _LARGE.unpack(large)
            elif size == 0:
                size = total - offset
            if size < _HEADER.size or offset + size > total:
                return None
            boxes.append((kind, size))
            offset += size
    return boxes


def is_finished_mp4(path: Path) -> bool:
    """The file exists, its top-level boxes tile it, and it has ``ftyp``, ``moov`` and
    ``mdat`` (so the muxer closed it)."""
    try:
        boxes = top_level_boxes(path)
    except OSError:
        return False
    kinds = {kind for kind, _ in boxes or ()}
    return {b"ftyp", b"moov", b"mdat"} <= kinds
