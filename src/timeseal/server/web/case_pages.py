"""The account's cases in the browser: one dispute's evidence chain, assembled in order.

::

    GET  /cases                                  the cases, newest first, and a form to open one
    POST /cases                                  open a case (title, description)
    GET  /cases/{id}                             title, description, items with their notes in
                                                 case order, package download, share links
    POST /cases/{id}                             change the title and description
    POST /cases/{id}/items                       add one of the account's items by number, with
                                                 a note (an item already in it: its note changes)
    POST /cases/{id}/items/{number}/remove       take an item out (the item stays sealed)

Share links to a case are created and revoked by :mod:`.share_forms`, like an item's. The
package is the API's download (``/api/v1/cases/{id}/package``, a GET with the session
cookie), so its custody rows are the API's.

The rules are the JSON API's: the same validation models (:class:`~.api.cases.CaseCreate`,
:class:`~.api.cases.CaseUpdate`, :class:`~.api.cases.CaseItemPut`), the same store and
:func:`~timeseal.server.evidence.cases.put_item_in_case` (custody ``shared`` when an item joins a
shared case). Another account's case is the same 404 page as an id that does not exist. A
refused form comes back with the error in the page's language and everything typed kept.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import parse_evidence_number
from timeseal.core.text import is_ascii_decimal
from timeseal.server.accounts.service import Principal
from timeseal.server.api.cases import CaseCreate, CaseItemPut, CaseUpdate
from timeseal.server.api.security import client_ip
from timeseal.server.evidence.cases import case_items, put_item_in_case
from timeseal.server.tsa.service import utc_now
from timeseal.server.web.account_pages import (
    CSRF_FIELD,
    csrf_matches,
    field,
    forbidden,
    login_redirect,
    page_principal,
    read_form,
    render_signed_in,
)
from timeseal.server.web.i18n import N_
from timeseal.server.web.state import share_service, vault_service
from timeseal.server.web.verify import KIND_NAMES
from timeseal.store import cases as case_store
from timeseal.store.cases import Case, CaseFull
from timeseal.store.evidence.rows import EvidenceRecord

CASES_PATH = "/cases"
#: A description may hold 10,000 characters; in UTF-8, percent-encoded, up to 9 bytes each.
MAX_CASE_FORM_BYTES = 128 * 1024
NO_STORE = {"Cache-Control": "no-store"}

#: Why a case form was refused, by the field the API's model names.
FORM_ERRORS: dict[str, str] = {
    "title": N_("Give the case a title of at most 255 characters."),
    "description": N_("A description has at most 10,000 characters."),
    "note": N_("A note has at most 1,000 characters."),
    "number": N_("You have no evidence with this number. Check it on your evidence list."),
    "case_full": N_("This case is full: a case holds at most %(max)s items."),
}


def _refused_field(exc: ValidationError) -> str:
    """The first field the API's model refused."""
    return str(exc.errors()[0]["loc"][0])


def _checked(model: type[BaseModel], **values: Any) -> str | None:
    """None when ``model`` accepts ``values``, else the refused field."""
    try:
        model(**values)
    except ValidationError as exc:
        return _refused_field(exc)
    return None


def _not_found(request: Request, principal: Principal) -> Response:
    return render_signed_in(
        request, principal, "error.html", {"error": "case_not_found"}, status=404
    )


def _own_case(request: Request, principal: Principal, text: str) -> Case | None:
    if not is_ascii_decimal(text) or len(text) > 18:
        return None
    return vault_service(request).cases.get(principal.account.id, int(text))


def _own_record(request: Request, principal: Principal, number: str) -> EvidenceRecord | None:
    try:
        record = vault_service(request).store.get(parse_evidence_number(number))
    except MalformedError:
        return None
    return record if record is not None and record.owner_id == principal.account.id else None


async def _checked_form(request: Request) -> tuple[Principal, FormData] | Response:
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    form = await read_form(request, max_bytes=MAX_CASE_FORM_BYTES)
    if form is None or not csrf_matches(field(form, CSRF_FIELD), principal.csrf_token):
        return forbidden(request)
    return principal, form


# --- the list ----------------------------------------------------------------------------


def _list_context(request: Request, principal: Principal) -> dict[str, Any]:
    cases = sorted(
        vault_service(request).cases.list_for(principal.account.id),
        key=lambda c: (c.created_at, c.id),
        reverse=True,
    )
    return {"cases": cases, "title": "", "description": "", "error": None}


