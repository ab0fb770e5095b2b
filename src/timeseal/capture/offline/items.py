"""Which files of a capture become vault evidence items, and of what kind.

The rule is simple on purpose: every file a court may want to open is its own item, each with
the same capture metadata (:mod:`.upload_meta`) and a title naming the capture, so each gets
its own token, log leaf, package and certificate, and a case can hold them together.

- **Web capture** (``capture.json`` format ``timeseal-web-capture/1``): every file listed in
  its ``files`` — ``capture.wacz`` (``web-capture``), ``screenshots/*.png``
  (``screenshot``), ``video*.webm`` (``screen-recording``), ``page.pdf``, ``page.html`` and
  ``operations.jsonl`` (``document``) — plus ``capture.json`` itself (``document``), which
  holds the full environment report the vault metadata may have shortened.
- **Recording** (``timeseal-capture/1``, kind ``screen_recording`` / ``camera_recording``):
  ``recording.mp4`` (``screen-recording`` / ``video``); when the recording was cut off before
  it was joined, the closed segments instead. Plus ``chain.jsonl`` (the segment chain that
  proves the recording), ``capture-start.json`` (the metadata sealed as it started, when
  there) and ``capture.json``, all ``document``. The head tokens stay local:
  the vault seals each item with its own token on arrival.
- **Photo** (kind ``photo``): ``photo.jpg`` (``photo``) and ``capture.json``.
- **File capture**: only the file (kind given or guessed): its record is small enough to
  travel whole as the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from timeseal.capture.offline import queue as offline_queue
from timeseal.capture.offline.file_seal import file_sha256
from timeseal.capture.offline.queue import CaseTarget, PendingItem, QueueEntry
from timeseal.capture.offline.upload_meta import (
    AV_FORMAT,
    WEB_FORMAT,
    CaptureMetadataError,
    load_capture_json,
)

CAPTURE_JSON: Final = "capture.json"
_AV_KINDS: Final = {
    "screen_recording": "screen-recording",
    "camera_recording": "video",
    "photo": "photo",
}


@dataclass(frozen=True, slots=True)
class CaptureItem:
    path: Path
    kind: str
    title: str


def web_kind(relative: str) -> str:
    if relative.endswith(".wacz"):
        return "web-capture"
    if relative.startswith("screenshots/") or relative.endswith(".png"):
        return "screenshot"
    if relative.endswith(".webm"):
        return "screen-recording"
    return "document"


def capture_items(directory: Path) -> list[CaptureItem]:
    """The items of the capture in ``directory`` (its ``capture.json`` says which kind).
    Raises :class:`CaptureMetadataError` for a directory that holds no capture we know."""
    label, found = _capture_files(directory)
    return [CaptureItem(p, k, f"{label} — {p.relative_to(directory).as_posix()}") for p, k in found]


def capture_title(directory: Path) -> str:
    """What the capture is, for people: its kind, target and start (e.g. a case title)."""
    return _capture_files(directory)[0]


def _capture_files(directory: Path) -> tuple[str, list[tuple[Path, str]]]:
    capture = directory / CAPTURE_JSON
    try:
        doc = load_capture_json(capture.read_bytes())
    except OSError as exc:
        raise CaptureMetadataError(f"{capture}: {exc}") from exc
    fmt = doc.get("format")
    if fmt == WEB_FORMAT:
        label = f"网页取证 Web capture {doc.get('target_url')} {doc.get('started_at')}"
        listed = doc.get("files")
        names = (
            [
                str(f["path"])
                for f in listed
                if isinstance(f, dict) and isinstance(f.get("path"), str)
            ]
            if isinstance(listed, list)
            else []
        )
        found = [(directory / n, web_kind(n)) for n in names]
    elif fmt == AV_FORMAT and doc.get("kind") in _AV_KINDS:
        kind = _AV_KINDS[str(doc.get("kind"))]
        label = f"{_AV_LABELS[kind]} {doc.get('started_at')}"
        found = _av_files(directory, kind)
    else:
        raise CaptureMetadataError(f"{capture}: not a web capture or recording ({fmt!r})")
    found.append((capture, "document"))
    missing = [str(p) for p, _ in found if not p.is_file()]
    if missing:
        raise CaptureMetadataError(f"files of the capture are missing: {', '.join(missing)}")
    return label, found


_AV_LABELS: Final = {
    "screen-recording": "录屏 Screen recording",
    "video": "摄像 Camera recording",
    "photo": "拍照 Photo",
}


def _av_files(directory: Path, kind: str) -> list[tuple[Path, str]]:
    if kind == "photo":
        return [(directory / "photo.jpg", "photo")]
    recording = directory / "recording.mp4"
    media = [recording] if recording.is_file() else sorted((directory / "segments").glob("*.ts"))
    start = directory / "capture-start.json"
    extra = [(start, "document")] if start.is_file() else []
    return [*((p, kind) for p in media), (directory / "chain.jsonl", "document"), *extra]


def queue_capture_dir(directory: Path, base: str, case: CaseTarget | None = None) -> QueueEntry:
    """A queue entry (saved) that owes the upload of every item of the capture in
    ``directory`` (and with ``case``, the case of them and its package). Raises
    :class:`CaptureMetadataError` for a directory that is no capture."""
    items = [
        PendingItem(
            path=item.path.resolve(),
            sha256=file_sha256(item.path).hex(),
            size=item.path.stat().st_size,
            kind=item.kind,
            title=item.title,
            needs_token=False,
            upload=True,
        )
        for item in capture_items(directory)
    ]
    entry = QueueEntry("capture-dir", (directory / CAPTURE_JSON).resolve(), base, items, case=case)
    offline_queue.save(entry)
    return entry
