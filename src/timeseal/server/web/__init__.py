"""Server-rendered web pages: templates, static assets, languages.

:func:`include_web` mounts ``/static/…``, the public pages (``/``, the landing page, and
``/verify``) and the account's pages (``/login``, ``/logout``, ``/evidence``,
``/evidence/{number}``, ``/cases``, ``/cases/{id}``, ``/capture``, ``/account``:
:mod:`.account_pages`, :mod:`.evidence_pages`, :mod:`.case_pages`, :mod:`.capture_pages`,
:mod:`.account_settings`), share links (the owner's forms and the public ``/s/{token}`` pages:
:mod:`.share_pages`), and keeps the
:class:`Pages` renderer in ``app.state.timeseal_pages``. None of them is in /openapi.json: they
are plain Starlette routes.

Adding a page (the web app of issue 7 grows this way):

1. a template in ``templates/`` extending ``base.html`` (blocks ``title``, ``main``,
   ``scripts``); every visible string in ``{{ _("English") }}`` or ``{% trans %}``; times with
   ``|when`` (Beijing time, UTC beside and on hover), sizes with ``|filesize``;
2. a handler that returns ``pages.render(request, "page.html", context)``: the request's
   language (``?lang=`` / ``ts_lang`` cookie / ``Accept-Language``, see :mod:`.i18n`) and the
   security headers (:func:`.render.security_headers`: CSP without inline script or style,
   ``frame-ancestors 'none'``, ``nosniff``, ``no-referrer``) come with it;
3. scripts and styles as files under ``static/``, referenced with ``static_url("js/x.js")``
   (content-hashed URL, cached for a year); no inline ``<script>``, ``style=`` or ``on…=``;
4. ``python -m timeseal.server.web.catalogue update``, translate the new ``msgstr`` in both
   ``locale/*/LC_MESSAGES/messages.po``; ``tests/unit/server/web/test_i18n.py`` fails until
   every message is translated.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from fastapi import FastAPI

from timeseal.core.tlog import VerifierKey
from timeseal.server.api.public import PublicRecords
from timeseal.server.web.account_pages import include_account_pages
from timeseal.server.web.account_settings import include_account_settings
from timeseal.server.web.assets import StaticAssets
from timeseal.server.web.capture_pages import include_capture_pages
from timeseal.server.web.case_pages import include_case_pages
from timeseal.server.web.evidence_pages import include_evidence_pages
from timeseal.server.web.home_page import include_home_page
from timeseal.server.web.render import Pages
from timeseal.server.web.share_pages import include_share_pages
from timeseal.server.web.verify import include_verify_pages
from timeseal.server.web.verify_limits import VerifyLimits

__all__ = ["Pages", "StaticAssets", "include_web"]


def include_web(
    app: FastAPI,
    records: PublicRecords,
    *,
    roots: Sequence[x509.Certificate],
    log_key: VerifierKey,
    public_url: str,
    verify_limits: VerifyLimits | None = None,
) -> Pages:
    """Mount the static assets, the public pages and the account's pages (these need
    ``include_auth`` and ``include_vault`` on ``app``). ``roots`` anchor token verification,
    ``log_key`` (the log's verifier key) checks log receipts; ``verify_limits`` bound package
    verification (default :class:`VerifyLimits`); absolute links (a new share link) start
    with ``public_url``, never with the request's ``Host``."""
    assets = StaticAssets()
    pages = Pages(assets)
    app.state.timeseal_pages = pages
    app.router.routes.append(assets.route())
    include_home_page(app, pages)
    include_verify_pages(app, pages, records, roots, log_key, verify_limits)
    include_account_pages(app, pages)
    include_evidence_pages(app, pages, records)
    include_account_settings(app, pages)
    include_share_pages(app, pages, records, public_url=public_url)
    include_case_pages(app, pages, records)
    include_capture_pages(app, pages, records.vault)
    return pages
