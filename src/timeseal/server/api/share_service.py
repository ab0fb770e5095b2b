"""The rules of share links, used by the JSON API (:mod:`.shares`) and the web pages
(:mod:`timeseal.server.web.share_pages`) alike: which links open, the access code and its rate
limit, the allowed lifetime, and the custody rows (``shared`` on creation, ``share_opened`` on
every open). Kept in ``app.state.timeseal_shares``.

A link opens while it is neither revoked nor expired. Unknown and revoked links are 404
``not_found`` (nothing to probe); an expired one is 410 ``share_expired``. A link with an
access code wants it: none is 403 ``share_code_required``, a wrong one 403
``share_code_invalid``, and after :data:`MAX_CODE_FAILURES` wrong ones in :data:`CODE_WINDOW`
the link answers 429 until the window ends (even to the right code).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from timeseal.server.api.cases import case_items
from timeseal.server.api.errors import ApiError
from timeseal.server.packages import PackageService
from timeseal.store.cases import Case
from timeseal.store.evidence import EvidenceRecord
from timeseal.store.shares import ShareLink, ShareStore

Clock = Callable[[], dt.datetime]

MAX_LIFETIME = dt.timedelta(days=365)
MAX_CODE_FAILURES = 5
CODE_WINDOW = dt.timedelta(minutes=15)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class LifetimeOutOfRange(ValueError):
    """``expires_at`` is not in the future, or more than :data:`MAX_LIFETIME` away."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ShareService:
    """Share links over the vault's store; ``clock`` is the time links expire by."""

    def __init__(self, packages: PackageService, *, clock: Clock | None = None) -> None:
        self.packages = packages
        self.vault = packages.vault
        self.clock: Clock = clock or _utc_now
        self.store = ShareStore(self.vault.store.engine)

    def open(self, token: str, code: str | None, *, code_proven: bool = False) -> ShareLink:
        """The link, if it is usable and the access code right. ``code_proven``: the caller
        already saw the right code for this link (the web page's signed cookie)."""
        share = self.store.by_token(token) if _TOKEN.match(token) else None
        if share is None or share.revoked_at is not None:
            raise ApiError("not_found", 404)
        now = self.clock()
        if now >= share.expires_at:
            raise ApiError("share_expired", 410)
        if share.has_code and not code_proven:
            window_end = share.code_window_start + CODE_WINDOW
            if share.code_failures >= MAX_CODE_FAILURES and now < window_end:
                wait = (window_end - now).total_seconds()
                raise ApiError("rate_limited", 429, retry_after=wait)
            if not code:
                raise ApiError("share_code_required", 403)
            if not self.store.check_code(share.id, code):
                failures = self.store.note_failure(share.id, now=now, window=CODE_WINDOW)
                left = max(0, MAX_CODE_FAILURES - failures)
                raise ApiError("share_code_invalid", 403, attempts_left=left)
        return share

    def record(self, link: ShareLink) -> EvidenceRecord:
        """The record an evidence link shares."""
        vault = self.vault
        record = None if link.record_id is None else vault.store.get_by_id(link.record_id)
        if record is None:
            raise ApiError("not_found", 404)
        return vault.sequenced(record)

    def case(self, link: ShareLink) -> tuple[Case, list[tuple[EvidenceRecord, dict[str, Any]]]]:
        """The case a case link shares (not deleted), and its items as they are now."""
        vault = self.vault
        case = None if link.case_id is None else vault.cases.get(link.owner_id, link.case_id)
        if case is None:
            raise ApiError("not_found", 404)
        return case, [(vault.sequenced(r), fields) for r, fields in case_items(vault, case.id)]

    def note_open(self, record: EvidenceRecord, ip: str) -> None:
        """Custody ``share_opened``: no actor, the client's IP."""
        self.vault.store.add_custody(
            record.id, "share_opened", actor_id=None, at=self.clock(), client_ip=ip
        )

    def create(
        self,
        owner_id: int,
        *,
        expires_at: dt.datetime,
        label: str,
        code: str | None,
        ip: str,
        record: EvidenceRecord | None = None,
        case: Case | None = None,
    ) -> tuple[ShareLink, str]:
        """A new link to ``record`` or ``case`` (the caller checked it is ``owner_id``'s):
        (link, token). Adds custody ``shared`` to every shared item. Raises
        :class:`LifetimeOutOfRange`."""
        if (record is None) == (case is None):
            raise TypeError("a share link needs a record or a case")
        now = self.clock()
        if not now < expires_at <= now + MAX_LIFETIME:
            raise LifetimeOutOfRange("expires_at out of range")
        share, token = self.store.create(
            owner_id=owner_id,
            record_id=None if record is None else record.id,
            case_id=None if case is None else case.id,
            label=label,
            code=code,
            now=now,
            expires_at=expires_at,
        )
        if record is not None:
            shared = [record]
        else:
            assert case is not None
            shared = [r for r, _ in case_items(self.vault, case.id)]
        for item in shared:
            self.vault.store.add_custody(item.id, "shared", actor_id=owner_id, at=now, client_ip=ip)
        return share, token

    def revoke(self, owner_id: int, share_id: int) -> ShareLink | None:
        """Revoke ``owner_id``'s link (twice is fine); None when it is not theirs."""
        link = self.store.get(share_id)
        if link is None or link.owner_id != owner_id:
            return None
        self.store.revoke(link.id, now=self.clock())
        return link
