"""The offline queue: captures whose token or upload is still owed, until ``timeseal sync``.

A capture without network keeps working: its files are hashed and recorded here, and the
work still owed is done later. One JSON file per pending capture, in
``$XDG_DATA_HOME/timeseal/queue/`` (default ``~/.local/share/timeseal/queue/``; mode 0700)::

    {"format": "timeseal-queue/1", "id": "20261129T152800Z-3f9a1c2e",
     "created_at": "2026-11-29T15:28:00.123Z", "source": "file",
     "server": "http://127.0.0.1:8000", "capture_json": "/abs/chat.txt.capture.json",
     "items": [{"path": "/abs/chat.txt", "sha256": "<hex>", "size": 1234,
                "kind": "document", "title": "chat.txt",
                "needs_token": true, "upload": true,
                "upload_url": null, "number": null}]}

An entry from ``capture web --upload`` also has ``"case": {"title": …, "id": null,
"package": "/abs/DIR/package.zip", "done": false}``: once every item is sealed, the items
become one case (created with that title, ``id`` written at once so a rerun never makes a
second; or the case given with ``--case``) and its evidence package is downloaded to
``package``. Other entries have ``"case": null``.

``needs_token``: ``FILE.tsr`` is still to be fetched. ``upload``: the item goes to the vault;
``number`` is its evidence number once sealed there. ``upload_url`` is the tus upload as soon
as the server created it, so that a sync killed after the upload finished but before
``number`` was written asks the server (``HEAD``) instead of uploading again. An entry whose
items owe nothing is removed. Every change is written atomically (temp file, fsync, rename),
so ``kill -9`` at any point leaves the old entry or the new one; the uploads themselves resume
from ``uploads.json`` (see ``timeseal.cli.vault.tus``). :func:`queue_lock` keeps two syncs
from working on the same entries at once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from timeseal.capture.environment.report import JSONValue
from timeseal.capture.errors import CaptureError
from timeseal.capture.recording.capture_json import rfc3339
from timeseal.capture.settings import xdg_data_home
from timeseal.core.files import write_durably

FORMAT: Final = "timeseal-queue/1"


class QueueError(CaptureError, ValueError):
    """A queue entry cannot be read (it is left in place, and named)."""


def queue_dir() -> Path:
    """``$XDG_DATA_HOME/timeseal/queue`` or ``~/.local/share/timeseal/queue`` (XDG Base
    Directory: a relative ``XDG_DATA_HOME`` is invalid and ignored)."""
    base = xdg_data_home()
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "timeseal" / "queue"


@dataclass(slots=True)
class PendingItem:
    path: Path
    sha256: str
    size: int
    kind: str
    title: str
    needs_token: bool
    upload: bool
    upload_url: str | None = None
    number: str | None = None

    @property
    def done(self) -> bool:
        return not self.needs_token and (not self.upload or self.number is not None)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "kind": self.kind,
            "title": self.title,
            "needs_token": self.needs_token,
            "upload": self.upload,
            "upload_url": self.upload_url,
            "number": self.number,
        }

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> PendingItem:
        return cls(
            path=Path(_text(obj, "path")),
            sha256=_text(obj, "sha256"),
            size=_int(obj, "size"),
            kind=_text(obj, "kind"),
            title=_text(obj, "title"),
            needs_token=obj.get("needs_token") is True,
            upload=obj.get("upload") is True,
            upload_url=_opt_text(obj, "upload_url"),
            number=_opt_text(obj, "number"),
        )


@dataclass(slots=True)
class CaseTarget:
    """The case a capture's items go into, and where its package is downloaded."""

    title: str
    package: Path
    id: int | None = None
    done: bool = False

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "title": self.title,
            "package": str(self.package),
            "id": self.id,
            "done": self.done,
        }

    @classmethod
    def from_json(cls, obj: object) -> CaseTarget | None:
        if obj is None:
            return None
        if not isinstance(obj, dict):
            raise QueueError("case must be an object or null")
        case_id = obj.get("id")
        if case_id is not None and (not isinstance(case_id, int) or isinstance(case_id, bool)):
            raise QueueError("case id must be an integer or null")
        return cls(
            title=_text(obj, "title"),
            package=Path(_text(obj, "package")),
            id=case_id,
            done=obj.get("done") is True,
        )


@dataclass(slots=True)
class QueueEntry:
    source: str
    capture_json: Path
    server: str | None
    items: list[PendingItem]
    id: str = field(default_factory=lambda: new_id(dt.datetime.now(dt.UTC)))
    created_at: str = field(default_factory=lambda: rfc3339(dt.datetime.now(dt.UTC)))
    case: CaseTarget | None = None

    @property
    def items_done(self) -> bool:
        return all(item.done for item in self.items)

    @property
    def done(self) -> bool:
        return self.items_done and (self.case is None or self.case.done)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "format": FORMAT,
            "id": self.id,
            "created_at": self.created_at,
            "source": self.source,
            "server": self.server,
            "capture_json": str(self.capture_json),
            "items": [item.to_json() for item in self.items],
            "case": None if self.case is None else self.case.to_json(),
        }

    @classmethod
    def from_json(cls, obj: object) -> QueueEntry:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise QueueError(f"not a {FORMAT} entry")
        items = obj.get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise QueueError("items must be a list of objects")
        return cls(
            source=_text(obj, "source"),
            capture_json=Path(_text(obj, "capture_json")),
            server=_opt_text(obj, "server"),
            items=[PendingItem.from_json(i) for i in items],
            id=_text(obj, "id"),
            created_at=_text(obj, "created_at"),
            case=CaseTarget.from_json(obj.get("case")),
        )


def new_id(now: dt.datetime) -> str:
    """Sortable by creation time, unique by its random tail."""
    return f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def _entry_path(entry_id: str, directory: Path) -> Path:
    if not entry_id or "/" in entry_id or entry_id.startswith("."):
        raise QueueError(f"bad entry id {entry_id!r}")
    return directory / f"{entry_id}.json"


def save(entry: QueueEntry, directory: Path | None = None) -> Path:
    """Write ``entry`` atomically (creating the queue directory, 0700)."""
    directory = directory or queue_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = _entry_path(entry.id, directory)
    text = json.dumps(entry.to_json(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    write_durably(path, text.encode("utf-8"), mode=0o600)
    return path


def remove(entry: QueueEntry, directory: Path | None = None) -> None:
    _entry_path(entry.id, directory or queue_dir()).unlink(missing_ok=True)


def pending(directory: Path | None = None) -> tuple[list[QueueEntry], list[str]]:
    """Every entry, oldest first, and a message for each file that could not be read."""
    directory = directory or queue_dir()
    entries: list[QueueEntry] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            entries.append(QueueEntry.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: {exc}")
    return entries, problems


@contextmanager
def queue_lock(directory: Path | None = None) -> Iterator[None]:
    """Exclusive use of the queue (one sync at a time, and captures adding entries)."""
    directory = directory or queue_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _text(obj: dict[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise QueueError(f"{key} must be a string")
    return value


def _opt_text(obj: dict[str, object], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _int(obj: dict[str, object], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise QueueError(f"{key} must be an integer")
    return value
