"""Logging in and out in the browser: ``/login`` (phone number, then the SMS code) and
``POST /logout``, plus what every private page uses to know who is asking.

The pages call the same :class:`~timeseal.server.accounts.service.AuthService` as the JSON API
(``POST /api/v1/auth/sms-code`` and ``/auth/login`` with ``kind=session``), so the rate limits,
the back-off after wrong codes and the session cookies are exactly the API's; its refusals are
shown with the API's own wording (:data:`timeseal.server.api.messages.MESSAGES`) in the page's
language, with the same status and ``Retry-After``. While the development SMS provider is on,
the page says that codes are not texted (``dev_sms`` in the template).

CSRF, for every form:

- logged in: the session's derived token (``security`` module docstring) in a hidden
  ``csrf_token`` field, compared in constant time with the one recomputed from the cookie;
- not yet logged in (the two login forms): a random ``ts_form`` cookie (HttpOnly,
  SameSite=Strict, path ``/login``) and, in the form, its HMAC under the server secret. A
  site that plants a ``ts_form`` cookie still cannot make the matching field.

Private pages send anonymous visitors to ``/login?next=<path>``; ``next`` is only ever a
local path (``/…``, never ``//host`` or a scheme), so the login cannot become an open redirect.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from timeseal.core.phone import InvalidPhoneNumber, mask_phone, normalise_phone
from timeseal.core.text import is_ascii_decimal
from timeseal.server.accounts.service import AuthService, Principal
from timeseal.server.accounts.sms import is_development
from timeseal.server.api.errors import http_status
from timeseal.server.api.messages import MESSAGES
from timeseal.server.api.security import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    auth_service,
    clear_session_cookies,
    client_ip,
    set_device_cookie,
    set_session_cookies,
)
from timeseal.server.refusal import Refusal
from timeseal.server.web.i18n import Lang, request_lang
from timeseal.server.web.render import security_headers
from timeseal.server.web.state import web_pages
from timeseal.store.accounts.records import Account

LOGIN_PATH = "/login"
HOME_PATH = "/evidence"
FORM_COOKIE = "ts_form"
CSRF_FIELD = "csrf_token"
#: A login form is a phone number, a code, ``next`` and the CSRF field: a few hundred bytes.
MAX_FORM_BYTES = 4096


def safe_next(value: str | None) -> str:
    """``value`` if it is a local path on this site, else the evidence list. Refuses
    ``//host``, ``/\\host`` (browsers read both as another host), schemes and control
    characters."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return HOME_PATH
    if value.startswith(("//", "/\\")) or any(c < " " or c == "\\" for c in value):
        return HOME_PATH
    return value


