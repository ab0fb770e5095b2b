"""Share links in the browser.

For the owner (logged in, CSRF on both forms)::

    POST /evidence/{number}/shares   create a link to an item or, from a case's page, to the
    POST /cases/{case}/shares        case (days 1-365, label, optional access code of 6-64
                                     characters, the opt-in ``show_ip_and_location``, off
                                     unless ticked); the answer shows ``/s/<token>`` once
    POST /shares/{id}/revoke         revoke one of the account's links

For anyone holding the link (no login)::

    GET  /s/{token}                           facts, preview, downloads (item) or the case
    POST /s/{token}                           the access code form
    GET  /s/{token}/preview                   images and videos only, inline, sandboxed
    GET  /s/{token}/content                   the original file (attachment)
    GET  /s/{token}/items/{number}/content    one item of a shared case
    GET  /s/{token}/package                   the evidence package (ZIP)

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

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import parse_evidence_number
from timeseal.core.package.layout import item_id
from timeseal.core.text import is_ascii_decimal
from timeseal.server.api.errors import http_status
from timeseal.server.api.packages import built, package_response
from timeseal.server.api.public import PublicRecords
from timeseal.server.api.security import auth_service, client_ip
from timeseal.server.api.shares import ShareCreate
from timeseal.server.api.vault import content_response, parse_range
from timeseal.server.evidence.shares import LifetimeOutOfRange, ShareService
from timeseal.server.refusal import Refusal
from timeseal.server.web.account_pages import (
    CSRF_FIELD,
    csrf_matches,
    error_message,
    field,
    forbidden,
    login_redirect,
    page_principal,
    read_form,
)
from timeseal.server.web.evidence_pages import inline_preview, preview_kind
from timeseal.server.web.i18n import request_lang
from timeseal.server.web.render import Pages
from timeseal.server.web.verify import KIND_NAMES
from timeseal.store.evidence import EvidenceRecord
from timeseal.store.shares import ShareLink

CODE_COOKIE = "ts_share"
#: The access code form's CSRF cookie, as ``account_pages.FORM_COOKIE`` is the login forms'.
FORM_COOKIE = "ts_share_form"
CODE_COOKIE_LIFETIME = dt.timedelta(minutes=30)
MAX_DAYS = 365


def share_service(request: Request) -> ShareService:
    service: ShareService = request.app.state.timeseal_shares
    return service


def include_share_pages(
    app: FastAPI, pages: Pages, records: PublicRecords, *, public_url: str
) -> None:
    """Mount the owner's share forms and the public ``/s/{token}`` pages. The link shown to
    the owner starts with ``public_url`` (``--public-url``): the request's ``Host`` header is
    the client's to choose, and a link built from it could point at another site."""

    # --- the owner -------------------------------------------------------------------------

    def own(request: Request, number: str, account_id: int) -> EvidenceRecord | None:
        vault = share_service(request).vault
        try:
            record = vault.store.get(parse_evidence_number(number))
        except MalformedError:
            return None
        return record if record is not None and record.owner_id == account_id else None

    async def create(request: Request) -> Response:
        """``POST /evidence/{number}/shares`` and ``POST /cases/{case}/shares``."""
        principal = page_principal(request)
        if principal is None:
            return login_redirect(request)
        form = await read_form(request)
        if form is None or not csrf_matches(field(form, CSRF_FIELD), principal.csrf_token):
            return forbidden(pages, request)
        context: dict[str, Any] = {
            "account": principal.account,
            "csrf_token": principal.csrf_token,
        }
        service = share_service(request)
        record = case = None
        if "number" in request.path_params:
            record = own(request, request.path_params["number"], principal.account.id)
            context["back_url"] = None if record is None else f"/evidence/{record.number}"
            missing = "not_found"
        else:
            text = request.path_params["case"]
            if is_ascii_decimal(text) and len(text) <= 18:
                case = service.vault.cases.get(principal.account.id, int(text))
            context["back_url"] = None if case is None else f"/cases/{case.id}"
            missing = "case_not_found"
        if record is None and case is None:
            context["error"] = missing
            return pages.render(request, "error.html", context, status=404)
        context["scope"] = "evidence" if record is not None else "case"
        days = field(form, "days").strip()
        code = field(form, "access_code").strip()
        error: str | None = None
        try:
            if not is_ascii_decimal(days) or not 1 <= int(days) <= MAX_DAYS:
                raise LifetimeOutOfRange(days)
            body = ShareCreate(
                expires_at=service.clock() + dt.timedelta(days=int(days)),
                label=field(form, "label").strip(),
                access_code=code or None,
                show_ip_and_location=field(form, "show_ip_and_location") == "1",
            )
            _, token = service.create(
                principal.account.id,
                expires_at=body.expires_at,
                label=body.label,
                code=body.access_code,
                ip=client_ip(request),
                record=record,
                case=case,
                show_ip_location=body.show_ip_and_location,
            )
        except LifetimeOutOfRange:
            error = "days"
        except ValidationError as exc:
            error = str(exc.errors()[0]["loc"][0])
        if error is not None:
            context.update(error=error, share_url=None)
            return pages.render(request, "share_created.html", context, status=422)
        context["share_path"] = f"/s/{token}"
        context["share_url"] = f"{public_url.rstrip('/')}/s/{token}"
        return pages.render(request, "share_created.html", context, status=201)

    async def revoke(request: Request) -> Response:
        principal = page_principal(request)
        if principal is None:
            return login_redirect(request)
        form = await read_form(request)
        if form is None or not csrf_matches(field(form, CSRF_FIELD), principal.csrf_token):
            return forbidden(pages, request)
        text = request.path_params["share"]
        service = share_service(request)
        link = None
        if is_ascii_decimal(text) and len(text) < 19:
            link = service.revoke(principal.account.id, int(text))
        if link is None:
            context = {
                "account": principal.account,
                "csrf_token": principal.csrf_token,
                "error": "not_found",
            }
            return pages.render(request, "error.html", context, status=404)
        back = "/evidence"
        if link.case_id is not None:
            back = f"/cases/{link.case_id}"
        elif link.record_id is not None:
            record = service.vault.store.get_by_id(link.record_id)
            back = "/evidence" if record is None else f"/evidence/{record.number}"
        return RedirectResponse(back, status_code=303, headers={"Cache-Control": "no-store"})

    # --- anyone with the link --------------------------------------------------------------

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
        response = pages.render(request, template, {"account": None, **context}, status=status)
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
            context.update(record=record, facts=records.facts(record), preview=preview_kind(record))
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
            return forbidden(pages, request)
        if not csrf_matches(field(form, CSRF_FIELD), form_token(request, token, cookie)):
            return forbidden(pages, request)
        code = field(form, "access_code")
        service = share_service(request)
        try:
            link = open_link(request, token, code or None)
        except Refusal as exc:
            return refusal(request, token, exc)
        expiry = int((service.clock() + CODE_COOKIE_LIFETIME).timestamp())
        reply = RedirectResponse(
            f"/s/{token}", status_code=303, headers={"Cache-Control": "no-store"}
        )
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
        service = share_service(request)
        packages = service.packages
        withhold = not link.show_ip_location
        if link.scope == "evidence":
            record = service.record(link)
            shared = [record]
            row = await built(packages.item_package(record, withhold_private=withhold))
            filename = f"{item_id(record.number)}.zip"
        else:
            case, items = service.case(link)
            shared = [r for r, _ in items]
            row = await built(packages.case_package(case, withhold_private=withhold))
            filename = f"case-{case.id}.zip"
        response = package_response(packages, row, filename, request)
        for record in shared:
            service.note_open(link, record, client_ip(request))
        return response

    app.router.routes.extend(
        [
            Route("/evidence/{number}/shares", create, methods=["POST"]),
            Route("/cases/{case}/shares", create, methods=["POST"]),
            Route("/shares/{share}/revoke", revoke, methods=["POST"]),
            Route("/s/{token}", show, methods=["GET", "HEAD"]),
            Route("/s/{token}", enter_code, methods=["POST"]),
            Route("/s/{token}/preview", preview, methods=["GET", "HEAD"]),
            Route("/s/{token}/content", content, methods=["GET", "HEAD"]),
            Route("/s/{token}/items/{number}/content", content, methods=["GET", "HEAD"]),
            Route("/s/{token}/package", package, methods=["GET", "HEAD"]),
        ]
    )
