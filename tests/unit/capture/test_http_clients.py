"""Every client of a TimeSeal server is made one way (``capture.clients.http_client``): it
names the software in ``User-Agent`` and sends the API token only when it has one."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from timeseal import __version__
from timeseal.capture.clients import http_client
from timeseal.capture.clients.log import LogClient, LogClientError
from timeseal.capture.clients.recordings import RecordingApi, RecordingApiError
from timeseal.capture.clients.tsa import TSAClient, TSAClientError
from timeseal.cli.server_client import make_client


def _recorder(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    return httpx.MockTransport(answer)


def _tsa(transport: httpx.BaseTransport) -> None:
    with (
        TSAClient("http://ts.example", transport=transport) as client,
        pytest.raises(TSAClientError, match="503"),
    ):
        client.stamp_digest(bytes(32))


def _log(transport: httpx.BaseTransport) -> None:
    with (
        LogClient("http://ts.example", transport=transport) as client,
        pytest.raises(LogClientError, match="503"),
    ):
        client.fetch_checkpoint()


def _recordings(transport: httpx.BaseTransport) -> None:
    with (
        RecordingApi("http://ts.example", "tok", transport=transport) as api,
        pytest.raises(RecordingApiError, match="503"),
    ):
        api.create("rec-1", "screen-recording")


def _cli(transport: httpx.BaseTransport) -> None:
    with make_client("http://ts.example", None, transport) as client:
        client.get("/api/v1/time")


@pytest.mark.parametrize(
    ("call", "authorization"),
    [(_tsa, None), (_log, None), (_recordings, "Bearer tok"), (_cli, None)],
    ids=["tsa", "log", "recordings", "cli"],
)
def test_every_client_names_itself_and_sends_a_token_only_when_it_has_one(
    call: Callable[[httpx.BaseTransport], None], authorization: str | None
) -> None:
    seen: list[httpx.Request] = []
    call(_recorder(seen))
    assert seen, "no request was made"
    for request in seen:
        assert request.headers["user-agent"] == f"timeseal/{__version__}"
        assert request.headers.get("authorization") == authorization


def test_extra_headers_do_not_replace_the_user_agent_unless_asked() -> None:
    seen: list[httpx.Request] = []
    with http_client(timeout=5, transport=_recorder(seen), headers={"Accept-Language": "en"}) as c:
        c.get("http://ts.example/")
    assert seen[0].headers["user-agent"] == f"timeseal/{__version__}"
    assert seen[0].headers["accept-language"] == "en"
    assert "authorization" not in seen[0].headers
