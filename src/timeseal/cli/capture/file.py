"""``timeseal capture file FILE…``: seal existing files (chat exports, downloaded screenshots,
agreements), honestly labelled "existed no later than" the token time.

Order of the work: the environment check (:mod:`timeseal.cli.capture.environment`, no target; a
``fail`` stops with exit 2 unless ``--force``),
then for each file its SHA-256, its token ``FILE.tsr`` when the server's TSA answers, and its
record ``FILE.capture.json`` (:mod:`timeseal.capture.offline.file_seal`). Whatever is still owed — a
token while offline, an upload (``--upload``) while offline or logged out — goes into the
offline queue and is done at once where possible, else by ``timeseal sync``
(:mod:`timeseal.cli.queue_worker`): the same code does both, so an immediate upload and a later
one cannot differ.

Exit 0 when every file is sealed, or queued to be (the output names what is still owed and
why), 2 for a usage error or when the environment check stopped the capture.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from timeseal.capture.clients.tsa import TSAClient
from timeseal.capture.offline import queue as offline_queue
from timeseal.capture.offline.file_seal import (
    guess_kind,
    record_path,
    seal_file,
    token_gen_time,
    token_path,
)
from timeseal.capture.offline.queue import PendingItem, QueueEntry
from timeseal.cli.capture.environment import check_environment
from timeseal.cli.capture.output import refuse_existing_token
from timeseal.cli.queue_worker import run_queue
from timeseal.cli.server_client import ServerOption, resolve_server
from timeseal.cli.verify.report import format_time
from timeseal.core.log_entry import EVIDENCE_KINDS

TSA_TIMEOUT = 15.0


def register(capture_app: typer.Typer) -> None:
    """Add ``file`` to ``timeseal capture``."""
    capture_app.command("file")(capture_file)


def _usage(message: str) -> typer.Exit:
    typer.echo(f"错误 error: {message}", err=True)
    return typer.Exit(2)


def capture_file(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Existing files to seal.")],
    server: ServerOption = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help=f"Vault kind for --upload ({', '.join(EVIDENCE_KINDS)}); default from the "
            "media type: image → photo, video → video, else document.",
        ),
    ] = None,
    upload: Annotated[
        bool,
        typer.Option(
            "--upload", help="Upload to the vault as evidence (queued while offline/logged out)."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Go on even if the environment check fails.")
    ] = False,
) -> None:
    """现有文件存证 Seal existing files: token, record; proves existence no later than then."""
    if kind is not None and kind not in EVIDENCE_KINDS:
        raise _usage(f"--kind: 只能是 one of {', '.join(EVIDENCE_KINDS)}")
    for path in files:
        if not path.is_file() or not os.access(path, os.R_OK):
            raise _usage(f"{path} 不是可读文件 is not a readable file")
        if record_path(path).exists():
            raise _usage(f"{record_path(path)} 已存在 exists: {path} was sealed before")
        refuse_existing_token(path, token_path(path))
    base = resolve_server(server)
    environment = check_environment(base, force=force)
    entries: list[QueueEntry] = []
    now = dt.datetime.now(dt.UTC)
    online = True  # until the TSA fails once: then the other files go straight to the queue
    with TSAClient(base, timeout=TSA_TIMEOUT) as tsa:
        for path in files:
            sealed = seal_file(
                path, environment=environment, client=tsa if online else None, now=now
            )
            online = sealed.token is not None
            typer.echo(f"✓ {path}  SHA-256 {sealed.sha256.hex()}")
            typer.echo(f"  记录 record: {sealed.record}")
            if sealed.token is not None:
                when = format_time(token_gen_time(sealed.token))
                typer.echo(f"⏱ {sealed.token}  不晚于 existed no later than {when}")
            item = PendingItem(
                path=path.resolve(),
                sha256=sealed.sha256.hex(),
                size=sealed.size,
                kind=kind or guess_kind(path),
                title=path.name,
                needs_token=sealed.token is None,
                upload=upload,
            )
            entry = QueueEntry("file", sealed.record.resolve(), base, [item])
            if not entry.done:
                offline_queue.save(entry)
                entries.append(entry)
    finish_queued(entries, base, online=online)


def finish_queued(entries: list[QueueEntry], base: str, *, online: bool) -> None:
    """Do at once what the new queue entries owe when the server answered (``online``); say
    what stays queued for ``timeseal sync``."""
    if online and entries:
        with offline_queue.queue_lock():
            run_queue(entries, base)
    for entry in entries:
        for item in entry.items:
            owed = [
                name
                for name, due in (
                    ("token", item.needs_token),
                    ("upload", item.upload and item.number is None),
                )
                if due
            ]
            if owed:
                typer.echo(f"… 已排队 queued ({', '.join(owed)}): {item.path}")
    if any(not e.done for e in entries):
        typer.echo(
            "离线或未登录，稍后运行 `timeseal sync` 完成。"
            "Offline or logged out: run `timeseal sync` later to finish."
        )
