"""Read-only share links over HTTP.

The owner (logged in)::

    POST   /api/v1/evidence/{number}/shares   create; the answer holds the link token, once
    GET    /api/v1/evidence/{number}/shares   list (token hint only), revoked ones included
    DELETE /api/v1/shares/{share}             revoke (``share`` is the link's id here)

Anyone holding the link, without logging in, while it is neither expired nor revoked::

    GET /api/v1/shares/{share}            the record's facts, token and receipt (``share``
                                          is the link token here)
    GET /api/v1/shares/{share}/content    the bytes, with ``Range``, same content-type rules
                                          as the owner's download

Both paths share one template (``{share}``) because OpenAPI forbids two templates that differ
only in the parameter's name. A link with an access code (6-64 characters) wants it in
``TimeSeal-Share-Code``: none is 403 ``share_code_required``, a wrong one 403
``share_code_invalid``; a client with too many wrong ones in a row waits, with a back-off
(429; :mod:`timeseal.server.evidence.shares`), while other clients are not held up. Unknown
and revoked links are 404 ``not_found`` (nothing to probe); an expired one is 410
``share_expired``. Every open, facts or bytes, counts as ``share_opened`` (no actor, the
client's IP; one row per client and day) in the item's custody trail; creating a link adds
``shared``.

What a link shares carries no IP address and no exact location unless the owner set
``show_ip_and_location`` when creating it: the facts never do, and its packages are then a
withheld copy (:meth:`~timeseal.server.evidence.packages.PackageService.item_package` with
``withhold_private``), sealed and timestamped like the owner's own. The rules are
:class:`~timeseal.server.evidence.shares.ShareService`'s, which the web pages use too; links
expire by its clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import parse_evidence_number
from timeseal.core.text import is_ascii_decimal
from timeseal.server.api.cases import CaseId, case_info
from timeseal.server.api.errors import ApiError, error_responses
from timeseal.server.api.packages import PACKAGE_RESPONSES, shared_package_response
from timeseal.server.api.security import CurrentAccount, client_ip
from timeseal.server.api.state import Shares
from timeseal.server.api.vault import (
    CONTENT_MEDIA_TYPES,
    EvidenceSummary,
    content_response,
    owned_record,
    parse_range,
    proof_fields,
)
from timeseal.server.evidence.shares import MIN_CODE_LENGTH, LifetimeOutOfRange, ShareService
from timeseal.server.evidence.vault import VaultService
from timeseal.store.cases import Case
from timeseal.store.evidence.rows import EvidenceRecord
from timeseal.store.shares import ShareLink

SHARE_CODE_HEADER = "TimeSeal-Share-Code"

ShareCode = Annotated[
    str | None,
    Header(alias=SHARE_CODE_HEADER.lower(), description="The link's access code, if it has one."),
]


class ShareCreate(BaseModel):
    expires_at: AwareDatetime = Field(
        description="When the link stops working; in the future, at most 365 days away."
    )
    label: str = Field("", max_length=100, description="For the owner: who the link is for.")
    access_code: str | None = Field(
        None,
        min_length=MIN_CODE_LENGTH,
        max_length=64,
        description="Optional; stored hashed (scrypt).",
    )
    show_ip_and_location: bool = Field(
        False,
        description="Share IP addresses (custody trail, capture metadata) and exact locations "
        "too. Off: the link's packages are a copy that withholds them (still verifiable).",
    )


class ShareInfo(BaseModel):
    id: int
    scope: Literal["evidence", "case"]
    evidence_number: str | None = Field(description="The shared item (scope evidence).")
    case_id: int | None = Field(description="The shared case (scope case).")
    label: str
    token_hint: str
    has_access_code: bool
    show_ip_and_location: bool
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    active: bool


class ShareCreated(ShareInfo):
    token: str = Field(description="The link token; shown only in this answer.")
    url: str = Field(description="The link's path on this server: /s/<token>.")
    api_url: str


class SharedEvidence(EvidenceSummary):
    scope: Literal["evidence"] = "evidence"
    timestamp_response: str  # base64 of the RFC 3161 TimeStampResp DER
    token_sha256: str
    log_entry: str  # base64 of the log entry the receipt proves
    receipt: str | None  # C2SP tlog-proof text, once sequenced
    share_expires_at: dt.datetime
    content_url: str


class SharedCaseItem(SharedEvidence):
    position: int
    note: str
    added_at: dt.datetime


class SharedCase(BaseModel):
    scope: Literal["case"] = "case"
    title: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    share_expires_at: dt.datetime
    items: list[SharedCaseItem]


def _info(share: ShareLink, now: dt.datetime, *, number: str | None = None) -> dict[str, Any]:
    return {
        "id": share.id,
        "scope": share.scope,
        "evidence_number": number,
        "case_id": share.case_id,
        "label": share.label,
        "token_hint": share.token_hint,
        "has_access_code": share.has_code,
        "show_ip_and_location": share.show_ip_location,
        "created_at": share.created_at,
        "expires_at": share.expires_at,
        "revoked_at": share.revoked_at,
        "active": share.active(now),
    }


def new_link(
    service: ShareService,
    body: ShareCreate,
    request: Request,
    principal: CurrentAccount,
    *,
    record: EvidenceRecord | None,
    case: Case | None,
) -> tuple[ShareLink, str]:
    """Create the link ``body`` asks for (the API's and the web form's one way); its token is
    returned once. :class:`LifetimeOutOfRange` for an expiry outside the allowed range."""
    return service.create(
        principal.account.id,
        expires_at=body.expires_at,
        label=body.label,
        code=body.access_code,
        ip=client_ip(request),
        record=record,
        case=case,
        show_ip_location=body.show_ip_and_location,
    )


def create_link(
    service: ShareService,
    body: ShareCreate,
    request: Request,
    principal: CurrentAccount,
    *,
    record: EvidenceRecord | None = None,
    case: Case | None = None,
) -> dict[str, Any]:
    """A new link to ``record`` or ``case``, as the answer shows it (the token, once)."""
    try:
        share, token = new_link(service, body, request, principal, record=record, case=case)
    except LifetimeOutOfRange:
        raise RequestValidationError(
            [{"loc": ("body", "expires_at"), "msg": "out of range", "type": "value_error"}]
        ) from None
    return {
        **_info(share, service.clock(), number=None if record is None else record.number),
        "token": token,
        "url": f"/s/{token}",
        "api_url": f"/api/v1/shares/{token}",
    }


def open_share(service: ShareService, token: str, code: str | None, request: Request) -> ShareLink:
    return service.open(token, code, client_ip=client_ip(request))


router = APIRouter(prefix="/api/v1", tags=["shares"])


@router.post(
    "/evidence/{number}/shares",
    status_code=201,
    response_model=ShareCreated,
    responses=error_responses(401, 403, 404, 422),
)
async def create_share(
    number: str, body: ShareCreate, request: Request, principal: CurrentAccount, service: Shares
) -> dict[str, Any]:
    """Create a read-only link to one of the caller's records."""
    record = owned_record(service.vault, number, principal)
    return create_link(service, body, request, principal, record=record)


