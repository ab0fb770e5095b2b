"""What the web pages read from ``app.state``, each through one typed accessor, and the one
function that puts web's own part there (:func:`keep_web_state`, called by
:func:`timeseal.server.web.include_web`).

Web's own part: the :class:`~.render.Pages` renderer (``timeseal_pages``, which the request
bounds and the disk-full handler also use to answer with a page), the :class:`WebSettings`
(``timeseal_web``) and the package verifications' :class:`VerifyGate` (``timeseal_verify_gate``,
which a test may replace). The services (vault, share links, public records, accounts) are the
JSON API's, read with the API's own accessors (:mod:`timeseal.server.api.state`), re-exported
here so that a page module imports what it reads from one place.

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
from timeseal.server.api.state import public_records, share_service, vault_service
from timeseal.server.web.render import Pages
from timeseal.server.web.verify_limits import VerifyGate, VerifyLimits

PAGES_KEY = "timeseal_pages"
SETTINGS_KEY = "timeseal_web"
GATE_KEY = "timeseal_verify_gate"

__all__ = [
    "GATE_KEY",
    "PAGES_KEY",
    "SETTINGS_KEY",
    "WebSettings",
    "keep_web_state",
    "public_records",
    "share_service",
    "vault_service",
    "verify_gate",
    "web_pages",
    "web_settings",
]

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
    *,
    roots: Sequence[x509.Certificate],
    log_key: VerifierKey,
    public_url: str,
    verify_limits: VerifyLimits | None = None,
) -> None:
    """Put web's own part of the state on ``state`` (an app's ``app.state``)."""
    settings = WebSettings(tuple(roots), log_key, public_url)
    setattr(state, PAGES_KEY, pages)
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


def web_settings(request: Request) -> WebSettings:
    return _kept(request, SETTINGS_KEY, WebSettings, "include_web")


def verify_gate(request: Request) -> VerifyGate:
    """What bounds ``POST /verify/package``."""
    return _kept(request, GATE_KEY, VerifyGate, "include_web")
