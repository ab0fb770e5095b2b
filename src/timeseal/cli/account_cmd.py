"""``timeseal login``, ``timeseal logout``, ``timeseal whoami``: an API token per server.

``login`` asks the server to text a code to the phone (a development server writes it to its
``sms-outbox.log`` instead), prompts for it, and keeps the API token the server returns
(:mod:`timeseal.cli.credentials`); with ``--code`` it logs in with a code sent earlier, asking
for none. ``logout`` revokes the token on the server and forgets it. Exit codes: 0 success,
1 refused or unreachable (the server's message is printed), 2 usage error.
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import Annotated, Any

import httpx
import typer

from timeseal.cli.credentials import credentials, credentials_path, stored_login
from timeseal.cli.exits import fail
from timeseal.cli.server_client import (
    ServerCallFailed,
    ServerOption,
    call_api,
    make_client,
    resolve_server,
)
from timeseal.core.phone import InvalidPhoneNumber, mask_phone, normalise_phone

CODE_TRIES = 3


def register(app: typer.Typer) -> None:
    """Add ``login``, ``logout`` and ``whoami`` to ``app``."""
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)


# --- talking to the accounts API ------------------------------------------------------


def _call(
    client: httpx.Client,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    expect: int = 200,
) -> dict[str, Any]:
    """One accounts API call; its JSON answer ({} for none). Raises
    :class:`ServerCallFailed`, whose :func:`_explained` reason is what to print."""
    answer = call_api(client, method, path, expect=expect, json=body)
    return answer if isinstance(answer, dict) else {}


def _explained(exc: ServerCallFailed, client: httpx.Client) -> str:
    """The server's words; for an answer that names no API error, whether this is a
    TimeSeal server at all."""
    if exc.code != "http_error":
        return exc.reason
    if exc.status == 404:
        return f"{client.base_url} has no accounts API (HTTP 404): is it a TimeSeal server?"
    return f"HTTP {exc.status} from {client.base_url}"


# --- commands ---------------------------------------------------------------------------


PhoneArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="PHONE",
        show_default=False,
        help="Your mainland mobile number (+86 optional); asked for when not given.",
    ),
]
PhoneOption = Annotated[
    str | None, typer.Option("--phone", help="The same as PHONE, as an option.")
]
CodeOption = Annotated[
    str | None,
    typer.Option(
        "--code",
        help="A code already sent (e.g. before an interrupted login) and still valid: log in "
        "with it, without asking for a new one.",
    ),
]


def login(
    phone_argument: PhoneArgument = None,
    phone: PhoneOption = None,
    code: CodeOption = None,
    server: ServerOption = None,
    token_name: Annotated[
        str | None,
        typer.Option("--token-name", help="Name of the API token (default: this computer)."),
    ] = None,
) -> None:
    """Log in with a code sent by SMS; keeps an API token for the server. On a development
    server (SMS provider "dev") the code is not texted but written to the server's
    DATA_DIR/sms-outbox.log (e.g. tail -n 1 timeseal-data/sms-outbox.log). If a login was
    interrupted, log in with the code already sent: timeseal login PHONE --code CODE."""
    base = resolve_server(server)
    given = phone_argument or phone or typer.prompt("手机号 Phone")
    try:
        e164 = normalise_phone(given)
    except InvalidPhoneNumber as exc:
        raise fail(
            f"{given!r}: 不是有效的中国大陆手机号 not a mainland mobile number {exc}", 2
        ) from None
    name = token_name or f"timeseal CLI on {socket.gethostname()}"[:100]
    with make_client(base) as client:
        if code is None:
            _send_code(client, base, e164)
        result = _enter_code(client, e164, name, code)
    token = result["token"]
    with credentials() as servers:
        servers[base] = {
            "token": token["token"],
            "token_id": token["id"],
            "account_id": result["account"]["id"],
            "phone": result["account"]["phone"],
            "device_token": result.get("device_token"),
            "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    typer.echo(f"✓ 已登录 Logged in to {base} as {mask_phone(e164)}")
    typer.echo(f"  API 令牌已保存 API token {token['name']!r} saved in {credentials_path()}")


def _send_code(client: httpx.Client, base: str, e164: str) -> None:
    """Ask the server to text a code. Refused as too soon (a code was sent a moment ago, e.g.
    before an interrupted login): say so and go on to the prompt, for that earlier code."""
    try:
        sent = _call(client, "POST", "/api/v1/auth/sms-code", _code_request(base, e164))
    except ServerCallFailed as exc:
        if exc.code != "rate_limited":
            raise fail(_explained(exc, client)) from None
        typer.echo(f"! {_explained(exc, client)}", err=True)
        typer.echo(
            "之前发送的验证码如仍有效，可直接输入 If a code sent earlier is still valid, "
            "enter it now."
        )
        return
    minutes = max(1, round(int(sent.get("expires_in", 300)) / 60))
    typer.echo(
        f"验证码已发送至 {mask_phone(e164)}，{minutes} 分钟内有效。"
        f" A code was sent to {mask_phone(e164)}; it is valid for {minutes} minutes."
    )


def _enter_code(client: httpx.Client, e164: str, name: str, code: str | None) -> dict[str, Any]:
    """Log in with ``code`` (``--code``: one try), else with codes prompted for (up to
    :data:`CODE_TRIES`); the server's answer."""
    tries = 1 if code is not None else CODE_TRIES
    for attempt in range(1, tries + 1):
        entered = code if code is not None else typer.prompt("验证码 Code")
        body = {"phone": e164, "code": entered.strip(), "kind": "token", "token_name": name}
        try:
            return _call(client, "POST", "/api/v1/auth/login", body)
        except ServerCallFailed as exc:
            if exc.code != "code_invalid" or attempt == tries:
                raise fail(_explained(exc, client)) from None
            typer.echo(f"✗ {_explained(exc, client)}", err=True)
    raise AssertionError("bad loop in _enter_code")


