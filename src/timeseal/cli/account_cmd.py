"""``timeseal login``, ``timeseal logout``, ``timeseal whoami``: an API token per server.

``login`` asks the server to text a code to the phone, prompts for it, and keeps the API token
the server returns in ``$XDG_CONFIG_HOME/timeseal/credentials.json`` (default
``~/.config/timeseal/``; the directory is mode 0700, the file 0600)::

    {"servers": {"https://evidence.example.org": {"token": "ts_…", "token_id": "tok_…",
                 "account_id": 7, "phone": "+8613812345678", "device_token": "kd1.…",
                 "saved_at": "2026-…Z"}}}

Other commands find the token for a server with :func:`stored_token`. ``logout`` revokes the
token on the server and forgets it. Exit codes: 0 success, 1 refused or unreachable (the
server's message is printed), 2 usage error.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from timeseal import __version__
from timeseal.cli import settings as cli_settings
from timeseal.cli.errors import CliError
from timeseal.core.files import write_durably
from timeseal.core.phone import InvalidPhoneNumber, mask_phone, normalise_phone

CREDENTIALS_FILE = "credentials.json"
CODE_TRIES = 3
TIMEOUT = 30.0


def register(app: typer.Typer) -> None:
    """Add ``login``, ``logout`` and ``whoami`` to ``app``."""
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)


# --- the credentials file ---------------------------------------------------------------


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/timeseal``, or ``~/.config/timeseal`` (XDG Base Directory: a
    relative ``XDG_CONFIG_HOME`` is invalid and ignored)."""
    base = cli_settings.xdg_base("XDG_CONFIG_HOME")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "timeseal"


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


def server_key(url: str) -> str:
    """The server's base URL as stored: no trailing slash, scheme and host in lower case."""
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


@contextmanager
def _credentials() -> Iterator[dict[str, Any]]:
    """The stored logins, for reading and changing; written back atomically, under a lock
    so that two commands at once do not lose each other's change."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / f".{CREDENTIALS_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = directory / CREDENTIALS_FILE
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError) as exc:
            raise _fail(f"cannot read {path}: {exc}", 2) from None
        servers = data.get("servers") if isinstance(data, dict) else None
        if not isinstance(servers, dict):
            servers = {}
        before = json.dumps(servers, sort_keys=True)
        yield servers
        if json.dumps(servers, sort_keys=True) != before:
            _write_private(path, json.dumps({"servers": servers}, indent=2, sort_keys=True) + "\n")


def _write_private(path: Path, text: str) -> None:
    write_durably(path, text.encode(), mode=0o600)


def stored_login(server: str) -> dict[str, Any] | None:
    """What ``timeseal login`` kept for ``server``, if anything."""
    path = credentials_path()
    if not path.exists():
        return None
    with _credentials() as servers:
        entry = servers.get(server_key(server))
    return entry if isinstance(entry, dict) else None


def stored_token(server: str) -> str | None:
    """The API token for ``server``, for other commands' ``Authorization: Bearer``."""
    entry = stored_login(server)
    token = entry.get("token") if entry else None
    return token if isinstance(token, str) else None


# --- talking to the server --------------------------------------------------------------


class ApiCallFailed(CliError):
    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _accept_language() -> str:
    locale = cli_settings.locale_name()
    return "en, zh;q=0.5" if (locale or "").lower().startswith("en") else "zh-CN, en;q=0.5"


def _client(server: str, token: str | None = None) -> httpx.Client:
    headers = {"User-Agent": f"timeseal/{__version__}", "Accept-Language": _accept_language()}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=server, headers=headers, timeout=TIMEOUT)


def _call(
    client: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    try:
        reply = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise ApiCallFailed(
            "unreachable", f"无法连接 cannot reach {client.base_url}: {exc}"
        ) from exc
    if reply.is_success:
        if reply.status_code == 204 or not reply.content:
            return {}
        result: dict[str, Any] = reply.json()
        return result
    try:
        error = reply.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        pass
    else:
        raise ApiCallFailed(code, message, reply.status_code)
    if reply.status_code == 404:
        message = f"{client.base_url} has no accounts API (HTTP 404): is it a TimeSeal server?"
        raise ApiCallFailed("not_found", message, 404)
    raise ApiCallFailed("http_error", f"HTTP {reply.status_code} from {client.base_url}")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"✗ {message}", err=True)
    return typer.Exit(code)


