"""Uploading a whole capture directory (web capture, recording, photo) as vault evidence.

The items and their kinds are :func:`timeseal.capture.offline.items.capture_items`'s choice;
each carries the same capture metadata. The work is put into the offline queue first and then
done through the same worker as ``timeseal sync``, so an upload cut short (network, Ctrl-C,
``kill -9``) is simply finished by the next ``timeseal sync``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import typer

from timeseal.capture.offline import queue as offline_queue
from timeseal.capture.offline.file_seal import file_sha256
from timeseal.capture.offline.items import CAPTURE_JSON, capture_items, capture_title
from timeseal.capture.offline.queue import CaseTarget, PendingItem, QueueEntry
from timeseal.capture.offline.upload_meta import CaptureMetadataError
from timeseal.cli.account_cmd import _resolve_server
from timeseal.cli.sync_cmd import run_queue
from timeseal.cli.verify.web_capture import PACKAGE_ZIP

PROBE_TIMEOUT = 5.0


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


def server_reachable(base: str) -> bool:
    """A quick look before uploading, so an offline capture is queued at once instead of
    waiting through the uploader's retries."""
    try:
        httpx.get(f"{base.rstrip('/')}/healthz", timeout=PROBE_TIMEOUT)
    except httpx.HTTPError:
        return False
    return True


def upload_capture_dir(directory: Path, server: str | None, case_id: int | None = None) -> None:
    """``--upload`` of ``capture web``: queue the capture's items, then upload them now if
    the server answers (and we are logged in), else leave them for ``timeseal sync``. Once
    sealed they become one case (a new one titled after the capture, or ``case_id``), whose
    evidence package is downloaded to ``DIR/package.zip``."""
    base = _resolve_server(server)
    try:
        case = CaseTarget(
            title=capture_title(directory),
            package=(directory / PACKAGE_ZIP).resolve(),
            id=case_id,
        )
        entry = queue_capture_dir(directory, base, case)
    except (OSError, CaptureMetadataError) as exc:
        typer.echo(f"✗ 无法上传 cannot upload {directory}: {exc}", err=True)
        raise typer.Exit(1) from None
    if server_reachable(base):
        with offline_queue.queue_lock():
            run_queue([entry], base)
    if not entry.done:
        typer.echo(
            f"… 已排队 queued: {len(entry.items)} file(s) of {directory}; "
            "稍后运行 run `timeseal sync` later."
        )
