"""Evidence packages and certificates over HTTP (docs/package-format.md), for the owner::

    GET /api/v1/evidence/{number}/package       the item's sealed ZIP
    GET /api/v1/evidence/{number}/certificate   the item's certificate PDF (认证证书)
    GET /api/v1/cases/{case_id}/package         the case's sealed ZIP (all its items, in order)

The first request builds the package (a few seconds for large media); later requests for the
same inputs get the same bytes, so ``Range`` resumes a broken download, also across requests.
Each answer carries ``Content-Length``, ``Accept-Ranges``, the ZIP's SHA-256 as ``ETag``, and
adds ``downloaded`` to the custody trail of every item in it. Share links have their own path
(``/api/v1/shares/{token}/package``, :mod:`timeseal.server.api.shares`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import StreamingResponse

from timeseal.core.package.layout import item_id
from timeseal.server.api.cases import CaseId
from timeseal.server.api.errors import ApiError, error_responses
from timeseal.server.api.security import CurrentAccount, client_ip
from timeseal.server.api.state import Certificates, Packages, Vault
from timeseal.server.api.vault import blob_response, owned_record, parse_range
from timeseal.server.evidence.packages import EmptyCase, PackageError, PackageService
from timeseal.server.evidence.shares import ShareService
from timeseal.server.evidence.vault import NotSequenced, VaultService
from timeseal.server.tsa.service import utc_now
from timeseal.store.blobs import BlobRef
from timeseal.store.packages import PackageRow
from timeseal.store.shares import ShareLink

ZIP_MEDIA_TYPE = "application/zip"
PDF_MEDIA_TYPE = "application/pdf"
PACKAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {ZIP_MEDIA_TYPE: {}}},
    206: {"content": {ZIP_MEDIA_TYPE: {}}},
}


async def built(build: Awaitable[PackageRow]) -> PackageRow:
    """Await a package build, answering its failures as API errors."""
    try:
        row = await build
    except NotSequenced:
        raise ApiError("not_sequenced", 503, retry_after=2) from None
    except EmptyCase:
        raise ApiError("case_empty", 409) from None
    except PackageError:
        raise ApiError("package_failed", 503, retry_after=30) from None
    return row


def package_response(
    packages: PackageService, row: PackageRow, filename: str, request: Request
) -> StreamingResponse:
    """The package's bytes (one ``Range`` honoured) as ``filename``."""
    start, end, status = parse_range(request.headers.get("range"), row.size)
    return blob_response(
        packages.vault,
        BlobRef(row.package_sha256, row.size),
        filename,
        ZIP_MEDIA_TYPE,
        start,
        end,
        status,
    )


def note_downloads(
    vault: VaultService, record_ids: Iterable[int], principal: CurrentAccount, request: Request
) -> None:
    """Custody ``downloaded`` by the caller for every record in a download."""
    for record_id in record_ids:
        vault.store.add_custody(
            record_id,
            "downloaded",
            actor_id=principal.account.id,
            at=utc_now(),
            client_ip=client_ip(request),
        )


router = APIRouter(prefix="/api/v1", tags=["packages"])


@router.get(
    "/evidence/{number}/certificate",
    responses={
        200: {"content": {PDF_MEDIA_TYPE: {}}},
        206: {"content": {PDF_MEDIA_TYPE: {}}},
        **error_responses(401, 404, 416, 503),
    },
    response_class=StreamingResponse,
)
async def evidence_certificate(
    number: str,
    request: Request,
    principal: CurrentAccount,
    vault: Vault,
    certificates: Certificates,
) -> StreamingResponse:
    """The item's certificate PDF, signed and timestamped; issued once, on first request."""
    record = owned_record(vault, number, principal)
    try:
        ref = await certificates.certificate(record)
    except NotSequenced:
        raise ApiError("not_sequenced", 503, retry_after=2) from None
    start, end, status = parse_range(request.headers.get("range"), ref.size)
    response = blob_response(
        vault,
        ref,
        f"{item_id(record.number)}-certificate.pdf",
        PDF_MEDIA_TYPE,
        start,
        end,
        status,
    )
    note_downloads(vault, [record.id], principal, request)
    return response


@router.get(
    "/evidence/{number}/package",
    responses={**PACKAGE_RESPONSES, **error_responses(401, 404, 416, 503)},
    response_class=StreamingResponse,
)
async def evidence_package(
    number: str, request: Request, principal: CurrentAccount, packages: Packages
) -> StreamingResponse:
    """The item's evidence package (ZIP), built on first request; ``Range`` resumes."""
    record = owned_record(packages.vault, number, principal)
    row = await built(packages.item_package(record))
    response = package_response(packages, row, f"{item_id(record.number)}.zip", request)
    note_downloads(packages.vault, [record.id], principal, request)
    return response


@router.get(
    "/cases/{case_id}/package",
    responses={**PACKAGE_RESPONSES, **error_responses(401, 404, 409, 416, 503)},
    response_class=StreamingResponse,
    tags=["cases"],
)
async def case_package(
    case_id: CaseId, request: Request, principal: CurrentAccount, packages: Packages
) -> StreamingResponse:
    """The case's evidence package (ZIP of all its items), built on first request."""
    vault = packages.vault
    case = vault.cases.get(principal.account.id, case_id)
    if case is None:
        raise ApiError("not_found", 404)
    row = await built(packages.case_package(case))
    response = package_response(packages, row, f"case-{case.id}.zip", request)
    note_downloads(
        vault, (item.record_id for item in vault.cases.items(case.id)), principal, request
    )
    return response


async def shared_package_response(
    service: ShareService, link: ShareLink, request: Request
) -> StreamingResponse:
    """The package of what the opened ``link`` shares (the item, or the whole case), built
    on first request, ``Range`` honoured; each shared item's custody notes the opening. The
    one answer behind the API's and the share page's download."""
    packages = service.packages
    withhold = not link.show_ip_location
    if link.scope == "evidence":
        record = service.record(link)
        records = [record]
        row = await built(packages.item_package(record, withhold_private=withhold))
        filename = f"{item_id(record.number)}.zip"
    else:
        case, items = service.case(link)
        records = [r for r, _ in items]
        row = await built(packages.case_package(case, withhold_private=withhold))
        filename = f"case-{case.id}.zip"
    response = package_response(packages, row, filename, request)
    for record in records:
        service.note_open(link, record, client_ip(request))
    return response
