"""``timeseal upload``, ``timeseal list``, ``timeseal download``: the vault from the command line.

``upload`` sends each file with the resumable tus client of :mod:`timeseal.cli.vault.tus`;
``download`` fetches an item's bytes or its evidence package with
:mod:`timeseal.cli.vault.download` (resumed, checked against the SHA-256).

Exit codes: 0 success, 1 a file failed (each reason printed), 2 usage error.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import Progress

from timeseal.cli.exits import fail
from timeseal.cli.server_client import (
    ServerCallFailed,
    ServerOption,
    call_api,
    failure,
    logged_in,
    make_client,
    send,
)
from timeseal.cli.vault.download import download_package, download_record
from timeseal.cli.vault.transfer import DEFAULT_RETRIES, RetryPolicy, progress_bar
from timeseal.cli.vault.tus import TusUploader
from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import PROBLEM_TEXT, EvidenceNumberError, parse_evidence_number
from timeseal.core.log_entry import EVIDENCE_KINDS
from timeseal.core.package.layout import item_id


def register(app: typer.Typer) -> None:
    """Add ``upload``, ``list`` and ``download`` to ``app``."""
    app.command("upload")(upload)
    app.command("list")(list_records)
    app.command("download")(download)


# --- commands ---------------------------------------------------------------------------


def upload(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Files to upload and seal.")
    ],
    kind: Annotated[
        str, typer.Option("--kind", help=f"Evidence kind: {', '.join(EVIDENCE_KINDS)}.")
    ] = "other",
    title: Annotated[
        str | None, typer.Option("--title", help="Title (default: the file name).")
    ] = None,
    case: Annotated[
        int | None, typer.Option("--case", min=1, help="Add each sealed item to this case.")
    ] = None,
    server: ServerOption = None,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Retries per failing step.")
    ] = DEFAULT_RETRIES,
) -> None:
    """Upload files to the vault (resumable, tus 1.0); each is sealed on arrival."""
    if kind not in EVIDENCE_KINDS:
        raise fail(f"--kind: 只能是 one of {', '.join(EVIDENCE_KINDS)}", 2)
    for path in files:
        if not path.is_file() or not os.access(path, os.R_OK):
            raise fail(f"{path} 不是可读文件 is not a readable file", 2)
    base, token = logged_in(server)
    failed = False
    with make_client(base, token) as client, progress_bar() as progress:
        if case is not None:  # before any upload: a wrong case number is a usage error
            try:
                call_api(client, "GET", f"/api/v1/cases/{case}")
            except ServerCallFailed as exc:
                raise fail(f"--case {case}: {exc}", 2) from None
        uploader = TusUploader(client, base, policy=RetryPolicy(retries=retries))
        for path in files:
            number = _upload_one(uploader, progress, path, kind, title)
            sealed = number is not None
            added = number is None or case is None or _add_to_case(client, progress, case, number)
            failed = failed or not (sealed and added)
    if failed:
        raise typer.Exit(1)


def _upload_one(
    uploader: TusUploader, progress: Progress, path: Path, kind: str, title: str | None
) -> str | None:
    """Upload ``path`` with its hashing and sending shown as progress; its evidence number,
    or None once the failure is printed."""
    size = path.stat().st_size
    hashing = progress.add_task(f"SHA-256 {path.name}", total=size)
    sending = progress.add_task(f"上传 upload {path.name}", total=size, visible=False)

    def hashed(n: int) -> None:
        progress.advance(hashing, n)

    def show(offset: int, total: int) -> None:
        progress.update(hashing, visible=False)
        progress.update(sending, completed=offset, total=total, visible=True)

    try:
        number = uploader.upload(path, kind=kind, title=title, hashing=hashed, sending=show)
    except (ServerCallFailed, OSError) as exc:
        progress.console.print(f"✗ {path}: {exc}", markup=False, highlight=False)
        return None
    typer.echo(f"✓ {path} -> {number}")
    return number


def _add_to_case(client: httpx.Client, progress: Progress, case: int, number: str) -> bool:
    """Put sealed item ``number`` into ``case``; False once the failure is printed."""
    try:
        call_api(client, "PUT", f"/api/v1/cases/{case}/items/{number}", json={})
    except ServerCallFailed as exc:
        progress.console.print(f"✗ {number} sealed, not added to case {case}: {exc}", markup=False)
        return False
    return True


def _format_time(value: str) -> str:
    from timeseal.cli.verify.report import format_time

    return format_time(dt.datetime.fromisoformat(value))


def list_records(
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None,
    case: Annotated[int | None, typer.Option("--case", min=1, help="Only this case's.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Text in the title, file name or number.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
    server: ServerOption = None,
) -> None:
    """List your evidence, newest first."""
    if kind is not None and kind not in EVIDENCE_KINDS:
        raise fail(f"--kind: 只能是 one of {', '.join(EVIDENCE_KINDS)}", 2)
    base, token = logged_in(server)
    items: list[dict[str, Any]] = []
    with make_client(base, token) as client:
        while True:
            params: dict[str, Any] = {"limit": 500, "offset": len(items)}
            if kind is not None:
                params["kind"] = kind
            if case is not None:
                params["case"] = case
            if search:
                params["q"] = search
            try:
                reply = send(client, "GET", "/api/v1/evidence", params=params)
            except ServerCallFailed as exc:
                raise fail(str(exc)) from None
            if reply.status_code != 200:
                raise fail(str(failure(reply)))
            page = reply.json()["items"]
            items.extend(page)
            if len(page) < 500:
                break
    if as_json:
        typer.echo(json.dumps({"items": items}, ensure_ascii=False, indent=2))
        return
    if not items:
        typer.echo("没有证据 No evidence.")
        return
    for item in items:
        typer.echo(
            f"{item['number']}  {item['kind']:<16} {item['size']:>12,} B  "
            f"{_format_time(item['created_at'])}  {item['title']}"
        )


def download(
    number: Annotated[str, typer.Argument(help="Evidence number, e.g. TS-20261129-7Q4K-M2XD.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write it (default: its file name here)."),
    ] = None,
    package: Annotated[
        bool,
        typer.Option(
            "--package", help="The evidence package (ZIP, NUMBER.zip) instead of the bytes."
        ),
    ] = False,
    server: ServerOption = None,
) -> None:
    """Download an item's original bytes, or its evidence package (resumable), checked
    against its SHA-256."""
    _check_character(number)
    if package:
        fetch_package(server, f"/api/v1/evidence/{number}/package", output or _zip_name(number))
        return
    base, token = logged_in(server)
    with make_client(base, token) as client, progress_bar() as progress:
        task = progress.add_task(f"下载 download {number}", total=None)
        try:
            path, record = download_record(
                client,
                number,
                output,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except ServerCallFailed as exc:
            raise fail(f"{number}: {exc}") from None
        except OSError as exc:
            raise fail(f"{number}: {exc}") from None
    typer.echo(f"✓ {record['number']} -> {path}  SHA-256 {record['sha256']} ✓")


def _check_character(number: str) -> None:
    """Exit 2 saying so when ``number`` lacks its check character or has a wrong one (the
    server would say the same); anything else is for the server to judge."""
    try:
        parse_evidence_number(number)
    except EvidenceNumberError as exc:
        if exc.problem in PROBLEM_TEXT:
            zh, en = PROBLEM_TEXT[exc.problem]
            raise fail(f"{number}: {zh} / {en}", 2) from None


def _zip_name(number: str) -> Path:
    """``NUMBER.zip`` in the form that is a file name everywhere (a check symbol such as ``*``
    spelled as in the package's own paths); a number that does not parse keeps its spelling
    (the server then says it knows no such item)."""
    try:
        return Path(f"{item_id(parse_evidence_number(number))}.zip")
    except MalformedError:
        return Path(f"{number}.zip")


def fetch_package(server: str | None, url: str, output: Path) -> None:
    """``download --package`` and ``case package``: the package at API path ``url``."""
    base, token = logged_in(server)
    with make_client(base, token) as client, progress_bar() as progress:
        task = progress.add_task(f"证据包 package {output.name}", total=None)
        try:
            sha256 = download_package(
                client,
                url,
                output,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except ServerCallFailed as exc:
            raise fail(f"{output.name}: {exc}") from None
        except OSError as exc:
            raise fail(f"{output.name}: {exc}") from None
    typer.echo(f"✓ {output}  SHA-256 {sha256} ✓  (timeseal verify {output})")
