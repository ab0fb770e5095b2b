"""HTTP clients of a TimeSeal server: the TSA, the live recording API, and the log."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from timeseal import __version__

#: Every request names the software, so a server's log tells TimeSeal clients apart.
USER_AGENT = f"timeseal/{__version__}"


def http_client(
    *,
    timeout: float | httpx.Timeout,
    transport: httpx.BaseTransport | None = None,
    base_url: str = "",
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """The one way a client of a TimeSeal server is made: our User-Agent, the API token as a
    bearer when there is one, a timeout on every request; ``transport`` for tests."""
    sent = {"User-Agent": USER_AGENT, **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=base_url, headers=sent, timeout=timeout, transport=transport)


def error_words(error: Mapping[str, object]) -> str:
    """The words of a ``/api/v1`` error object as the ``timeseal`` command writes them:
    "中文 / English" (``message_zh``, ``message_en``), or its one ``message`` from a server
    that gives only that. ``KeyError`` when it has none."""
    zh, en = error.get("message_zh"), error.get("message_en")
    if isinstance(zh, str) and isinstance(en, str) and zh and en:
        return zh if zh == en else f"{zh} / {en}"
    return str(error["message"])