def page_principal(request: Request) -> Principal | None:
    """The logged-in account of a browser request (session cookie only; API tokens are for
    programs), or None."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return auth_service(request).session_principal(cookie)


def visitor_context(request: Request) -> dict[str, Any]:
    """What the layout needs on a page anyone may see: the account (its navigation, the
    logout form's CSRF token) when the visitor is logged in, else ``account=None``."""
    principal = page_principal(request)
    if principal is None:
        return {"account": None}
    return account_context(principal)


def account_context(principal: Principal) -> dict[str, Any]:
    """What the layout needs for a logged-in account: its navigation, the logout form's token."""
    return {"account": principal.account, "csrf_token": principal.csrf_token}


def render_signed_in(
    request: Request,
    principal: Principal,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
) -> Response:
    """``template`` for a logged-in account: the layout's context with the page's own."""
    context = {**account_context(principal), **context}
    return web_pages(request).render(request, template, context, status=status)


def login_redirect(request: Request) -> RedirectResponse:
    """303 to ``/login?next=<this page>``."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(
        f"{LOGIN_PATH}?{urlencode({'next': here})}",
        status_code=303,
        headers={"Cache-Control": "no-store"},
    )


def csrf_matches(sent: str | None, expected: str | None) -> bool:
    """Constant-time comparison; an empty or missing value never matches."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


async def read_form(request: Request, *, max_bytes: int = MAX_FORM_BYTES) -> FormData | None:
    """A small urlencoded form (no files, at most ``max_bytes``), or None when it is anything
    else."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if media != "application/x-www-form-urlencoded":
        return None
    if not is_ascii_decimal(declared) or int(declared) > max_bytes:
        return None
    try:
        return await request.form(max_files=0, max_fields=8)
    except HTTPException:
        return None


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def error_message(code: str, lang: Lang, retry_after: int | None = None) -> str:
    """The API's message for ``code`` in ``lang``, the wait filled in."""
    template = MESSAGES[code][0 if lang == "zh" else 1]
    seconds = retry_after or 0
    if seconds >= 120:
        n, unit = math.ceil(seconds / 60), ("分钟", "minutes")
    else:
        n, unit = seconds, ("秒", "seconds")
    wait = f" {n} {unit[0]}" if lang == "zh" else f"{n} {unit[1]}"
    return template.format(wait=wait, fields="", status="")


def forbidden(request: Request) -> Response:
    """403 page for a form without its CSRF token (or with a wrong one)."""
    return web_pages(request).render(
        request,
        "error.html",
        {"error": "csrf", "account": None},
        status=403,
        switch_path=LOGIN_PATH,
    )


def form_token(service: AuthService, cookie: str) -> str:
    return service.csrf_token("login-form\0" + cookie)


def login_form(
    request: Request,
    *,
    step: str,
    next_path: str,
    phone: str = "",
    error: str | None = None,
    status: int = 200,
    cookie: str | None = None,
    retry_after: int | None = None,
) -> Response:
    service = auth_service(request)
    cookie = cookie or request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    context: Mapping[str, Any] = {
        "account": None,
        "step": step,
        "next": next_path,
        "phone": phone,
        "masked_phone": mask_phone(phone) if phone else "",
        "error": error,
        "csrf_token": form_token(service, cookie),
        "dev_sms": is_development(service.sms),
    }
    response = web_pages(request).render(
        request, "login.html", context, status=status, switch_path=LOGIN_PATH
    )
    response.set_cookie(
        FORM_COOKIE,
        cookie,
        max_age=3600,
        path=LOGIN_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def checked_login_form(request: Request) -> FormData | None:
    form = await read_form(request)
    cookie = request.cookies.get(FORM_COOKIE)
    if form is None or not cookie:
        return None
    expected = form_token(auth_service(request), cookie)
    return form if csrf_matches(field(form, CSRF_FIELD), expected) else None


def login_page(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if page_principal(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return login_form(request, step="phone", next_path=next_path)


async def send_code(request: Request) -> Response:
    form = await checked_login_form(request)
    if form is None:
        return forbidden(request)
    lang, _ = request_lang(request)
    next_path = safe_next(field(form, "next"))
    text = field(form, "phone")
    try:
        phone = normalise_phone(text)
    except InvalidPhoneNumber:
        return login_form(
            request,
            step="phone",
            next_path=next_path,
            error=error_message("invalid_phone", lang),
            status=422,
        )
    service = auth_service(request)
    try:
        device = request.cookies.get(DEVICE_COOKIE)
        await anyio.to_thread.run_sync(service.request_code, phone, client_ip(request), device)
    except Refusal as exc:
        message = error_message(exc.code, lang, exc.retry_after)
        return login_form(
            request,
            step="phone",
            next_path=next_path,
            error=message,
            status=http_status(exc),
            retry_after=exc.retry_after,
        )
    return login_form(request, step="code", next_path=next_path, phone=phone)


async def log_in(request: Request) -> Response:
    form = await checked_login_form(request)
    if form is None:
        return forbidden(request)
    lang, _ = request_lang(request)
    next_path = safe_next(field(form, "next"))
    try:
        phone = normalise_phone(field(form, "phone"))
    except InvalidPhoneNumber:
        message = error_message("invalid_phone", lang)
        return login_form(request, step="phone", next_path=next_path, error=message, status=422)
    service = auth_service(request)
    ip = client_ip(request)
    code = field(form, "code")

    def redeem() -> Account:
        return service.redeem_code(phone, code, ip)

    try:
        account = await anyio.to_thread.run_sync(redeem)
    except Refusal as exc:
        message = error_message(exc.code, lang, exc.retry_after)
        # A used, expired or exhausted code needs a new one: back to the phone step. A wrong
        # code, or a wait before the next try, stays at the code.
        step = "code" if exc.code in ("code_invalid", "rate_limited") else "phone"
        return login_form(
            request,
            step=step,
            next_path=next_path,
            phone=phone,
            error=message,
            status=http_status(exc),
            retry_after=exc.retry_after,
        )
    cookie, _session = service.start_session(
        account, ip=ip, user_agent=request.headers.get("user-agent", "")
    )
    reply = RedirectResponse(
        next_path, status_code=303, headers={**security_headers(), "Cache-Control": "no-store"}
    )
    set_session_cookies(
        reply,
        request,
        secret=cookie,
        csrf_token=service.csrf_token(cookie),
        max_age=int(service.sessions.lifetime.total_seconds()),
    )
    set_device_cookie(reply, request, service, phone)
    reply.delete_cookie(FORM_COOKIE, path=LOGIN_PATH)
    return reply


async def log_out(request: Request) -> Response:
    principal = page_principal(request)
    form = await read_form(request)
    if principal is None:
        return RedirectResponse(LOGIN_PATH, status_code=303)
    if form is None or not csrf_matches(field(form, CSRF_FIELD), principal.csrf_token):
        return forbidden(request)
    service = auth_service(request)
    service.accounts.revoke_session(
        principal.account.id, principal.credential_id, now=service.now()
    )
    reply = RedirectResponse(LOGIN_PATH, status_code=303, headers={"Cache-Control": "no-store"})
    clear_session_cookies(reply, request)
    return reply


#: ``/login``, ``POST /login/code``, ``POST /login`` and ``POST /logout``.
routes: list[BaseRoute] = [
    Route(LOGIN_PATH, login_page, methods=["GET", "HEAD"]),
    Route(LOGIN_PATH, log_in, methods=["POST"]),
    Route(LOGIN_PATH + "/code", send_code, methods=["POST"]),
    Route("/logout", log_out, methods=["POST"]),
]