def _code_request(server: str, phone: str) -> dict[str, str]:
    """The body of a code request: with the known-device token an earlier login with this
    number kept, so strangers who spent the number's daily cap cannot keep us out."""
    body = {"phone": phone}
    entry = stored_login(server)
    if entry is not None and entry.get("phone") == phone:
        device = entry.get("device_token")
        if isinstance(device, str):
            body["device_token"] = device
    return body


def logout(server: ServerOption = None) -> None:
    """Revoke this computer's API token on the server and forget it."""
    base = resolve_server(server)
    entry = stored_login(base)
    if entry is None:
        typer.echo(f"未登录 Not logged in to {base}.")
        return
    problem = None
    with make_client(base, str(entry.get("token", ""))) as client:
        try:
            _call(client, "POST", "/api/v1/auth/logout", expect=204)
        except ServerCallFailed as exc:
            if exc.code != "unauthenticated":  # already revoked: nothing left to do there
                problem = _explained(exc, client)
    with credentials() as servers:
        servers.pop(base, None)
    if problem is not None:
        raise fail(
            f"已删除本地令牌，但服务器未能吊销它 The local token is gone, but the server did "
            f"not revoke it ({problem}); revoke it in your account's token list."
        )
    typer.echo(f"✓ 已退出 Logged out of {base}")


def whoami(server: ServerOption = None) -> None:
    """Show the account this computer is logged in as."""
    base = resolve_server(server)
    entry = stored_login(base)
    if entry is None:
        raise fail(f"未登录 Not logged in to {base}: run `timeseal login --server {base}`.")
    with make_client(base, str(entry.get("token", ""))) as client:
        try:
            account = _call(client, "GET", "/api/v1/account")
        except ServerCallFailed as exc:
            if exc.code == "unauthenticated":
                raise fail(
                    f"令牌已失效 The saved token no longer works: run `timeseal login --server "
                    f"{base}`."
                ) from None
            raise fail(_explained(exc, client)) from None
    typer.echo(f"{account['phone']}  (account {account['id']})  {base}")