def list_page(request: Request) -> Response:
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    return render_signed_in(request, principal, "case_list.html", _list_context(request, principal))


async def create_case(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    principal, form = checked
    title, description = field(form, "title").strip(), field(form, "description")
    refused = _checked(CaseCreate, title=title, description=description)
    if refused is not None:
        context = {
            **_list_context(request, principal),
            "title": field(form, "title"),
            "description": description,
            "error": refused,
            "form_errors": FORM_ERRORS,
        }
        return render_signed_in(request, principal, "case_list.html", context, status=422)
    case = vault_service(request).cases.create(
        principal.account.id, title, description, now=utc_now()
    )
    return RedirectResponse(f"{CASES_PATH}/{case.id}", status_code=303, headers=NO_STORE)


# --- one case ----------------------------------------------------------------------------


def _detail(
    request: Request,
    principal: Principal,
    case: Case,
    *,
    status: int = 200,
    **typed: Any,
) -> Response:
    context: dict[str, Any] = {
        "case": case,
        "items": case_items(vault_service(request), case.id),
        "kind_names": KIND_NAMES,
        "shares": share_service(request).store.for_case(principal.account.id, case.id),
        "now": utc_now(),
        "form_errors": FORM_ERRORS,
        "max_items": case_store.MAX_CASE_ITEMS,
        # What the forms show: the case as stored, or what was typed in a refused form.
        "edit_title": case.title,
        "edit_description": case.description,
        "edit_error": None,
        "add_number": "",
        "add_note": "",
        "add_error": None,
        **typed,
    }
    return render_signed_in(request, principal, "case_detail.html", context, status=status)


def detail_page(request: Request) -> Response:
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    case = _own_case(request, principal, request.path_params["case"])
    if case is None:
        return _not_found(request, principal)
    return _detail(request, principal, case)


def _back_to(case: Case, anchor: str = "") -> Response:
    return RedirectResponse(f"{CASES_PATH}/{case.id}{anchor}", status_code=303, headers=NO_STORE)


async def edit_case(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    principal, form = checked
    case = _own_case(request, principal, request.path_params["case"])
    if case is None:
        return _not_found(request, principal)
    title, description = field(form, "title").strip(), field(form, "description")
    refused = _checked(CaseUpdate, title=title, description=description)
    if refused is not None:
        return _detail(
            request,
            principal,
            case,
            status=422,
            edit_title=field(form, "title"),
            edit_description=description,
            edit_error=refused,
        )
    vault_service(request).cases.update(
        principal.account.id, case.id, now=utc_now(), title=title, description=description
    )
    return _back_to(case)


async def add_item(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    principal, form = checked
    case = _own_case(request, principal, request.path_params["case"])
    if case is None:
        return _not_found(request, principal)
    number, note = field(form, "number").strip(), field(form, "note")
    typed = {"add_number": field(form, "number"), "add_note": note}
    refused = _checked(CaseItemPut, note=note)
    record = _own_record(request, principal, number)
    if refused is None and record is None:
        refused = "number"
    if refused is not None or record is None:
        return _detail(request, principal, case, status=422, add_error=refused, **typed)
    try:
        added = put_item_in_case(
            vault_service(request),
            principal.account.id,
            case.id,
            record,
            note,
            now=utc_now(),
            ip=client_ip(request),
        )
    except CaseFull:
        return _detail(request, principal, case, status=409, add_error="case_full", **typed)
    if not added:  # deleted meanwhile
        return _not_found(request, principal)
    return _back_to(case, "#items")


async def remove_item(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    principal, _ = checked
    case = _own_case(request, principal, request.path_params["case"])
    record = _own_record(request, principal, request.path_params["number"])
    if case is None or record is None:
        return _not_found(request, principal)
    if not vault_service(request).cases.remove_item(
        principal.account.id, case.id, record.id, now=utc_now()
    ):
        return _not_found(request, principal)
    return _back_to(case, "#items")


#: ``/cases`` and ``/cases/{id}`` with their forms.
routes: list[BaseRoute] = [
    Route(CASES_PATH, list_page, methods=["GET", "HEAD"]),
    Route(CASES_PATH, create_case, methods=["POST"]),
    Route(CASES_PATH + "/{case}", detail_page, methods=["GET", "HEAD"]),
    Route(CASES_PATH + "/{case}", edit_case, methods=["POST"]),
    Route(CASES_PATH + "/{case}/items", add_item, methods=["POST"]),
    Route(CASES_PATH + "/{case}/items/{number}/remove", remove_item, methods=["POST"]),
]
