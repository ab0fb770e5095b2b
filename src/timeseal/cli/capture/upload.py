"""Uploading a whole capture directory (web capture, recording, photo) as vault evidence.

The items and their kinds are :func:`timeseal.capture.offline.items.capture_items`'s choice;
each carries the same capture metadata. The work is put into the offline queue first
(:func:`~timeseal.capture.offline.items.queue_capture_dir`) and then done through the same
worker as ``timeseal sync`` (:mod:`timeseal.cli.queue_worker`), so an upload cut short
(network, Ctrl-C, ``kill -9``) is simply finished by the next ``timeseal sync``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import typer

from timeseal.capture.offline import queue as offline_queue
from timeseal.capture.offline.items import capture_title, queue_capture_dir
from timeseal.capture.offline.queue import CaseTarget
from timeseal.capture.offline.upload_meta import CaptureMetadataError
from timeseal.cli.queue_worker import run_queue
from timeseal.cli.server_client import resolve_server
from timeseal.cli.verify.web_capture import PACKAGE_ZIP

PROBE_TIMEOUT = 5.0


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
    base = resolve_server(server)
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