def _resolve_server(server: str | None) -> str:
    """--server, else $TIMESEAL_SERVER, else the only server logged in to, else the default."""
    if server:
        chosen = server
    elif from_env := cli_settings.server_from_env():
        chosen = from_env
    else:
        known: list[str] = []
        if credentials_path().exists():
            with _credentials() as servers:
                known = list(servers)
        chosen = known[0] if len(known) == 1 else cli_settings.DEFAULT_SERVER
    try:
        return server_key(chosen)
    except ValueError as exc:
        raise _fail(f"--server: {exc}", 2) from None


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        help=f"TimeSeal server URL (default: ${cli_settings.SERVER_ENV}, or the only server "
        f"you are logged in to, or {cli_settings.DEFAULT_SERVER}).",
    ),
]


# --- commands ---------------------------------------------------------------------------


def login(
    phone: Annotated[
        str,
        typer.Option(
            "--phone", prompt="手机号 Phone", help="Your mainland mobile number (+86 optional)."
        ),
    ],
    server: ServerOption = None,
    token_name: Annotated[
        str | None,
        typer.Option("--token-name", help="Name of the API token (default: this computer)."),
    ] = None,
) -> None:
    """Log in with a code sent by SMS; keeps an API token for the server."""
    base = _resolve_server(server)
    try:
        e164 = normalise_phone(phone)
    except InvalidPhoneNumber as exc:
        raise _fail(f"{phone!r}: 不是有效的中国大陆手机号 {exc}", 2) from None
    name = token_name or f"timeseal CLI on {socket.gethostname()}"[:100]
    with _client(base) as client:
        try:
            sent = _call(client, "POST", "/api/v1/auth/sms-code", _code_request(base, e164))
        except ApiCallFailed as exc:
            raise _fail(exc.message) from None
        minutes = max(1, round(int(sent.get("expires_in", 300)) / 60))
        typer.echo(
            f"验证码已发送至 {mask_phone(e164)}，{minutes} 分钟内有效。"
            f" A code was sent to {mask_phone(e164)}; it is valid for {minutes} minutes."
        )
        result: dict[str, Any] | None = None
        for attempt in range(1, CODE_TRIES + 1):
            code = typer.prompt("验证码 Code").strip()
            body = {"phone": e164, "code": code, "kind": "token", "token_name": name}
            try:
                result = _call(client, "POST", "/api/v1/auth/login", body)
                break
            except ApiCallFailed as exc:
                if exc.code != "code_invalid" or attempt == CODE_TRIES:
                    raise _fail(exc.message) from None
                typer.echo(f"✗ {exc.message}", err=True)
    assert result is not None
    token = result["token"]
    with _credentials() as servers:
        servers[base] = {
            "token": token["token"],
            "token_id": token["id"],
            "account_id": result["account"]["id"],
            "phone": result["account"]["phone"],
            "device_token": result.get("device_token"),
            "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    typer.echo(f"✓ 已登录 Logged in to {base} as {mask_phone(e164)}")
    typer.echo(f"  API token {token['name']!r} saved in {credentials_path()}")


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
    base = _resolve_server(server)
    entry = stored_login(base)
    if entry is None:
        typer.echo(f"未登录 Not logged in to {base}.")
        return
    problem = None
    with _client(base, str(entry.get("token", ""))) as client:
        try:
            _call(client, "POST", "/api/v1/auth/logout")
        except ApiCallFailed as exc:
            if exc.code != "unauthenticated":  # already revoked: nothing left to do there
                problem = exc.message
    with _credentials() as servers:
        servers.pop(base, None)
    if problem is not None:
        raise _fail(
            f"已删除本地令牌，但服务器未能吊销它 The local token is gone, but the server did "
            f"not revoke it ({problem}); revoke it in your account's token list."
        )
    typer.echo(f"✓ 已退出 Logged out of {base}")


def whoami(server: ServerOption = None) -> None:
    """Show the account this computer is logged in as."""
    base = _resolve_server(server)
    entry = stored_login(base)
    if entry is None:
        raise _fail(f"未登录 Not logged in to {base}: run `timeseal login --server {base}`.")
    with _client(base, str(entry.get("token", ""))) as client:
        try:
            account = _call(client, "GET", "/api/v1/account")
        except ApiCallFailed as exc:
            if exc.code == "unauthenticated":
                raise _fail(
                    f"令牌已失效 The saved token no longer works: run `timeseal login --server "
                    f"{base}`."
                ) from None
            raise _fail(exc.message) from None
    typer.echo(f"{account['phone']}  (account {account['id']})  {base}")
