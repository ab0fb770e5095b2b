"""Bounds every request meets before a handler sees it: body size, JSON nesting depth, query
length. One ASGI middleware (:class:`RequestBounds`), so a route added later is bounded without
anyone remembering to.

1. A query string longer than :data:`MAX_QUERY_BYTES` is refused with 414.
2. A body is read by the middleware, at most :data:`MAX_BODY_BYTES` of it, before the app runs:
   a declared ``Content-Length`` above that is refused with 413 before one byte is read, and a
   chunked body as soon as it passes the limit. So a 100 MB JSON body costs the server at most
   the limit in memory, never the whole body.
3. A JSON body (``application/json``, ``…+json``) nested deeper than :data:`MAX_JSON_DEPTH`
   is refused with 400 before any parser runs (Python's decoder recurses once per level and
   a few kilobytes of ``[`` would otherwise end in ``RecursionError``, a 500).

Routes that stream large bodies on purpose (:data:`STREAMED`) are passed through untouched,
and only with their own media type: each bounds its body itself (the tus upload by its
``Upload-Length`` and the quota, a recording chunk by ``CHUNK_MAX_BYTES``, the verify page's
package by ``MAX_PACKAGE_BYTES``). ``POST /tsa`` is served before this app
(:class:`~timeseal.server.app.RouteFirst`) and bounds its query itself.

Refusals under ``/api/`` are the API's JSON errors; elsewhere the site's own error page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from timeseal.core.text import is_ascii_decimal
from timeseal.server.api.errors import error_body

#: JSON and form bodies of the API and the web forms are small (a case description, the
#: largest, is at most 10,000 characters: under 128 KiB as a form).
MAX_BODY_BYTES = 1024 * 1024
#: The API's deepest model is a few levels; capture metadata a few more.
MAX_JSON_DEPTH = 64
#: Ids, filters, a search text: a few hundred bytes; browsers' own limits start near 8 KiB.
MAX_QUERY_BYTES = 8 * 1024
API_PREFIX = "/api/"


@dataclass(frozen=True, slots=True)
class StreamedRoute:
    """A route that reads a large body as a stream and bounds it itself."""

    method: str
    path: re.Pattern[str]
    media_type: str
    bounded_by: str  # where, for the reader


STREAMED: tuple[StreamedRoute, ...] = (
    StreamedRoute(
        "PATCH",
        re.compile(r"/api/v1/uploads/[^/]+"),
        "application/offset+octet-stream",
        "the upload's Upload-Length and the quota (api.uploads)",
    ),
    StreamedRoute(
        "PUT",
        re.compile(r"/api/v1/recordings/[^/]+/chunks/[^/]+"),
        "application/octet-stream",
        "CHUNK_MAX_BYTES (api.recordings)",
    ),
    StreamedRoute(
        "POST",
        re.compile(r"/verify/package"),
        "multipart/form-data",
        "MAX_PACKAGE_BYTES (web.verify_package)",
    ),
)

# A JSON string, possessive so that an unterminated one is one linear scan to the end.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")


def media_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and "+json" in media)


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` opens more than ``limit`` arrays or objects inside each other (brackets
    inside strings do not count). Unclosed brackets count: a parser recurses into them too."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    depth = 0
    for byte in brackets:
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def streamed(method: str, path: str, media: str) -> StreamedRoute | None:
    for route in STREAMED:
        if method == route.method and media == route.media_type and route.path.fullmatch(path):
            return route
    return None


class _TooLarge(Exception):
    pass


class RequestBounds:
    """The ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
            await self._refuse(scope, receive, send, "query_too_long", 414)
            return
        headers = Headers(scope=scope)
        media = media_type(headers)
        if streamed(scope["method"], scope["path"], media) is not None:
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None and (
            not is_ascii_decimal(declared) or int(declared) > MAX_BODY_BYTES
        ):
            await self._refuse(scope, receive, send, "request_too_large", 413)
            return
        try:
            body, tail = await _read_body(receive)
        except _TooLarge:
            await self._refuse(scope, receive, send, "request_too_large", 413)
            return
        if is_json(media) and json_too_deep(body):
            await self._refuse(scope, receive, send, "json_too_deep", 400)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            if tail is not None:  # the client went away while we read
                return tail
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, code: str, status: int
    ) -> None:
        request = Request(scope, receive)
        response: Response
        headers = {"Cache-Control": "no-store", "Connection": "close"}
        if scope["path"].startswith(API_PREFIX):
            body = error_body(request, code, status=status)
            response = JSONResponse(
                body.model_dump(exclude_none=True), status_code=status, headers=headers
            )
        else:
            pages = getattr(getattr(scope.get("app"), "state", None), "timeseal_pages", None)
            if pages is not None:
                context = {"error": "too_large", "account": None}
                response = pages.render(request, "error.html", context, status=status)
                response.headers.update(headers)
            else:
                text = "请求过大 Request too large\n"
                response = PlainTextResponse(text, status_code=status, headers=headers)
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body, at most :data:`MAX_BODY_BYTES` (else :class:`_TooLarge`), and the
    disconnect message if the client left before finishing it."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body), message
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise _TooLarge
        if not message.get("more_body", False):
            return bytes(body), None