@router.get(
    "/evidence/{number}/shares",
    response_model=list[ShareInfo],
    responses=error_responses(401, 404),
)
async def list_shares(
    number: str, principal: CurrentAccount, service: Shares
) -> list[dict[str, Any]]:
    """The caller's links to one record, oldest first, revoked and expired ones included."""
    record = owned_record(service.vault, number, principal)
    now = service.clock()
    return [
        _info(s, now, number=record.number)
        for s in service.store.for_record(principal.account.id, record.id)
    ]


@router.post(
    "/cases/{case_id}/shares",
    status_code=201,
    response_model=ShareCreated,
    responses=error_responses(401, 403, 404, 422),
    tags=["cases"],
)
async def create_case_share(
    case_id: CaseId, body: ShareCreate, request: Request, principal: CurrentAccount, service: Shares
) -> dict[str, Any]:
    """Create a read-only link to one of the caller's cases: whoever holds it sees the
    case and its items as they are when the link is opened."""
    case = service.vault.cases.get(principal.account.id, case_id)
    if case is None:
        raise ApiError("not_found", 404)
    return create_link(service, body, request, principal, case=case)


@router.get(
    "/cases/{case_id}/shares",
    response_model=list[ShareInfo],
    responses=error_responses(401, 404),
    tags=["cases"],
)
async def list_case_shares(
    case_id: CaseId, principal: CurrentAccount, service: Shares
) -> list[dict[str, Any]]:
    """The caller's links to one case, oldest first, revoked and expired ones included."""
    if service.vault.cases.get(principal.account.id, case_id) is None:
        raise ApiError("not_found", 404)
    now = service.clock()
    return [_info(s, now) for s in service.store.for_case(principal.account.id, case_id)]


