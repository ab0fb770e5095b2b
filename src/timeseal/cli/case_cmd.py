"""``timeseal case …``: assemble sealed items into the evidence chain of one dispute.

::

    timeseal case create TITLE [--description D]
    timeseal case list
    timeseal case show CASE [--json]
    timeseal case add CASE NUMBER… [--note N]
    timeseal case remove CASE NUMBER…
    timeseal case rename CASE [--title T] [--description D]
    timeseal case share CASE [--days N] [--label L] [--access-code C] [--show-ip-and-location]
    timeseal case package CASE [-o FILE]
    timeseal case delete CASE

``CASE`` is the case's id as ``case list`` shows it. Items are added with ``timeseal upload
--case CASE`` too.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from timeseal.cli.exits import fail
from timeseal.cli.server_client import (
    ServerCallFailed,
    ServerOption,
    call_api,
    logged_in,
    make_client,
)
from timeseal.cli.vault_cmd import fetch_package
from timeseal.cli.verify.report import format_time

case_app = typer.Typer(help="案件 Cases: items assembled into one chain of evidence.")

CaseArg = Annotated[int, typer.Argument(min=1, help="The case's id (see `timeseal case list`).")]
NumbersArg = Annotated[list[str], typer.Argument(metavar="NUMBER...", help="Evidence numbers.")]
#: The server's shortest access code (``share_service.MIN_CODE_LENGTH``; the CLI does not import
#: the server): checked here so a short one fails before anything is sent.
MIN_ACCESS_CODE = 6


def register(app: typer.Typer) -> None:
    """Add ``case`` and its subcommands to ``app``."""
    app.add_typer(case_app, name="case")


def _call(server: str | None, method: str, url: str, **kwargs: Any) -> Any:
    base, token = logged_in(server)
    with make_client(base, token) as client:
        try:
            return call_api(client, method, url, **kwargs)
        except ServerCallFailed as exc:
            raise fail(str(exc)) from None


def _when(value: str) -> str:
    return format_time(dt.datetime.fromisoformat(value))


@case_app.command("create")
def create(
    title: Annotated[str, typer.Argument(help="e.g. 某店铺泄露个人信息")],
    description: Annotated[str, typer.Option("--description", help="What it is about.")] = "",
    server: ServerOption = None,
) -> None:
    """Open a new, empty case."""
    case = _call(
        server,
        "POST",
        "/api/v1/cases",
        expect=201,
        json={"title": title, "description": description},
    )
    typer.echo(f"✓ 案件 case {case['id']}: {case['title']}")


@case_app.command("list")
def list_cases(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
    server: ServerOption = None,
) -> None:
    """Your cases, the most recently changed first."""
    cases = _call(server, "GET", "/api/v1/cases")
    if as_json:
        typer.echo(json.dumps(cases, ensure_ascii=False, indent=2))
        return
    if not cases:
        typer.echo("没有案件 No cases.")
        return
    for case in cases:
        typer.echo(
            f"{case['id']:>6}  {case['item_count']:>4} 项 items  "
            f"{_when(case['updated_at'])}  {case['title']}"
        )


@case_app.command("show")
def show(
    case: CaseArg,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    server: ServerOption = None,
) -> None:
    """One case and its items, in order."""
    detail = _call(server, "GET", f"/api/v1/cases/{case}")
    if as_json:
        typer.echo(json.dumps(detail, ensure_ascii=False, indent=2))
        return
    typer.echo(f"案件 Case {detail['id']}: {detail['title']}")
    if detail["description"]:
        typer.echo(f"  {detail['description']}")
    typer.echo(f"  {detail['item_count']} 项 items, 更新 updated {_when(detail['updated_at'])}")
    for item in detail["items"]:
        typer.echo(
            f"{item['position']:>4}. {item['number']}  {item['kind']:<16} "
            f"{_when(item['created_at'])}  {item['title']}"
        )
        if item["note"]:
            typer.echo(f"        {item['note']}")


@case_app.command("add")
def add(
    case: CaseArg,
    numbers: NumbersArg,
    note: Annotated[str | None, typer.Option("--note", help="What the item shows.")] = None,
    server: ServerOption = None,
) -> None:
    """Add items at the end of the case (or change the note of one already in it)."""
    body = {} if note is None else {"note": note}
    for number in numbers:
        _call(server, "PUT", f"/api/v1/cases/{case}/items/{number}", json=body)
        typer.echo(f"✓ {number} -> 案件 case {case}")


@case_app.command("remove")
def remove(case: CaseArg, numbers: NumbersArg, server: ServerOption = None) -> None:
    """Take items out of the case (they stay sealed in the vault)."""
    for number in numbers:
        _call(server, "DELETE", f"/api/v1/cases/{case}/items/{number}", expect=204)
        typer.echo(f"✓ {number} 已移出 removed from case {case}")


@case_app.command("rename")
def rename(
    case: CaseArg,
    title: Annotated[str | None, typer.Option("--title", help="New title.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="New text.")] = None,
    server: ServerOption = None,
) -> None:
    """Change the title or the description."""
    if title is None and description is None:
        raise fail("需要 --title 或 --description give --title or --description", 2)
    body = {k: v for k, v in (("title", title), ("description", description)) if v is not None}
    updated = _call(server, "PATCH", f"/api/v1/cases/{case}", json=body)
    typer.echo(f"✓ 案件 case {updated['id']}: {updated['title']}")


@case_app.command("share")
def share(
    case: CaseArg,
    days: Annotated[int, typer.Option("--days", min=1, max=365, help="Valid for.")] = 30,
    label: Annotated[str, typer.Option("--label", help="Who it is for.")] = "",
    access_code: Annotated[
        str | None, typer.Option("--access-code", help="6-64 characters the opener must give.")
    ] = None,
    show_ip_and_location: Annotated[
        bool,
        typer.Option(
            "--show-ip-and-location",
            help="Also share IP addresses and exact locations (off: the link's packages "
            "withhold them; your own keep them).",
        ),
    ] = False,
    server: ServerOption = None,
) -> None:
    """A read-only link to the case for a lawyer, mediator or court."""
    if access_code is not None and not MIN_ACCESS_CODE <= len(access_code) <= 64:
        raise typer.BadParameter(
            f"访问码需 {MIN_ACCESS_CODE}-64 个字符 / {MIN_ACCESS_CODE}-64 characters",
            param_hint="--access-code",
        )
    base, _ = logged_in(server)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    body: dict[str, Any] = {
        "expires_at": expires.isoformat(),
        "label": label,
        "show_ip_and_location": show_ip_and_location,
    }
    if access_code is not None:
        body["access_code"] = access_code
    link = _call(server, "POST", f"/api/v1/cases/{case}/shares", expect=201, json=body)
    typer.echo(f"✓ 分享链接 share link (到期 expires {_when(link['expires_at'])}):")
    typer.echo(f"  {base.rstrip('/')}{link['url']}")
    typer.echo(f"  API: {base.rstrip('/')}{link['api_url']}")


@case_app.command("package")
def package(
    case: CaseArg,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where (default: case-CASE.zip here).")
    ] = None,
    server: ServerOption = None,
) -> None:
    """Download the case's evidence package (ZIP of every item, resumable), for a court."""
    fetch_package(server, f"/api/v1/cases/{case}/package", output or Path(f"case-{case}.zip"))


@case_app.command("delete")
def delete(case: CaseArg, server: ServerOption = None) -> None:
    """Delete the case; its items stay sealed in the vault, its share links stop working."""
    _call(server, "DELETE", f"/api/v1/cases/{case}", expect=204)
    typer.echo(f"✓ 案件 case {case} 已删除 deleted")
