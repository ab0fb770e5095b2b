"""A full disk is an answer, not a crash: 507 Insufficient Storage (RFC 4918 §11.5).

When a write fails because the file system is full or the account's quota is spent
(:func:`~timeseal.server.runtime.disk.is_disk_full`: ``ENOSPC``, ``EDQUOT``; SQLite's
``SQLITE_FULL``; PostgreSQL's ``disk_full``, SQLSTATE 53100), the request is answered 507 — the
API's JSON error under ``/api/``, the site's own error page elsewhere — instead of a bare 500.
Nothing was acknowledged that is not durable: the writers (blob store, upload staging,
database) fail before they report success, so the client may simply retry once space is free
(a tus upload resumes at its durable offset). ``/healthz`` reports ``disk_low`` before it
comes to that.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from timeseal.server.api.errors import API_PREFIX, error_body
from timeseal.server.runtime.disk import is_disk_full

STATUS = 507
CODE = "storage_full"


def install_disk_full_handlers(app: FastAPI) -> None:
    """Answer disk-full errors 507 (API: JSON; pages: the error page); any other error of
    the same types goes on to the ordinary 500."""

    async def handler(request: Request, exc: Exception) -> Response:
        if not is_disk_full(exc):
            raise exc
        return await disk_full_response(request)

    app.add_exception_handler(OSError, handler)
    app.add_exception_handler(DBAPIError, handler)


async def disk_full_response(request: Request) -> Response:
    """507: the API's JSON error under ``/api/`` (and wherever no pages are mounted), the
    site's error page (Chinese first) for a browser's page."""
    pages = getattr(request.app.state, "timeseal_pages", None)
    if pages is None or request.url.path.startswith(API_PREFIX):
        body = error_body(request, CODE, status=STATUS)
        return JSONResponse(
            body.model_dump(exclude_none=True),
            status_code=STATUS,
            headers={"Cache-Control": "no-store"},
        )
    from timeseal.server.web.render import Pages

    assert isinstance(pages, Pages)
    return pages.render(request, "error.html", {"error": CODE}, status=STATUS)