@router.delete("/shares/{share}", status_code=204, responses=error_responses(401, 403, 404))
async def revoke_share(share: str, principal: CurrentAccount, service: Shares) -> Response:
    """Revoke one of the caller's links (``share`` is its id). Revoking twice is fine."""
    link = None
    if is_ascii_decimal(share) and len(share) < 19:
        link = service.revoke(principal.account.id, int(share))
    if link is None:
        raise ApiError("not_found", 404)
    return Response(status_code=204)


def _case_answer(
    vault: VaultService,
    share: str,
    link: ShareLink,
    case: Case,
    items: list[tuple[EvidenceRecord, dict[str, Any]]],
) -> dict[str, Any]:
    return {
        **case_info(case),
        "share_expires_at": link.expires_at,
        "items": [
            {
                **proof_fields(vault, record),
                **fields,
                "share_expires_at": link.expires_at,
                "content_url": f"/api/v1/shares/{share}/items/{record.number}/content",
            }
            for record, fields in items
        ],
    }


@router.get(
    "/shares/{share}",
    response_model=SharedEvidence | SharedCase,
    responses=error_responses(403, 404, 410, 429),
)
async def shared(share: str, request: Request, service: Shares, code: ShareCode = None) -> Any:
    """What a link shares (no login; ``share`` is the link token): one record's facts,
    RFC 3161 token and log receipt, or a case with all of that for each of its items."""
    link = open_share(service, share, code, request)
    if link.scope == "evidence":
        record = service.record(link)
        service.note_open(link, record, client_ip(request))
        return {
            **proof_fields(service.vault, record),
            "share_expires_at": link.expires_at,
            "content_url": f"/api/v1/shares/{share}/content",
        }
    case, items = service.case(link)
    for record, _ in items:
        service.note_open(link, record, client_ip(request))
    return _case_answer(service.vault, share, link, case, items)


@router.get(
    "/shares/{share}/content",
    responses={
        200: CONTENT_MEDIA_TYPES,
        206: CONTENT_MEDIA_TYPES,
        **error_responses(403, 404, 410, 416, 429),
    },
    response_class=Response,
)
async def shared_content(
    share: str, request: Request, service: Shares, code: ShareCode = None
) -> Any:
    """The file an evidence link shares, streamed, with one ``Range`` honoured."""
    link = open_share(service, share, code, request)
    if link.scope != "evidence":
        raise ApiError("not_found", 404)
    record = service.record(link)
    start, end, status = parse_range(request.headers.get("range"), record.size)
    service.note_open(link, record, client_ip(request))
    return content_response(service.vault, record, start, end, status)


@router.get(
    "/shares/{share}/items/{number}/content",
    responses={
        200: CONTENT_MEDIA_TYPES,
        206: CONTENT_MEDIA_TYPES,
        **error_responses(403, 404, 410, 416, 429),
    },
    response_class=Response,
)
async def shared_case_content(
    share: str, number: str, request: Request, service: Shares, code: ShareCode = None
) -> Any:
    """One item of a shared case, streamed, with one ``Range`` honoured."""
    link = open_share(service, share, code, request)
    if link.scope != "case":
        raise ApiError("not_found", 404)
    _, items = service.case(link)
    try:
        wanted = parse_evidence_number(number)
    except MalformedError:
        raise ApiError("not_found", 404) from None
    record = next((r for r, _ in items if r.number == wanted), None)
    if record is None:
        raise ApiError("not_found", 404)
    start, end, status = parse_range(request.headers.get("range"), record.size)
    service.note_open(link, record, client_ip(request))
    return content_response(service.vault, record, start, end, status)


@router.get(
    "/shares/{share}/package",
    responses={**PACKAGE_RESPONSES, **error_responses(403, 404, 409, 410, 416, 429, 503)},
    response_class=StreamingResponse,
)
async def shared_package(
    share: str, request: Request, service: Shares, code: ShareCode = None
) -> StreamingResponse:
    """The evidence package (ZIP) of what the link shares: the item, or the whole case;
    built on first request, ``Range`` resumes. Without the owner's opt-in it is the copy
    that withholds IP addresses and exact locations."""
    link = open_share(service, share, code, request)
    return await shared_package_response(service, link, request)
