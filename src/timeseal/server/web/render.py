"""Rendering pages: Jinja2 templates (one environment per language), the time and size
helpers, and the security headers every HTML page carries.

Templates live in ``templates/``; every visible string goes through gettext (``{% trans %}``,
``_()``), see :mod:`timeseal.server.web.i18n`. Times are shown in Beijing time with UTC beside
them and in the ``title`` (hover) with the ``when`` filter; sizes with ``filesize``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from timeseal.core.failure_text import failure_text
from timeseal.core.verdict import Reason
from timeseal.core.verification import CHECK_TITLES, Check
from timeseal.server.web.assets import StaticAssets
from timeseal.server.web.i18n import (
    LANG_COOKIE,
    LANG_INFO,
    LANGS,
    Lang,
    request_lang,
    translations,
)

TEMPLATES_DIR = Path(__file__).parent / "templates"
BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
_BASE_CSP = (
    "default-src 'none'; script-src 'self'{wasm}; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def content_security_policy(*, wasm: bool = False) -> str:
    """No inline script or style anywhere; ``'wasm-unsafe-eval'`` only for pages that compile
    WebAssembly (the verify page's SHA-256, hash-wasm)."""
    return _BASE_CSP.format(wasm=" 'wasm-unsafe-eval'" if wasm else "")


#: Powerful features no page may use: pages are documents to read, not recorders.
NO_DEVICES = "camera=(), microphone=(), geolocation=(), display-capture=()"
#: The capture page (:mod:`.capture_pages`) alone may ask for the camera, the microphone, the
#: screen and the location, and only for itself (never for a frame of another origin).
CAPTURE_DEVICES = "camera=(self), microphone=(self), geolocation=(self), display-capture=(self)"


def security_headers(*, wasm: bool = False, devices: bool = False) -> dict[str, str]:
    """The headers of every HTML page; ``devices`` lets the page ask for the camera,
    microphone, screen and location (Permissions-Policy), which every other page refuses."""
    return {
        "Content-Security-Policy": content_security_policy(wasm=wasm),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": CAPTURE_DEVICES if devices else NO_DEVICES,
    }


def _clock(t: dt.datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d}"


def time_html(t: dt.datetime, tr: Translations) -> Markup:
    """``<time>`` in Beijing time (UTC+8), UTC beside it and in the hover title."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    utc = t.astimezone(dt.UTC)
    beijing = t.astimezone(BEIJING)
    return Markup(
        '<time datetime="{iso}" title="{utc} UTC">{bj} <span class="tz">{label}</span></time>'
        ' <span class="utc">({utc} UTC)</span>'
    ).format(
        iso=utc.isoformat().replace("+00:00", "Z"),
        utc=_clock(utc),
        bj=_clock(beijing),
        label=tr.gettext("Beijing time"),
    )


def check_title(check: Check, lang: Lang) -> str:
    """What a verification check establishes, in the page's language: the same wording as
    ``timeseal verify`` (:data:`timeseal.core.verification.CHECK_TITLES`)."""
    titles = CHECK_TITLES.get(check)
    if titles is None:
        return check.value
    return titles[0] if lang == "zh" else titles[1]


def failure_message(code: Check | Reason, lang: Lang) -> str:
    """What a failed check or a verdict reason means to a consumer, in the page's language:
    the same wording as ``timeseal verify`` (:data:`timeseal.core.failure_text.FAILURE_TEXT`)."""
    zh, en = failure_text(code)
    return zh if lang == "zh" else en


def filesize(n: int, tr: Translations, locale: str) -> str:
    """``1,048,580 bytes (1.0 MiB)``: exact bytes first, a rounded size after."""
    exact = tr.ngettext("%(num)s byte", "%(num)s bytes", n) % {
        "num": format_decimal(n, locale=locale)
    }
    size, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    return exact if unit == "B" else f"{exact} ({size:.1f} {unit})"


class Pages:
    """Renders templates for a request, in the request's language, with security headers."""

    def __init__(self, assets: StaticAssets, templates: Path = TEMPLATES_DIR) -> None:
        self.assets = assets
        self._envs = {lang: self._environment(lang, templates) for lang in LANGS}

    def _environment(self, lang: Lang, templates: Path) -> Environment:
        tr = translations(lang)
        locale = LANG_INFO[lang].locale
        env = Environment(
            loader=FileSystemLoader(templates),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
        env.filters["when"] = lambda t: time_html(t, tr)
        env.filters["filesize"] = lambda n: filesize(n, tr, locale)
        env.globals["static_url"] = self.assets.url
        env.globals["lang"] = LANG_INFO[lang]
        env.globals["check_title"] = lambda check: check_title(check, lang)
        env.globals["failure_message"] = lambda code: failure_message(code, lang)
        return env

    def environment(self, lang: Lang) -> Environment:
        return self._envs[lang]

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        wasm: bool = False,
        devices: bool = False,
        switch_path: str | None = None,
    ) -> HTMLResponse:
        """``template`` for ``request``. The language switch links to the same URL with
        ``lang=`` set, or to ``switch_path`` (for pages that answer a POST). ``wasm`` and
        ``devices`` loosen the headers as :func:`security_headers` says."""
        lang, chosen = request_lang(request)

        def switch_url(code: str) -> str:
            if switch_path is not None:
                return f"{switch_path}?{urlencode({'lang': code})}"
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
            return f"{request.url.path}?{urlencode([*params, ('lang', code)])}"

        html = (
            self._envs[lang]
            .get_template(template)
            .render(
                {
                    "request": request,
                    "languages": [LANG_INFO[code] for code in LANGS],
                    "switch_url": switch_url,
                    **(context or {}),
                }
            )
        )
        response = HTMLResponse(
            html,
            status_code=status,
            headers={
                **security_headers(wasm=wasm, devices=devices),
                "Cache-Control": "no-store",
                "Vary": "Accept-Language, Cookie",
            },
        )
        if chosen:
            response.set_cookie(
                LANG_COOKIE,
                lang,
                max_age=365 * 24 * 3600,
                path="/",
                secure=request.url.scheme == "https",
                samesite="lax",
            )
        return response
