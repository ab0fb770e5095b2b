"""Who is calling: the ``current_account`` dependency, session cookies and CSRF.

``current_account`` accepts either credential and answers 401 ``unauthenticated`` otherwise:

- ``Authorization: Bearer ts_…``, an API token. When this header is present it alone decides
  (a bad token is a 401 even if a session cookie came along).
- the ``ts_session`` cookie of a browser session: ``HttpOnly``, ``SameSite=Lax``, ``Path=/``,
  ``Secure`` whenever the request came over HTTPS (behind a reverse proxy, uvicorn's
  ``--forwarded-allow-ips`` must trust it for ``X-Forwarded-Proto``).

CSRF: a **synchronizer token, derived instead of stored** (OWASP's HMAC-based token pattern).
Each session's token is HMAC-SHA256(server secret, SHA-256(session secret)); login returns it
in its JSON and in a ``ts_csrf`` cookie that page scripts can read (not ``HttpOnly``). A request
authenticated by the session cookie with an unsafe method (anything but GET, HEAD, OPTIONS)
must send it back in the ``X-CSRF-Token`` header, or in a ``csrf_token`` field of a form post;
the server compares it (constant time) with the value it recomputes from the session cookie. The
``ts_csrf`` cookie itself is never trusted, so a subdomain that plants cookies cannot forge
one. Bearer tokens need no CSRF token: browsers never attach them on their own.

Scopes: a ``read`` token may only use safe methods; anything else is 403 ``token_read_only``
(it may still log itself out: :data:`AnyScopeAccount`).

Known device: every login by session also sets ``ts_device`` (``HttpOnly``, ``SameSite=Strict``,
``Path=/``, 90 days), a token bound to the number (``AuthService.device_token``). Asking for a
code with it, the client is exempt from the number's overall cap on codes. Logging out keeps it:
it says that this browser held the number, not that it is logged in.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request
from starlette.responses import Response

from timeseal.server.accounts.service import AuthService, Principal
from timeseal.server.api.errors import ApiError

# The web pages import auth_service from here.
from timeseal.server.api.state import auth_service as auth_service

SESSION_COOKIE = "ts_session"
CSRF_COOKIE = "ts_csrf"
DEVICE_COOKIE = "ts_device"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An API token (ts_…) from POST /api/v1/auth/login with kind=token.",
)
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="sessionCookie",
    description="A browser session from POST /api/v1/auth/login with kind=session. Unsafe "
    f"methods also need the session's CSRF token in {CSRF_HEADER}.",
)


def client_ip(request: Request) -> str:
    """The peer's address (uvicorn puts the proxy's X-Forwarded-For here when it trusts it)."""
    return ((request.client.host if request.client else "") or "unknown")[:64]


def _unauthenticated() -> ApiError:
    return ApiError("unauthenticated", 401, headers={"WWW-Authenticate": "Bearer"})


def _authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_session_cookie)],
) -> Principal:
    service = auth_service(request)
    if "authorization" in request.headers:
        principal = service.token_principal(bearer.credentials) if bearer else None
    elif cookie:
        principal = service.session_principal(cookie)
    else:
        principal = None
    if principal is None:
        raise _unauthenticated()
    return principal


async def any_scope_account(
    request: Request, principal: Annotated[Principal, Depends(_authenticate)]
) -> Principal:
    """The caller, authenticated by an API token of any scope or a session (CSRF-checked);
    else 401. Only for what a read-only token may do besides reading: ending itself."""
    if principal.via == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if sent is None and media in _FORMS:
            field = (await request.form()).get(CSRF_FIELD)
            sent = field if isinstance(field, str) else None
        expected = principal.csrf_token or ""
        if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise ApiError("csrf_failed", 403)
    return principal


async def current_account(
    request: Request, principal: Annotated[Principal, Depends(any_scope_account)]
) -> Principal:
    """The caller, authenticated by an API token or a session (CSRF-checked); else 401. A
    read-only token gets 403 ``token_read_only`` for every unsafe method."""
    if principal.read_only and request.method not in SAFE_METHODS:
        raise ApiError("token_read_only", 403)
    return principal


CurrentAccount = Annotated[Principal, Depends(current_account)]
AnyScopeAccount = Annotated[Principal, Depends(any_scope_account)]


def set_session_cookies(
    response: Response, request: Request, *, secret: str, csrf_token: str, max_age: int
) -> None:
    secure = request.url.scheme == "https"
    for name, value, http_only in (
        (SESSION_COOKIE, secret, True),
        (CSRF_COOKIE, csrf_token, False),
    ):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=http_only,
            samesite="lax",
        )


def clear_session_cookies(response: Response, request: Request) -> None:
    secure = request.url.scheme == "https"
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=http_only, samesite="lax")


def set_device_cookie(
    response: Response, request: Request, service: AuthService, phone: str
) -> None:
    """Remember that this browser has just logged in with ``phone`` (see the module's
    docstring). Strict: only the site's own requests carry it."""
    response.set_cookie(
        DEVICE_COOKIE,
        service.device_token(phone),
        max_age=int(service.sessions.known_device.total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
