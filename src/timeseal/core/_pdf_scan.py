"""Private: find the signature dictionaries of a PDF in its raw bytes, without a PDF parser.

A signature dictionary (ISO 32000-1 §12.8.1, Table 252) carries ``/ByteRange [a b c d]`` and
``/Contents <hex>``; the signed bytes are ``data[a:a+b] + data[c:c+d]`` and the gap between
them must be exactly the ``/Contents`` hex string, brackets included. We read the two keys
from the object that holds the ``/ByteRange``, as pyHanko and Acrobat write them (an indirect
object outside any object stream, since its offsets must be patched after writing).

Anything odd is not "repaired": it becomes a reason the caller reports. A ``/ByteRange`` that
is not in such an object (say, inside a compressed stream) is simply not seen; the coverage
check then catches any bytes that no signature covers.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
_OBJ_START = re.compile(rb"\d+\s+\d+\s+obj\b")
_CONTENTS = re.compile(rb"/Contents\s*(<[0-9A-Fa-f\s]*>)")
_NAME = rb"/%s\s*/([A-Za-z0-9.#_-]+)"
_M = re.compile(rb"/M\s*\(((?:[^()\\]|\\.)*)\)", re.DOTALL)
_DATE = re.compile(rb"D:(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(Z|[+-]\d{2}'?\d{2}'?)?")
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)", re.DOTALL)
#: How far back from a /ByteRange the start of its object may be (a signature dictionary
#: with its /Contents placeholder is rarely above 64 KiB; ours is about 20 KiB).
_MAX_OBJECT = 1 << 20


@dataclass(frozen=True, slots=True)
class RawSignature:
    """One signature dictionary as found, *not* yet checked in any way."""

    byte_range: tuple[int, int, int, int]
    contents_span: tuple[int, int] | None  # offsets of "<" and one past ">", when found
    contents: bytes | None  # the hex string decoded, zero padding included
    type_name: str | None  # /Type: Sig or DocTimeStamp
    sub_filter: str | None
    claimed_time: dt.datetime | None  # /M, as the signer claims it


def find_signatures(data: bytes) -> list[RawSignature]:
    """Every signature dictionary, in file order."""
    found = []
    for match in _BYTE_RANGE.finditer(data):
        a, b, c, d = (int(g) for g in match.groups())
        obj_start = _object_start(data, match.start())
        obj_end = data.find(b"endobj", match.end())
        if obj_start is None or obj_end < 0:
            found.append(RawSignature((a, b, c, d), None, None, None, None, None))
            continue
        body = data[obj_start:obj_end]
        contents = _CONTENTS.search(body)
        span = None
        value = None
        if contents is not None:
            span = (obj_start + contents.start(1), obj_start + contents.end(1))
            hex_text = re.sub(rb"\s", b"", contents.group(1)[1:-1])
            value = bytes.fromhex(hex_text.decode("ascii") + ("0" if len(hex_text) % 2 else ""))
        found.append(
            RawSignature(
                byte_range=(a, b, c, d),
                contents_span=span,
                contents=value,
                type_name=_name(body, b"Type"),
                sub_filter=_name(body, b"SubFilter"),
                claimed_time=_claimed_time(body),
            )
        )
    return found


def _object_start(data: bytes, before: int) -> int | None:
    window_start = max(0, before - _MAX_OBJECT)
    starts = list(_OBJ_START.finditer(data, window_start, before))
    return starts[-1].start() if starts else None


def _name(body: bytes, key: bytes) -> str | None:
    match = re.search(_NAME % key, body)
    return match.group(1).decode("ascii") if match else None


def _claimed_time(body: bytes) -> dt.datetime | None:
    """ISO 32000-1 §7.9.4 date string, e.g. ``D:20261129113000+08'00'``."""
    literal = _M.search(body)
    match = _DATE.match(_unescape(literal.group(1))) if literal else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    zone = (match.group(7) or b"Z").replace(b"'", b"")
    offset = dt.timedelta(0)
    if zone != b"Z":
        sign = -1 if zone[:1] == b"-" else 1
        offset = sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or b"0"))
    try:
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone(offset))
    except ValueError:
        return None


def _unescape(literal: bytes) -> bytes:
    """A literal string's escapes (ISO 32000-1 §7.3.4.2): pyHanko writes ``D\\072`` for ``D:``."""

    def one(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        return {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(code, code)

    return _ESCAPE.sub(one, literal)
