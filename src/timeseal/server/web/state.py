"""What the web pages read from ``app.state``, each through one typed accessor, and the one
function that puts web's own part there (:func:`keep_web_state`, called by
:func:`timeseal.server.web.include_web`).

Web's own part: the :class:`~.render.Pages` renderer (``timeseal_pages``, which the request
bounds and the disk-full handler also use to answer with a page), the
:class:`~timeseal.server.api.public.PublicRecords` (``timeseal_public_records``), the
:class:`WebSettings` (``timeseal_web``) and the package verifications' :class:`VerifyGate`
(``timeseal_verify_gate``, which a test may replace). Services the JSON API mounts are read
under the API's names: the share links' ``timeseal_shares`` here (:func:`share_service`), the
accounts' ``timeseal_auth`` with :func:`timeseal.server.api.security.auth_service`.

The handlers are module-level Starlette routes (none is in ``/openapi.json``) that call these
accessors with their request, so a test can import a handler and run it on any app that has
the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from starlette.datastructures import State
from starlette.requests import Request

from timeseal.core.tlog import VerifierKey
from timeseal.server.api.public import PublicRecords
from timeseal.server.evidence.shares import ShareService
from timeseal.server.evidence.vault import VaultService
from timeseal.server.web.render import Pages
from timeseal.server.web.verify_limits import VerifyGate, VerifyLimits

PAGES_KEY = "timeseal_pages"
RECORDS_KEY = "timeseal_public_records"
SETTINGS_KEY = "timeseal_web"
GATE_KEY = "timeseal_verify_gate"
#: Kept by :func:`timeseal.server.api.shares.include_shares`.
SHARES_KEY = "timeseal_shares"

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class WebSettings:
    """How the pages were configured: ``roots`` anchor token verification (never empty),
    ``log_key`` checks log receipts, and absolute links (a new share link) start with
    ``public_url``, never with the request's ``Host``."""

    roots: tuple[x509.Certificate, ...]
    log_key: VerifierKey
    public_url: str

    def __post_init__(self) -> None:
        if not self.roots:
            raise ValueError("the verify page needs the TSA root to verify tokens against")


def keep_web_state(
    state: State,
    pages: Pages,
    records: PublicRecords,
    *,
    roots: Sequence[x509.Certificate],
    log_key: VerifierKey,
    public_url: str,
    verify_limits: VerifyLimits | None = None,
) -> None:
    """Put web's own part of the state on ``state`` (an app's ``app.state``)."""
    settings = WebSettings(tuple(roots), log_key, public_url)
    setattr(state, PAGES_KEY, pages)
    setattr(state, RECORDS_KEY, records)
    setattr(state, SETTINGS_KEY, settings)
    setattr(state, GATE_KEY, VerifyGate(verify_limits))


def _kept(request: Request, key: str, kind: type[_T], mounted_by: str) -> _T:
    value = getattr(request.app.state, key, None)
    if not isinstance(value, kind):
        raise RuntimeError(f"app.state.{key} is missing: call {mounted_by}(app, ...)")
    return value


def web_pages(request: Request) -> Pages:
    """The page renderer."""
    return _kept(request, PAGES_KEY, Pages, "include_web")


def public_records(request: Request) -> PublicRecords:
    """The public lookups over the vault (by number, content, token; a record's facts)."""
    return _kept(request, RECORDS_KEY, PublicRecords, "include_web")


def vault_service(request: Request) -> VaultService:
    """The vault the public records read: the account's evidence and cases."""
    return public_records(request).vault


def web_settings(request: Request) -> WebSettings:
    return _kept(request, SETTINGS_KEY, WebSettings, "include_web")


def verify_gate(request: Request) -> VerifyGate:
    """What bounds ``POST /verify/package``."""
    return _kept(request, GATE_KEY, VerifyGate, "include_web")


def share_service(request: Request) -> ShareService:
    """The rules of share links, as the JSON API keeps them."""
    return _kept(request, SHARES_KEY, ShareService, "include_shares")
