"""The owner's share-link forms (logged in, CSRF on both)::

    POST /evidence/{number}/shares   create a link to an item or, from a case's page, to the
    POST /cases/{case}/shares        case (days 1-365, label, optional access code of 6-64
                                     characters, the opt-in ``show_ip_and_location``, off
                                     unless ticked); the answer shows ``/s/<token>`` once
    POST /shares/{id}/revoke         revoke one of the account's links

The rules are the API's (:class:`~timeseal.server.evidence.shares.ShareService`, the fields
checked by its :class:`~timeseal.server.api.shares.ShareCreate`); what the link shows to
whoever holds it is :mod:`.share_pages`. The link shown to the owner starts with
:attr:`.state.WebSettings.public_url` (``--public-url``): the request's ``Host`` header is the
client's to choose, and a link built from it could point at another site.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import parse_evidence_number
from timeseal.core.text import is_ascii_decimal
from timeseal.server.accounts.service import Principal
from timeseal.server.api.shares import ShareCreate, new_link
from timeseal.server.evidence.shares import LifetimeOutOfRange
from timeseal.server.web.account_pages import (
    CSRF_FIELD,
    csrf_matches,
    field,
    forbidden,
    login_redirect,
    page_principal,
    read_form,
)
from timeseal.server.web.state import share_service, web_pages, web_settings
from timeseal.store.cases import Case
from timeseal.store.evidence.rows import EvidenceRecord

MAX_DAYS = 365


async def _checked_form(request: Request) -> tuple[Principal, FormData] | Response:
    """The logged-in account and its form, or the answer when either is missing or the
    form's CSRF token is wrong."""
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    form = await read_form(request)
    if form is None or not csrf_matches(field(form, CSRF_FIELD), principal.csrf_token):
        return forbidden(request)
    return principal, form


def _own_record(request: Request, number: str, account_id: int) -> EvidenceRecord | None:
    vault = share_service(request).vault
    try:
        record = vault.store.get(parse_evidence_number(number))
    except MalformedError:
        return None
    return record if record is not None and record.owner_id == account_id else None


def _shared_thing(
    request: Request, account_id: int, context: dict[str, Any]
) -> tuple[EvidenceRecord | None, Case | None]:
    """The account's item (``/evidence/{number}/shares``) or case (``/cases/{case}/shares``)
    to share; sets the page's ``back_url`` and, when it is neither, its ``error``."""
    record = case = None
    if "number" in request.path_params:
        record = _own_record(request, request.path_params["number"], account_id)
        context["back_url"] = None if record is None else f"/evidence/{record.number}"
        missing = "not_found"
    else:
        text = request.path_params["case"]
        if is_ascii_decimal(text) and len(text) <= 18:
            case = share_service(request).vault.cases.get(account_id, int(text))
        context["back_url"] = None if case is None else f"/cases/{case.id}"
        missing = "case_not_found"
    if record is None and case is None:
        context["error"] = missing
    return record, case


async def create_share(request: Request) -> Response:
    """``POST /evidence/{number}/shares`` and ``POST /cases/{case}/shares``."""
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    principal, form = checked
    pages = web_pages(request)
    context: dict[str, Any] = {
        "account": principal.account,
        "csrf_token": principal.csrf_token,
    }
    service = share_service(request)
    record, case = _shared_thing(request, principal.account.id, context)
    if record is None and case is None:
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
        _, token = new_link(service, body, request, principal, record=record, case=case)
    except LifetimeOutOfRange:
        error = "days"
    except ValidationError as exc:
        error = str(exc.errors()[0]["loc"][0])
    if error is not None:
        context.update(error=error, share_url=None)
        return pages.render(request, "share_created.html", context, status=422)
    context["share_path"] = f"/s/{token}"
    context["share_url"] = f"{web_settings(request).public_url.rstrip('/')}/s/{token}"
    return pages.render(request, "share_created.html", context, status=201)


async def revoke_share(request: Request) -> Response:
    """``POST /shares/{id}/revoke``: back to the page of what the link shared."""
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    principal, _ = checked
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
        return web_pages(request).render(request, "error.html", context, status=404)
    back = "/evidence"
    if link.case_id is not None:
        back = f"/cases/{link.case_id}"
    elif link.record_id is not None:
        record = service.vault.store.get_by_id(link.record_id)
        back = "/evidence" if record is None else f"/evidence/{record.number}"
    return RedirectResponse(back, status_code=303, headers={"Cache-Control": "no-store"})


#: The owner's forms: create a link to an item or a case, revoke one.
routes: list[BaseRoute] = [
    Route("/evidence/{number}/shares", create_share, methods=["POST"]),
    Route("/cases/{case}/shares", create_share, methods=["POST"]),
    Route("/shares/{share}/revoke", revoke_share, methods=["POST"]),
]
