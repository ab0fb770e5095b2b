"""Wall-clock times for the operation log and the metadata: RFC 3339, UTC, milliseconds.

The capture is a client: the trusted time is the TSA's (the tokens). These local times order
the person's actions and let a reader line them up with the video; they are written with a
fixed width (``2026-11-29T15:00:00.123Z``) so that they sort as text.
"""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_rfc3339(t: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``; naive datetimes are refused (their zone is a guess)."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: the zone would be a guess")
    u = t.astimezone(dt.UTC)
    return f"{u:%Y-%m-%dT%H:%M:%S}.{u.microsecond // 1000:03d}Z"
