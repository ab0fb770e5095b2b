"""Talking to a TimeSeal server's ``/api/v1``: which server, how to ask it, what failed.

Every command that calls the server's JSON API (or its tus uploads) goes through here:

- :func:`resolve_server` picks the server for every command that talks to one: ``--server``,
  else ``$TIMESEAL_SERVER``, else the only server logged in to, else
  :data:`timeseal.cli.settings.DEFAULT_SERVER`, and says which on stderr (one line);
- :func:`logged_in` adds the API token ``timeseal login`` kept for it (or exits asking to log
  in);
- :func:`make_client` is the HTTP client: our User-Agent, the user's language, the token as
  ``Authorization: Bearer``, and :data:`TIMEOUT`;
- :func:`send` and :func:`call_api` make one request; every failure is one
  :class:`ServerCallFailed`, whose ``retryable`` says whether trying again may help.
"""

from __future__ import annotations

from typing import Annotated, Any

import click
import httpx
import typer

from timeseal.capture.clients import error_words, http_client
from timeseal.cli import settings as cli_settings
from timeseal.cli.credentials import known_servers, server_key, stored_token
from timeseal.cli.errors import CliError
from timeseal.cli.exits import fail

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class ServerCallFailed(CliError):
    """A request to the server failed; ``str()`` is the message to print.

    ``code`` is the API's error code (``unreachable`` when no answer came, ``http_error``
    when the answer named none), ``status`` the HTTP status (0: no answer), ``reason`` the
    server's own words without the status, and ``retryable`` true when trying again may help
    (network, 5xx but ``clock_untrusted``, 409, a chunk's checksum)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        code: str = "",
        status: int = 0,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.status = status
        self.reason = message if reason is None else reason


def accept_language() -> str:
    locale = cli_settings.locale_name()
    return "en, zh;q=0.5" if (locale or "").lower().startswith("en") else "zh-CN, en;q=0.5"


def make_client(
    server: str, token: str | None = None, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An HTTP client for ``server``, with the API token when there is one; ``transport``
    for tests."""
    return http_client(
        base_url=server,
        token=token,
        headers={"Accept-Language": accept_language()},
        timeout=TIMEOUT,
        transport=transport,
    )


def failure(reply: httpx.Response) -> ServerCallFailed:
    """The error for an answer that is not the one expected: the API's error code and
    message when it gave them (``{"error": {"code", "message"}}``), in both languages as
    "中文 / English" when it gave both (``message_zh``, ``message_en``), else its status."""
    code, reason = "http_error", f"HTTP {reply.status_code}"
    message = reason
    try:
        error = reply.json()["error"]
        code, reason = str(error["code"]), error_words(error)
        message = f"{reason} (HTTP {reply.status_code})"
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    retryable = reply.status_code >= 500 or reply.status_code == 409 or code == "checksum_mismatch"
    # an untrusted clock stays untrusted until the operator acts: retrying only hides the hint
    retryable = retryable and code != "clock_untrusted"
    return ServerCallFailed(
        message, retryable=retryable, code=code, status=reply.status_code, reason=reason
    )


def send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; whatever the answer. Raises :class:`ServerCallFailed` when none came."""
    try:
        return client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise _unreachable(client, exc, retryable=True) from exc
    except httpx.RequestError as exc:  # too many redirects, an undecodable body
        raise _unreachable(client, exc, retryable=False) from exc


def _unreachable(client: httpx.Client, exc: Exception, *, retryable: bool) -> ServerCallFailed:
    message = f"无法连接 cannot reach {client.base_url}: {exc!r}"
    return ServerCallFailed(message, retryable=retryable, code="unreachable")


def call_api(
    client: httpx.Client, method: str, url: str, *, expect: int = 200, **kwargs: Any
) -> Any:
    """One JSON API call: the decoded answer (None for 204). Raises
    :class:`ServerCallFailed` unless the status is ``expect``."""
    reply = send(client, method, url, **kwargs)
    if reply.status_code != expect:
        raise failure(reply)
    return None if reply.status_code == 204 else reply.json()


def resolve_server(server: str | None, *, announce: bool = True) -> str:
    """--server, else $TIMESEAL_SERVER, else the only server logged in to, else the default;
    as :func:`~timeseal.cli.credentials.server_key` spells it (a usage error if no URL).
    With ``announce``, says on stderr which server and why, once per server and command."""
    if server:
        chosen, source = server, "--server"
    elif from_env := cli_settings.server_from_env():
        chosen, source = from_env, f"${cli_settings.SERVER_ENV}"
    else:
        known = known_servers()
        if len(known) == 1:
            chosen, source = known[0], "已登录 logged in"
        else:
            chosen, source = cli_settings.DEFAULT_SERVER, "默认 default"
    try:
        base = server_key(chosen)
    except ValueError as exc:
        raise fail(f"--server: {exc}", 2) from None
    if announce:
        _announce(base, source)
    return base


def _announce(base: str, source: str) -> None:
    """``服务器 Server: URL (source)`` on stderr, once per server in one command line (the
    click context's ``meta`` is shared by the whole invocation; outside one, every time)."""
    context = click.get_current_context(silent=True)
    if context is not None:
        announced: set[str] = context.meta.setdefault("timeseal.servers_announced", set())
        if base in announced:
            return
        announced.add(base)
    typer.echo(f"服务器 Server: {base} ({source})", err=True)


def logged_in(server: str | None) -> tuple[str, str]:
    """The server's base URL and the stored API token for it, or exit asking to log in."""
    base = resolve_server(server)
    token = stored_token(base)
    if token is None:
        raise fail(f"未登录 Not logged in to {base}: run `timeseal login --server {base}`.")
    return base, token


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        help=f"TimeSeal server URL (default: ${cli_settings.SERVER_ENV}, or the only server "
        f"you are logged in to, or {cli_settings.DEFAULT_SERVER}).",
    ),
]
