"""The account's evidence in the browser: ``/evidence`` (list, search, filters by kind,
case and sealing day in Beijing time) and
``/evidence/{number}`` (facts, preview, downloads, custody trail, share links, the cases that
hold it; the list's case filter links to the case's page, :mod:`.case_pages`).

Everything is read through the same stores as ``/api/v1/evidence`` (no HTTP round trip) and
for the logged-in account only: another account's number gets the same 404 page as a number
that does not exist. Downloads are links to the owner-only API URLs (a GET with the session
cookie needs no CSRF token), so custody is noted there exactly as for API clients.

Previews (``/evidence/{number}/preview``) are the one place content is shown *inline*: only
images and videos (never SVG, which can carry script), with the record's media type,
``nosniff`` and a ``sandbox`` CSP of their own, for the owner only.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from timeseal.core.evidence.number import find_by_number
from timeseal.core.log_entry import EVIDENCE_KINDS
from timeseal.core.text import is_ascii_decimal
from timeseal.server.accounts.service import Principal
from timeseal.server.api.security import client_ip
from timeseal.server.api.vault import blob_response, parse_range
from timeseal.server.evidence.vault import VaultService
from timeseal.server.web.account_pages import login_redirect, page_principal, render_signed_in
from timeseal.server.web.i18n import N_
from timeseal.server.web.render import BEIJING
from timeseal.server.web.state import public_records, share_service, vault_service
from timeseal.server.web.verify import KIND_NAMES
from timeseal.store.blobs import BlobRef
from timeseal.store.evidence.rows import EvidenceRecord

PAGE_SIZE = 20
MAX_PAGE = 10_000
MAX_QUERY = 100
#: Media types a preview shows inline; ``image/svg+xml`` is deliberately not one.
PREVIEW_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"})
PREVIEW_VIDEOS = frozenset({"video/mp4", "video/webm", "video/ogg", "video/quicktime"})
PREVIEW_CSP = "default-src 'none'; sandbox"

#: Custody actions (``store.evidence.tables``) as people say them.
CUSTODY_NAMES: dict[str, str] = {
    "uploaded": N_("Uploaded"),
    "sealed": N_("Sealed"),
    "viewed": N_("Viewed"),
    "downloaded": N_("Downloaded"),
    "shared": N_("Share link created"),
    "share_opened": N_("Opened through a share link"),
}


def preview_kind(record: EvidenceRecord) -> str | None:
    """``"image"``, ``"video"`` or None: whether and how the detail page previews it."""
    media = record.media_type.lower().split(";")[0].strip()
    if media in PREVIEW_IMAGES:
        return "image"
    if media in PREVIEW_VIDEOS:
        return "video"
    return None


def inline_preview(vault: VaultService, record: EvidenceRecord, request: Request) -> Response:
    """The record's bytes inline (one ``Range`` honoured) for a preview: its media type, which
    the caller checked with :func:`preview_kind`, ``nosniff`` and a ``sandbox`` CSP. Used by
    the owner's preview and by share links' (:mod:`.share_pages`)."""
    if preview_kind(record) is None:
        raise ValueError(f"no preview for {record.media_type}")
    start, end, status = parse_range(request.headers.get("range"), record.size)
    response = blob_response(
        vault,
        BlobRef(record.content_sha256, record.size),
        record.filename,
        record.media_type.lower().split(";")[0].strip(),
        start,
        end,
        status,
        disposition="inline",
    )
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def _int(text: str | None, *, low: int, high: int) -> int | None:
    if text is None or not is_ascii_decimal(text) or len(text) > 19:
        return None
    value = int(text)
    return value if low <= value <= high else None


def beijing_day(text: str | None) -> dt.date | None:
    """A ``YYYY-MM-DD`` from a date field, or None (empty or not a date)."""
    try:
        return dt.date.fromisoformat(text or "") if len(text or "") == 10 else None
    except ValueError:
        return None


def day_start(day: dt.date) -> dt.datetime:
    """Midnight of ``day`` in Beijing time: the date filters speak the time the pages show."""
    return dt.datetime.combine(day, dt.time(), tzinfo=BEIJING)


def _not_found(request: Request, principal: Principal, problem: str = "not_found") -> Response:
    """The error page for an item not shown: unknown (404), or a number whose check
    character is missing or wrong (400, saying so)."""
    status = 404 if problem == "not_found" else 400
    return render_signed_in(request, principal, "error.html", {"error": problem}, status=status)


def _own(request: Request, principal: Principal, number: str) -> tuple[EvidenceRecord | None, str]:
    """The account's item of ``number``, or None and why (another account's item is
    ``not_found``, like an unknown one)."""
    record, problem = find_by_number(number, vault_service(request).store.get)
    if record is None:
        return None, problem or "not_found"
    if record.owner_id != principal.account.id:
        return None, "not_found"
    return record, ""


def _page_url(filters: dict[str, str], n: int) -> str:
    """Page ``n`` of the list with the same filters."""
    kept = [(k, v) for k, v in filters.items() if v]
    return f"/evidence?{urlencode([*kept, ('page', str(n))])}"


def list_page(request: Request) -> Response:
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    vault = vault_service(request)
    params = request.query_params
    q = params.get("q", "").strip()[:MAX_QUERY]
    kind = params.get("kind", "")
    kind = kind if kind in EVIDENCE_KINDS else ""
    case_id = _int(params.get("case"), low=1, high=2**63 - 1)
    page = _int(params.get("page"), low=1, high=MAX_PAGE) or 1
    first, last = beijing_day(params.get("from")), beijing_day(params.get("to"))
    record_ids = None
    if case_id is not None:
        record_ids = vault.cases.record_ids_in(principal.account.id, case_id)
        if record_ids is None:
            return _not_found(request, principal)
    found = vault.store.list_for(
        principal.account.id,
        kind=kind or None,
        record_ids=record_ids,
        text=q or None,
        sealed_from=None if first is None else day_start(first),
        sealed_before=None if last is None else day_start(last + dt.timedelta(days=1)),
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )
    filters = {
        "q": q,
        "kind": kind,
        "case": "" if case_id is None else str(case_id),
        "from": "" if first is None else first.isoformat(),
        "to": "" if last is None else last.isoformat(),
    }
    context = {
        "items": found[:PAGE_SIZE],
        "q": q,
        "kind": kind,
        "case_id": case_id,
        "date_from": filters["from"],
        "date_to": filters["to"],
        "cases": vault.cases.list_for(principal.account.id),
        "kinds": EVIDENCE_KINDS,
        "kind_names": KIND_NAMES,
        "page": page,
        "prev_url": _page_url(filters, page - 1) if page > 1 else None,
        "next_url": _page_url(filters, page + 1) if len(found) > PAGE_SIZE else None,
        "filtered": any(filters.values()),
    }
    return render_signed_in(request, principal, "evidence_list.html", context)


def detail_page(request: Request) -> Response:
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    record, problem = _own(request, principal, request.path_params["number"])
    if record is None:
        return _not_found(request, principal, problem)
    vault = vault_service(request)
    now = dt.datetime.now(dt.UTC)
    vault.store.add_custody(
        record.id, "viewed", actor_id=principal.account.id, at=now, client_ip=client_ip(request)
    )
    context = {
        "record": record,
        "facts": public_records(request).facts(record),
        "kind_names": KIND_NAMES,
        "preview": preview_kind(record),
        "custody": vault.store.custody(record.id),
        "custody_names": CUSTODY_NAMES,
        "shares": share_service(request).store.for_record(principal.account.id, record.id),
        "cases": vault.cases.holding(principal.account.id, record.id),
        "now": now,
    }
    return render_signed_in(request, principal, "evidence_detail.html", context)


def preview(request: Request) -> Response:
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    record, problem = _own(request, principal, request.path_params["number"])
    if record is None or preview_kind(record) is None:
        return _not_found(request, principal, problem or "not_found")
    return inline_preview(vault_service(request), record, request)


#: ``/evidence``, ``/evidence/{number}`` and ``/evidence/{number}/preview``.
routes: list[BaseRoute] = [
    Route("/evidence", list_page, methods=["GET", "HEAD"]),
    Route("/evidence/{number}", detail_page, methods=["GET", "HEAD"]),
    Route("/evidence/{number}/preview", preview, methods=["GET", "HEAD"]),
]
