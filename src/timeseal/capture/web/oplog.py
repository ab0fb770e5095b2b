"""The operation log (操作日志): what the person or the script did, in order, with times.

A court asks *how* a page came to look as it does: which address was opened, where it
redirected, what was clicked, what was typed and where. One JSON object per line in
``operations.jsonl``, written as it happens (a capture cut short keeps what was done so far),
each line canonical JSON with integers only, so the file is byte-stable and sealable.

Typing is logged by *kind* of keystroke, never the text (a phone number or password is not
evidence of anything but that it was typed), unless the steps file marks the field ``safe``.
"""

from __future__ import annotations

import datetime as dt
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from timeseal.capture.web.clock import format_rfc3339, utc_now
from timeseal.core.package.canonical import JSONValue, format_canonical_json

#: The kinds of entry; a summary counts them.
KINDS = (
    "session",
    "navigation",
    "goto",
    "click",
    "type",
    "scroll",
    "wait",
    "screenshot",
)


def keystroke_kinds(text: str) -> dict[str, JSONValue]:
    """How many characters of each kind ``text`` has: digits, letters (any script), spaces,
    other. Enough to tell "typed an 11-digit number" without keeping the number."""
    counts: Counter[str] = Counter()
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Nd":
            counts["digits"] += 1
        elif category.startswith("L"):
            counts["letters"] += 1
        elif ch.isspace():
            counts["spaces"] += 1
        else:
            counts["other"] += 1
    return {"characters": len(text), **{k: counts[k] for k in sorted(counts)}}


class OperationLog:
    """Append-only, thread-safe (Playwright calls bindings from its dispatcher)."""

    def __init__(self, path: Path, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._file: IO[bytes] = path.open("wb")
        self._entries: list[dict[str, JSONValue]] = []

    def record(self, kind: str, fields: Mapping[str, JSONValue] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown operation kind {kind!r}")
        with self._lock:
            entry: dict[str, JSONValue] = {
                "seq": len(self._entries) + 1,
                "at": format_rfc3339(self._clock()),
                "kind": kind,
                **(fields or {}),
            }
            line = format_canonical_json(entry)  # refuses floats: a bug, not data, if it fails
            self._entries.append(entry)
            self._file.write(line + b"\n")
            self._file.flush()

    @property
    def entries(self) -> list[dict[str, JSONValue]]:
        with self._lock:
            return list(self._entries)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def summary(self) -> dict[str, JSONValue]:
        """Counts per kind and the first/last time, for ``capture.json``."""
        entries = self.entries
        counts = Counter(str(e["kind"]) for e in entries)
        return {
            "file": self.path.name,
            "entries": len(entries),
            "counts": {k: counts[k] for k in sorted(counts)},
            "first_at": entries[0]["at"] if entries else None,
            "last_at": entries[-1]["at"] if entries else None,
        }
