"""The rules of share links, used by the JSON API (:mod:`.shares`) and the web pages
(:mod:`timeseal.server.web.share_pages`) alike: which links open, the access code and its rate
limit, the allowed lifetime, what a link's packages withhold, and the custody rows (``shared``
on creation, ``share_opened`` counted per client and day). Kept in
``app.state.timeseal_shares``.

A link opens while it is neither revoked nor expired. Unknown and revoked links are 404
``not_found`` (nothing to probe); an expired one is 410 ``share_expired``. A link with an
access code (at least :data:`MIN_CODE_LENGTH` characters) wants it: none is 403
``share_code_required``, a wrong one 403 ``share_code_invalid``. Wrong codes are counted per
client (:func:`client_key`: an IPv4 address, or the /64 of an IPv6 one), never per link, so a
stranger cannot lock the real recipient out: after :data:`FREE_CODE_TRIES` wrong ones in a row
that client waits :data:`CODE_BACKOFF`, doubling with each further wrong one up to
:data:`MAX_CODE_BACKOFF` (429 with ``Retry-After``, even to the right code); a right code, or
:data:`CODE_FAILURES_FORGOTTEN` without a wrong one, ends the run.

Views (``share_opened``) are counted, not appended: one custody row per link, record, client and
UTC day with first and last time and a count, and at most :data:`MAX_VIEW_CLIENTS_PER_DAY`
clients a day get a row of their own (the rest share one), so a link cannot grow the trail
without bound.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from timeseal.server.evidence.cases import case_items
from timeseal.server.evidence.packages import PackageService
from timeseal.server.refusal import Refusal
from timeseal.store.cases import Case
from timeseal.store.evidence.rows import EvidenceRecord
from timeseal.store.shares import ShareLink, ShareStore

Clock = Callable[[], dt.datetime]

MAX_LIFETIME = dt.timedelta(days=365)
MIN_CODE_LENGTH = 6
FREE_CODE_TRIES = 5
CODE_BACKOFF = dt.timedelta(minutes=1)
MAX_CODE_BACKOFF = dt.timedelta(hours=1)
CODE_FAILURES_FORGOTTEN = dt.timedelta(hours=24)
MAX_VIEW_CLIENTS_PER_DAY = 32
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class LifetimeOutOfRange(ValueError):
    """``expires_at`` is not in the future, or more than :data:`MAX_LIFETIME` away."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def client_key(ip: str) -> str:
    """Whom wrong codes are counted against: the IPv4 address, or the /64 network of an IPv6
    one (a single subscriber usually holds a whole /64, so its addresses are one client)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def code_backoff(failures: int) -> dt.timedelta:
    """How long a client waits after its ``failures``-th wrong code in a row."""
    if failures < FREE_CODE_TRIES:
        return dt.timedelta(0)
    doubling = min(failures - FREE_CODE_TRIES, 16)
    return min(CODE_BACKOFF * (1 << doubling), MAX_CODE_BACKOFF)


class ShareService:
    """Share links over the vault's store; ``clock`` is the time links expire by."""

    def __init__(self, packages: PackageService, *, clock: Clock | None = None) -> None:
        self.packages = packages
        self.vault = packages.vault
        self.clock: Clock = clock or _utc_now
        self.store = ShareStore(self.vault.store.engine)

    def open(
        self, token: str, code: str | None, *, client_ip: str, code_proven: bool = False
    ) -> ShareLink:
        """The link, if it is usable and the access code right. ``code_proven``: the caller
        already saw the right code for this link (the web page's signed cookie);
        ``client_ip`` is whom a wrong code counts against."""
        share = self.store.by_token(token) if _TOKEN.match(token) else None
        if share is None or share.revoked_at is not None:
            raise Refusal("not_found")
        now = self.clock()
        if now >= share.expires_at:
            raise Refusal("share_expired")
        if share.has_code and not code_proven:
            client = client_key(client_ip)
            run = self.store.code_failures(share.id, client)
            if run is not None and now < run.blocked_until:
                wait = (run.blocked_until - now).total_seconds()
                raise Refusal("rate_limited", retry_after=wait)
            if not code:
                raise Refusal("share_code_required")
            if not self.store.check_code(share.id, code):
                run = self.store.note_failure(
                    share.id,
                    client,
                    now=now,
                    forget_after=CODE_FAILURES_FORGOTTEN,
                    wait=code_backoff,
                )
                left = max(0, FREE_CODE_TRIES - run.failures)
                raise Refusal("share_code_invalid", attempts_left=left)
            if run is not None:
                self.store.forget_failures(share.id, client)
        return share

    def record(self, link: ShareLink) -> EvidenceRecord:
        """The record an evidence link shares."""
        vault = self.vault
        record = None if link.record_id is None else vault.store.get_by_id(link.record_id)
        if record is None:
            raise Refusal("not_found")
        return vault.sequenced(record)

    def case(self, link: ShareLink) -> tuple[Case, list[tuple[EvidenceRecord, dict[str, Any]]]]:
        """The case a case link shares (not deleted), and its items as they are now."""
        vault = self.vault
        case = None if link.case_id is None else vault.cases.get(link.owner_id, link.case_id)
        if case is None:
            raise Refusal("not_found")
        return case, [(vault.sequenced(r), fields) for r, fields in case_items(vault, case.id)]

    def note_open(self, link: ShareLink, record: EvidenceRecord, ip: str) -> None:
        """Custody ``share_opened`` (no actor, the client's IP), counted in the day's row of
        this link and client."""
        self.vault.store.note_share_view(
            record.id,
            link.id,
            at=self.clock(),
            client_ip=ip,
            max_clients=MAX_VIEW_CLIENTS_PER_DAY,
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
        show_ip_location: bool = False,
    ) -> tuple[ShareLink, str]:
        """A new link to ``record`` or ``case`` (the caller checked it is ``owner_id``'s):
        (link, token). ``show_ip_location``: the owner opts in to sharing IP addresses and
        exact locations (off: the link's packages withhold them). Adds custody ``shared`` to
        every shared item. Raises :class:`LifetimeOutOfRange`, and ``ValueError`` for an
        access code shorter than :data:`MIN_CODE_LENGTH`."""
        if code is not None and len(code) < MIN_CODE_LENGTH:
            raise ValueError(f"an access code has at least {MIN_CODE_LENGTH} characters")
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
            show_ip_location=show_ip_location,
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
