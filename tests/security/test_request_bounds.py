"""Resource bounds on every route (issue 12, point 9): a 100 MB body to any route is refused
with 413 before it is read (not buffered and then refused), a deeply nested JSON body with 400
before a parser recurses into it, an overlong query string with 414. Table-driven over every
route the app serves, so a new route is bounded (and tested) by itself.

The oversized bodies are fed to the ASGI app directly, through a ``receive`` that counts what
the app pulls: a test client would first read the whole body itself."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Message

from tests.support.accounts import log_in
from tests.support.routes import SAFE_METHODS, fill, http_routes, path_names
from tests.support.tus import upload_whole
from timeseal.server.middleware.request_bounds import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    MAX_QUERY_BYTES,
    STREAMED,
    json_too_deep,
)

HUNDRED_MB = 100 * 1024 * 1024
PIECE = 64 * 1024
#: A value for every path parameter: the refusal comes before any lookup.
ANY_IDS = {
    "leaf_hash": "00" * 32,
    "session_id": "s",
    "token_id": "t",
    "upload_id": "u",
    "number": "TS-0",
    "recording_id": "r",
    "index": 0,
    "case_id": 1,
    "case": 1,
    "share": "x",
    "session": "s",
    "token": "t",
    "rest": "0/000",
    "path": "x.css",
}


def every_route(client: TestClient) -> list[tuple[str, str]]:
    routes = [(m, fill(p, ANY_IDS)) for m, p in http_routes(client.app) if m != "HEAD"]
    unknown = {n for _, p in http_routes(client.app) for n in path_names(p)} - set(ANY_IDS)
    assert not unknown, f"give ANY_IDS a value for {unknown}"
    assert len(routes) > 60, routes
    return routes


class Sent:
    """A request body of ``size`` bytes, handed to the app ``PIECE`` at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pulled = 0

    async def receive(self) -> Message:
        if self.pulled >= self.size:
            await asyncio.sleep(3600)  # the client is waiting for the answer
        piece = min(PIECE, self.size - self.pulled)
        self.pulled += piece
        return {"type": "http.request", "body": b"[" * piece, "more_body": self.pulled < self.size}


def call(
    app: Any, method: str, url: str, body: Sent, *, declared: bool, media: str
) -> tuple[int, bytes]:
    path, _, query = url.partition("?")
    headers = [(b"content-type", media.encode()), (b"host", b"testserver")]
    if declared:
        headers.append((b"content-length", str(body.size).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("10.3.3.3", 1),
        "server": ("testserver", 80),
    }
    answer: dict[str, Any] = {"body": b""}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    async def run() -> None:
        await asyncio.wait_for(app(scope, body.receive, send), timeout=60)

    asyncio.run(run())
    return answer["status"], answer["body"]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_100_mb_body_to_any_route_is_refused_before_it_is_read(
    client: TestClient, declared: bool
) -> None:
    refused = []
    for method, url in every_route(client):
        for media in ("application/json", "application/x-www-form-urlencoded"):
            body = Sent(HUNDRED_MB)
            status, reply = call(client.app, method, url, body, declared=declared, media=media)
            assert status == 413, (method, url, media, status, reply[:200])
            # Declared: refused before one byte is read; chunked: as soon as it passes the limit.
            assert body.pulled <= (0 if declared else MAX_BODY_BYTES + PIECE), (method, url)
            if url.startswith("/api/"):
                assert b'"request_too_large"' in reply, (method, url)
            else:
                assert "请求过大".encode() in reply, (method, url)  # the site's page
            refused.append((method, url))
    assert len(refused) > 120


def test_streamed_routes_still_take_large_bodies_of_their_own_kind(
    client: TestClient, data_dir: Path
) -> None:
    """The tus upload (its own media type) is not capped at the JSON limit: a 3 MiB file goes
    through in one PATCH. Its other media types are capped like any route."""
    token = log_in(client, data_dir / "sms-outbox.log", kind="token")["token"]["token"]
    auth = {"Authorization": f"Bearer {token}"}
    data = b"x" * (3 * 1024 * 1024)
    sha256 = hashlib.sha256(data).hexdigest()
    patched = upload_whole(client, auth, data, filename="big.bin", sha256=sha256)
    assert patched["upload-offset"] == str(len(data))
    assert {r.method for r in STREAMED} == {"PATCH", "PUT", "POST"}


def test_deeply_nested_json_is_refused_before_parsing_on_every_json_route(
    client: TestClient, data_dir: Path
) -> None:
    token = log_in(client, data_dir / "sms-outbox.log", kind="token")["token"]["token"]
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    spec = client.get("/openapi.json").json()
    checked = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            url = fill(path, ANY_IDS)
            deep = b"[" * 2000 + b"]" * 2000  # 4 KB
            reply = client.request(method.upper(), url, content=deep, headers=auth)
            assert reply.status_code == 400, (method, path, reply.status_code, reply.text)
            assert reply.json()["error"]["code"] == "json_too_deep", (method, path)
            checked.append((method, path))
    assert len(checked) >= 8, checked


def test_json_depth_counts_only_structure() -> None:
    assert not json_too_deep(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert json_too_deep(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert json_too_deep(b'{"a":' * 100)  # unclosed: a parser recurses into it too
    assert not json_too_deep(b'{"a": "' + b"[" * 5000 + b'"}')  # brackets inside a string
    assert not json_too_deep(b'{"a": "\\"' + b"{" * 5000 + b'"}')  # an escaped quote
    assert json_too_deep(b'["\\\\"' + b",[" * 100)  # an escaped backslash ends the string
    assert not json_too_deep(b'"' + b"[" * 100)  # an unterminated string holds the rest


@pytest.mark.parametrize("prefix", ["/api/v1/evidence", "/evidence", "/verify"])
def test_an_overlong_query_string_is_refused(client: TestClient, prefix: str) -> None:
    reply = client.get(f"{prefix}?q={'a' * (MAX_QUERY_BYTES + 1)}")
    assert reply.status_code == 414, reply.text
    if prefix.startswith("/api/"):
        assert reply.json()["error"]["code"] == "query_too_long"
    else:
        assert reply.headers["content-type"].startswith("text/html")
        assert "请求过大" in reply.text
    assert client.get(f"{prefix}?q={'a' * 100}").status_code != 414


def test_non_mutating_methods_are_bounded_too(client: TestClient) -> None:
    """GET and DELETE never need a body: a large one is refused like any other."""
    for method, url in every_route(client):
        if method in SAFE_METHODS | {"DELETE"}:
            body = Sent(MAX_BODY_BYTES + 1)
            status, _ = call(client.app, method, url, body, declared=True, media="text/plain")
            assert status == 413, (method, url)
