"""Server-rendered web pages: templates, static assets, languages.

:func:`include_web` mounts ``/static/…``, the public pages (``/``, the landing page, and
``/verify``) and the account's pages (``/login``, ``/logout``, ``/evidence``,
``/evidence/{number}``, ``/cases``, ``/cases/{id}``, ``/capture``, ``/account``:
:mod:`.account_pages`, :mod:`.evidence_pages`, :mod:`.case_pages`, :mod:`.capture_pages`,
:mod:`.account_settings`), share links (the owner's forms, :mod:`.share_forms`, and the public
``/s/{token}`` pages, :mod:`.share_pages`), and keeps what their handlers read (the
:class:`Pages` renderer among it) in ``app.state`` (:mod:`.state`). Each page module lists its
module-level handlers in ``routes``: plain Starlette routes, none of them in /openapi.json.

Adding a page (the web app of issue 7 grows this way):

1. a template in ``templates/`` extending ``base.html`` (blocks ``title``, ``main``,
   ``scripts``); every visible string in ``{{ _("English") }}`` or ``{% trans %}``; times with
   ``|when`` (Beijing time, UTC beside and on hover), sizes with ``|filesize``;
2. a module-level handler that returns ``web_pages(request).render(request, "page.html",
   context)`` (:mod:`.state`), listed in its module's ``routes`` (and the module in
   :data:`PAGE_MODULES`): the request's language (``?lang=`` / ``ts_lang`` cookie /
   ``Accept-Language``, see :mod:`.i18n`) and the security headers
   (:func:`.render.security_headers`: CSP without inline script or style,
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
from timeseal.server.web import (
    account_pages,
    account_settings,
    capture_pages,
    case_pages,
    evidence_pages,
    home_page,
    share_forms,
    share_pages,
    verify,
)
from timeseal.server.web.assets import StaticAssets
from timeseal.server.web.render import Pages
from timeseal.server.web.state import keep_web_state
from timeseal.server.web.verify_limits import VerifyLimits

__all__ = ["Pages", "StaticAssets", "include_web"]

#: Every page module's routes, in the order they are matched.
PAGE_MODULES = (
    home_page,
    verify,
    account_pages,
    evidence_pages,
    account_settings,
    share_forms,
    share_pages,
    case_pages,
    capture_pages,
)


def include_web(
    app: FastAPI,
    *,
    roots: Sequence[x509.Certificate],
    log_key: VerifierKey,
    public_url: str,
    verify_limits: VerifyLimits | None = None,
) -> Pages:
    """Mount the static assets, the public pages and the account's pages (these need
    ``include_auth`` and the API's services kept on ``app``:
    :func:`timeseal.server.api.state.keep_services`). ``roots`` anchor token verification,
    ``log_key`` (the log's verifier key) checks log receipts; ``verify_limits`` bound package
    verification (default :class:`VerifyLimits`); absolute links (a new share link) start with
    ``public_url``, never with the request's ``Host``. What the handlers read is kept in
    ``app.state`` (:mod:`.state`)."""
    assets = StaticAssets()
    pages = Pages(assets)
    keep_web_state(
        app.state,
        pages,
        roots=roots,
        log_key=log_key,
        public_url=public_url,
        verify_limits=verify_limits,
    )
    app.router.routes.append(assets.route())
    for module in PAGE_MODULES:
        app.router.routes.extend(module.routes)
    return pages
