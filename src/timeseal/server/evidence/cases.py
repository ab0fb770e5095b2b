"""Cases (no HTTP): a case's items as they are now, and putting an item in a case.

The JSON API (:mod:`timeseal.server.api.cases`), the web pages
(:mod:`timeseal.server.web.case_pages`) and share links (:mod:`.shares`) all use these, so a case
reads and changes the same way wherever it is reached from.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from timeseal.server.evidence.vault import VaultService
from timeseal.store.evidence.rows import EvidenceRecord
from timeseal.store.shares import ShareStore


def case_items(vault: VaultService, case_id: int) -> list[tuple[EvidenceRecord, dict[str, Any]]]:
    """The case's records in order, each with its item fields (position, note, added_at)."""
    found = []
    for item in vault.cases.items(case_id):
        record = vault.store.get_by_id(item.record_id)
        if record is None:  # cannot happen: records are never deleted
            continue
        found.append(
            (record, {"position": item.position, "note": item.note, "added_at": item.added_at})
        )
    return found


def put_item_in_case(
    vault: VaultService,
    owner_id: int,
    case_id: int,
    record: EvidenceRecord,
    note: str | None,
    *,
    now: dt.datetime,
    ip: str,
) -> bool:
    """Add the owner's ``record`` at the end of the case, or change its note (``None`` keeps
    it): the one implementation behind ``PUT /api/v1/cases/{id}/items/{number}`` and the web
    page's form. A record newly added to a case with an active share link gets custody
    ``shared``: the case's links show it from now on. False when the case is not the
    owner's; raises :class:`~timeseal.store.cases.CaseFull`. The caller checked that
    ``record`` is the owner's."""
    shares = ShareStore(vault.store.engine)
    was_in = any(item.record_id == record.id for item in vault.cases.items(case_id))
    if not vault.cases.put_item(owner_id, case_id, record.id, note, now=now):
        return False
    if not was_in and any(s.active(now) for s in shares.for_case(owner_id, case_id)):
        vault.store.add_custody(record.id, "shared", actor_id=owner_id, at=now, client_ip=ip)
    return True
