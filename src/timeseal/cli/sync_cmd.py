"""``timeseal sync``: do the work the offline queue still owes (tokens, uploads).

The entries of :mod:`timeseal.capture.offline.queue` are worked by
:mod:`timeseal.cli.queue_worker` (which says in what order, and why nothing is done twice).

Before the queue, recordings that were killed or stopped offline get a token over the newest
head of their chain, and ``--upload`` recordings get the segments the server still lacks
(:mod:`timeseal.cli.sync_recordings`).

``--add DIR`` first queues a capture directory's files for upload (for recordings, which
have no ``--upload`` of their own; the items are :mod:`timeseal.capture.offline.items`'s).
Exit 0 when the queue is empty afterwards, 1 when something is still owed (each reason
printed), 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from timeseal.capture.offline import queue as offline_queue
from timeseal.capture.offline.items import queue_capture_dir
from timeseal.capture.offline.upload_meta import CaptureMetadataError
from timeseal.cli.exits import usage_error
from timeseal.cli.queue_worker import run_queue
from timeseal.cli.server_client import ServerOption, resolve_server
from timeseal.cli.sync_recordings import seal_recordings, upload_live_recordings
from timeseal.cli.vault.transfer import DEFAULT_RETRIES


def register(app: typer.Typer) -> None:
    """Add ``sync`` to ``app``."""
    app.command("sync")(sync)


def sync(
    server: ServerOption = None,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Retries per failing upload step.")
    ] = DEFAULT_RETRIES,
    add: Annotated[
        list[Path] | None,
        typer.Option(
            "--add",
            metavar="DIR",
            help="Queue a capture directory (web capture, recording, photo) for upload first.",
        ),
    ] = None,
) -> None:
    """同步 Fetch the tokens and do the uploads that offline captures still owe."""
    if add:
        base = resolve_server(server)
        for directory in add:
            try:
                entry = queue_capture_dir(directory, base)
            except (OSError, CaptureMetadataError) as exc:
                raise usage_error(f"--add {directory}: {exc}") from None
            typer.echo(f"+ {directory}: {len(entry.items)} 个文件待上传 file(s) queued for upload")
    with offline_queue.queue_lock():
        unsealed = seal_recordings(server)  # each problem printed
        unsealed += upload_live_recordings(server)
        entries, unreadable = offline_queue.pending()
        for message in unreadable:
            typer.echo(f"✗ {message}", err=True)
        if not entries:
            typer.echo("队列为空 Nothing is queued.")
            raise typer.Exit(1 if unreadable or unsealed else 0)
        typer.echo(f"待同步 {len(entries)} 项 {len(entries)} queued capture(s)")
        problems = run_queue(entries, server, retries=retries)
        left, _ = offline_queue.pending()
    if left or unreadable or problems or unsealed:
        typer.echo(f"仍有 {len(left)} 项待同步 {len(left)} capture(s) still queued", err=True)
        raise typer.Exit(1)
    typer.echo("✓ 全部完成 Everything is sealed and uploaded.")
