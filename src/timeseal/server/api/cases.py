"""Cases over HTTP: the owner assembles sealed items into the evidence chain of one dispute.

::

    POST   /api/v1/cases                              create
    GET    /api/v1/cases                              the caller's cases, last changed first
    GET    /api/v1/cases/{case_id}                    one case with its items, in order
    PATCH  /api/v1/cases/{case_id}                    change the title or description
    DELETE /api/v1/cases/{case_id}                    delete the case (never its items);
                                                      its share links stop working
    PUT    /api/v1/cases/{case_id}/items/{number}     add an item at the end, or change its note
    DELETE /api/v1/cases/{case_id}/items/{number}     take an item out

Share links to a case are in :mod:`timeseal.server.api.shares`. Another account's case, or
an item that is not the caller's, is 404 ``not_found``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from timeseal.server.api.errors import ApiError, error_responses
from timeseal.server.api.security import CurrentAccount, client_ip
from timeseal.server.api.state import Shares, Vault
from timeseal.server.api.vault import MAX_ID, EvidenceSummary, owned_record, summary
from timeseal.server.evidence.cases import case_items, put_item_in_case
from timeseal.server.evidence.vault import VaultService
from timeseal.server.tsa.service import utc_now
from timeseal.store.cases import Case, CaseFull

CaseId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="The case's id.")]


class CaseCreate(BaseModel):
    title: str = Field(min_length=1, max_length=255, description="e.g. 某店铺泄露个人信息")
    description: str = Field("", max_length=10_000, description="What the dispute is about.")


class CaseUpdate(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = Field(None, max_length=10_000)


class CaseItemPut(BaseModel):
    note: str | None = Field(
        None, max_length=1000, description="What this item shows; omitted keeps the note."
    )


class CaseInfo(BaseModel):
    id: int
    title: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    item_count: int


class CaseItemInfo(EvidenceSummary):
    position: int
    note: str
    added_at: dt.datetime


class CaseDetail(CaseInfo):
    items: list[CaseItemInfo]


def case_info(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "title": case.title,
        "description": case.description,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "item_count": case.item_count,
    }


def own_case(vault: VaultService, case_id: int, principal: CurrentAccount) -> Case:
    case = vault.cases.get(principal.account.id, case_id)
    if case is None:
        raise ApiError("not_found", 404)
    return case


def case_detail(vault: VaultService, case: Case) -> dict[str, Any]:
    return {
        **case_info(case),
        "items": [
            {**summary(vault.sequenced(record)), **fields}
            for record, fields in case_items(vault, case.id)
        ],
    }


router = APIRouter(prefix="/api/v1", tags=["cases"])


@router.post("/cases", status_code=201, response_model=CaseInfo, responses=error_responses(401))
async def create_case(body: CaseCreate, principal: CurrentAccount, vault: Vault) -> dict[str, Any]:
    """Open a new, empty case."""
    case = vault.cases.create(principal.account.id, body.title, body.description, now=utc_now())
    return case_info(case)


@router.get("/cases", response_model=list[CaseInfo], responses=error_responses(401))
async def list_cases(principal: CurrentAccount, vault: Vault) -> list[dict[str, Any]]:
    """The caller's cases, the most recently changed first."""
    return [case_info(c) for c in vault.cases.list_for(principal.account.id)]


@router.get("/cases/{case_id}", response_model=CaseDetail, responses=error_responses(401, 404))
async def get_case(case_id: CaseId, principal: CurrentAccount, vault: Vault) -> dict[str, Any]:
    """One case with its items in order."""
    return case_detail(vault, own_case(vault, case_id, principal))


@router.patch("/cases/{case_id}", response_model=CaseInfo, responses=error_responses(401, 404))
async def update_case(
    case_id: CaseId, body: CaseUpdate, principal: CurrentAccount, vault: Vault
) -> dict[str, Any]:
    """Change the title or the description."""
    own_case(vault, case_id, principal)
    case = vault.cases.update(
        principal.account.id,
        case_id,
        now=utc_now(),
        title=body.title,
        description=body.description,
    )
    if case is None:  # deleted meanwhile
        raise ApiError("not_found", 404)
    return case_info(case)


@router.delete("/cases/{case_id}", status_code=204, responses=error_responses(401, 404))
async def delete_case(
    case_id: CaseId, principal: CurrentAccount, vault: Vault, shares: Shares
) -> Response:
    """Delete the case: its items stay sealed records; its share links are revoked."""
    now = utc_now()
    if not vault.cases.delete(principal.account.id, case_id, now=now):
        raise ApiError("not_found", 404)
    for link in shares.store.for_case(principal.account.id, case_id):
        shares.store.revoke(link.id, now=now)
    return Response(status_code=204)


@router.put(
    "/cases/{case_id}/items/{number}",
    response_model=CaseDetail,
    responses=error_responses(401, 404, 409),
)
async def put_case_item(
    case_id: CaseId,
    number: str,
    body: CaseItemPut,
    request: Request,
    principal: CurrentAccount,
    vault: Vault,
) -> dict[str, Any]:
    """Add one of the caller's items at the end of the case, or change its note."""
    own_case(vault, case_id, principal)
    record = owned_record(vault, number, principal)
    try:
        added = put_item_in_case(
            vault,
            principal.account.id,
            case_id,
            record,
            body.note,
            now=utc_now(),
            ip=client_ip(request),
        )
    except CaseFull:
        raise ApiError("case_full", 409) from None
    if not added:
        raise ApiError("not_found", 404)
    return case_detail(vault, own_case(vault, case_id, principal))


@router.delete(
    "/cases/{case_id}/items/{number}", status_code=204, responses=error_responses(401, 404)
)
async def remove_case_item(
    case_id: CaseId, number: str, principal: CurrentAccount, vault: Vault
) -> Response:
    """Take an item out of the case (the item itself stays, sealed)."""
    own_case(vault, case_id, principal)
    record = owned_record(vault, number, principal)
    if not vault.cases.remove_item(principal.account.id, case_id, record.id, now=utc_now()):
        raise ApiError("not_found", 404)
    return Response(status_code=204)
