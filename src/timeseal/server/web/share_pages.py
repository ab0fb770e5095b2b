"""What a share link shows to anyone holding it (no login)::

    GET  /s/{token}                           facts, preview, downloads (item) or the case
    POST /s/{token}                           the access code form
    GET  /s/{token}/preview                   images and videos only, inline, sandboxed
    GET  /s/{token}/content                   the original file (attachment)
    GET  /s/{token}/items/{number}/content    one item of a shared case
    GET  /s/{token}/package                   the evidence package (ZIP)

The owner creates and revokes links with the forms of :mod:`.share_forms`.

The rules are the API's (:class:`~timeseal.server.evidence.shares.ShareService`): unknown
and revoked links get a 404 page, expired ones a 410 page, wrong codes count towards the same
per-client back-off, every open of the page, preview or a download counts as ``share_opened``
in the custody trail of what it shows, and the package is the copy without IP addresses and
exact locations unless the owner opted in. Failures of a download itself (a bad ``Range``, a package
still building) are the API's JSON errors, as for the owner's downloads.

The access code form carries a CSRF token like the login forms: a random ``ts_share_form``
cookie (HttpOnly, SameSite=Strict, ``Path=/s/<token>``) and, in the form, its HMAC under the
server secret, bound to the link.

The right access code is remembered, not re-posted: the answer to a right code sets
``ts_share`` (HttpOnly, SameSite=Strict, ``Path=/s/<token>``, :data:`CODE_COOKIE_LIFETIME`),
``<expiry>.<HMAC(server secret, token, expiry)>``. It holds neither the code nor anything
usable for another link, a browser cannot read it, and it stops working when it expires or the
link is revoked (revocation is checked on every request). Downloads are then plain links, which
a header (``TimeSeal-Share-Code``) or a re-posted code could not be.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import parse_evidence_number
from timeseal.core.text import is_ascii_decimal
from timeseal.server.api.errors import http_status
from timeseal.server.api.packages import shared_package_response
from timeseal.server.api.security import auth_service, client_ip
from timeseal.server.api.vault import content_response, parse_range
from timeseal.server.refusal import Refusal
from timeseal.server.web.account_pages import (
    CSRF_FIELD,
    csrf_matches,
    error_message,
    field,
    forbidden,
    read_form,
)
from timeseal.server.web.evidence_pages import inline_preview, preview_kind
from timeseal.server.web.i18n import request_lang
from timeseal.server.web.state import public_records, share_service, web_pages
from timeseal.server.web.verify import KIND_NAMES
from timeseal.store.evidence.rows import EvidenceRecord
from timeseal.store.shares import ShareLink

CODE_COOKIE = "ts_share"
#: The access code form's CSRF cookie, as ``account_pages.FORM_COOKIE`` is the login forms'.
FORM_COOKIE = "ts_share_form"
CODE_COOKIE_LIFETIME = dt.timedelta(minutes=30)


def cookie_mac(request: Request, token: str, expiry: int) -> str:
    return auth_service(request).csrf_token(f"share-code\0{token}\0{expiry}")


def form_token(request: Request, token: str, cookie: str) -> str:
    return auth_service(request).csrf_token(f"share-form\0{token}\0{cookie}")


def code_proven(request: Request, token: str) -> bool:
    expiry, _, mac = request.cookies.get(CODE_COOKIE, "").partition(".")
    if not is_ascii_decimal(expiry) or len(expiry) > 12:
        return False
    if int(expiry) < share_service(request).clock().timestamp():
        return False
    return csrf_matches(mac, cookie_mac(request, token, int(expiry)))


def public_page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
) -> Response:
    context = {"account": None, **context}
    response = web_pages(request).render(request, template, context, status=status)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def refusal(request: Request, token: str, exc: Refusal) -> Response:
    lang, _ = request_lang(request)
    if exc.code in {"share_code_required", "share_code_invalid", "rate_limited"}:
        message = None
        if exc.code != "share_code_required":
            message = error_message(exc.code, lang, exc.retry_after)
        status = 200 if exc.code == "share_code_required" else http_status(exc)
        cookie = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
        context = {
            "token": token,
            "error": message,
            "csrf_token": form_token(request, token, cookie),
        }
        response = public_page(request, "share_code.html", context, status)
        response.set_cookie(
            FORM_COOKIE,
            cookie,
            max_age=3600,
            path=f"/s/{token}",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        if exc.retry_after:
            response.headers["Retry-After"] = str(int(exc.retry_after))
        return response
    error = "share_expired" if exc.code == "share_expired" else "share_not_found"
    return public_page(request, "error.html", {"error": error}, http_status(exc))


def open_link(request: Request, token: str, code: str | None = None) -> ShareLink:
    return share_service(request).open(
        token,
        code,
        client_ip=client_ip(request),
        code_proven=code is None and code_proven(request, token),
    )


def opened(request: Request, token: str) -> ShareLink | Response:
    try:
        return open_link(request, token)
    except Refusal as exc:
        if exc.code == "share_code_required":
            return RedirectResponse(f"/s/{token}", status_code=303)
        return refusal(request, token, exc)


def shared_page(request: Request, token: str, link: ShareLink) -> Response:
    service = share_service(request)
    ip = client_ip(request)
    context: dict[str, Any] = {
        "token": token,
        "link": link,
        "kind_names": KIND_NAMES,
    }
    if link.scope == "evidence":
        record = service.record(link)
        service.note_open(link, record, ip)
        facts = public_records(request).facts(record)
        context.update(record=record, facts=facts, preview=preview_kind(record))
    else:
        case, items = service.case(link)
        for record, _ in items:
            service.note_open(link, record, ip)
        context.update(record=None, case=case, items=items)
    return public_page(request, "share.html", context)


def show(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        link = open_link(request, token)
    except Refusal as exc:
        return refusal(request, token, exc)
    return shared_page(request, token, link)


async def enter_code(request: Request) -> Response:
    token = request.path_params["token"]
    form = await read_form(request)
    cookie = request.cookies.get(FORM_COOKIE)
    if form is None or not cookie:
        return forbidden(request)
    if not csrf_matches(field(form, CSRF_FIELD), form_token(request, token, cookie)):
        return forbidden(request)
    code = field(form, "access_code")
    service = share_service(request)
    try:
        link = open_link(request, token, code or None)
    except Refusal as exc:
        return refusal(request, token, exc)
    expiry = int((service.clock() + CODE_COOKIE_LIFETIME).timestamp())
    reply = RedirectResponse(f"/s/{token}", status_code=303, headers={"Cache-Control": "no-store"})
    if link.has_code:
        reply.set_cookie(
            CODE_COOKIE,
            f"{expiry}.{cookie_mac(request, token, expiry)}",
            max_age=int(CODE_COOKIE_LIFETIME.total_seconds()),
            path=f"/s/{token}",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
    return reply


def item_record(request: Request, link: ShareLink) -> EvidenceRecord | None:
    service = share_service(request)
    if link.scope == "evidence":
        return service.record(link)
    try:
        wanted = parse_evidence_number(request.path_params.get("number", ""))
    except MalformedError:
        return None
    _, items = service.case(link)
    return next((r for r, _ in items if r.number == wanted), None)


def not_found(request: Request) -> Response:
    return public_page(request, "error.html", {"error": "share_not_found"}, 404)


def preview(request: Request) -> Response:
    token = request.path_params["token"]
    link = opened(request, token)
    if isinstance(link, Response):
        return link
    record = item_record(request, link) if link.scope == "evidence" else None
    if record is None or preview_kind(record) is None:
        return not_found(request)
    service = share_service(request)
    response = inline_preview(service.vault, record, request)
    service.note_open(link, record, client_ip(request))
    return response


def content(request: Request) -> Response:
    token = request.path_params["token"]
    link = opened(request, token)
    if isinstance(link, Response):
        return link
    wants_item = "number" in request.path_params
    if wants_item != (link.scope == "case"):
        return not_found(request)
    record = item_record(request, link)
    if record is None:
        return not_found(request)
    service = share_service(request)
    start, end, status = parse_range(request.headers.get("range"), record.size)
    service.note_open(link, record, client_ip(request))
    return content_response(service.vault, record, start, end, status)


async def package(request: Request) -> Response:
    token = request.path_params["token"]
    link = opened(request, token)
    if isinstance(link, Response):
        return link
    return await shared_package_response(share_service(request), link, request)


#: The pages of ``/s/{token}``.
routes: list[BaseRoute] = [
    Route("/s/{token}", show, methods=["GET", "HEAD"]),
    Route("/s/{token}", enter_code, methods=["POST"]),
    Route("/s/{token}/preview", preview, methods=["GET", "HEAD"]),
    Route("/s/{token}/content", content, methods=["GET", "HEAD"]),
    Route("/s/{token}/items/{number}/content", content, methods=["GET", "HEAD"]),
    Route("/s/{token}/package", package, methods=["GET", "HEAD"]),
]
