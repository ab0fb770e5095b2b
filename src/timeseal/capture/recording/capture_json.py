"""``capture.json``: who/when/where/how of a recording or photo, as canonical JSON.

Integers and strings only (no floats, so the bytes are canonical and a token over them is a
token over their meaning): coordinates stay the decimal strings the person typed.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import re
import socket
from collections.abc import Mapping

from timeseal.core.package.canonical import JSONValue, format_canonical_json

FORMAT = "timeseal-capture/1"
_COORD = re.compile(r"\s*([+-]?\d{1,3}(?:\.\d{1,10})?)\s*,\s*([+-]?\d{1,3}(?:\.\d{1,10})?)\s*")


def rfc3339(t: dt.datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix (RFC 3339 §5.6)."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_location(text: str) -> dict[str, JSONValue]:
    """``"lat,lon"`` in decimal degrees becomes ``{"lat","lon"}`` (strings, as typed); any
    other text is kept as an address. ``ValueError`` for coordinates out of range."""
    match = _COORD.fullmatch(text)
    if match is None:
        if not text.strip():
            raise ValueError("empty location")
        return {"address": text.strip()}
    lat, lon = match.group(1), match.group(2)
    if abs(float(lat)) > 90 or abs(float(lon)) > 180:
        raise ValueError(f"coordinates out of range: {lat},{lon}")
    return {"lat": lat, "lon": lon}


def timeseal_version() -> str:
    try:
        return importlib.metadata.version("timeseal")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def device_info() -> dict[str, JSONValue]:
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "machine": platform.machine(),
    }


def software_info(ffmpeg_version: str) -> dict[str, JSONValue]:
    return {
        "timeseal": timeseal_version(),
        "ffmpeg": ffmpeg_version,
        "python": platform.python_version(),
    }


def format_capture(fields: Mapping[str, JSONValue]) -> bytes:
    """The canonical bytes of capture.json (``format`` added; no trailing newline)."""
    return format_canonical_json({"format": FORMAT, **fields})
