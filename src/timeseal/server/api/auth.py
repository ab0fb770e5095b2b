"""The accounts API under ``/api/v1``: login by SMS code, sessions, API tokens.

::

    POST   /api/v1/auth/sms-code            {phone}                  send a login code
    POST   /api/v1/auth/login               {phone, code, kind, token_name?}
    POST   /api/v1/auth/logout              end this session / revoke this token
    GET    /api/v1/account                  who am I
    GET    /api/v1/account/sessions         my live sessions
    DELETE /api/v1/account/sessions         end all my other sessions
    DELETE /api/v1/account/sessions/{id}    end one
    GET    /api/v1/account/tokens           my API tokens
    POST   /api/v1/account/tokens           {name, expires_in_days?, scope?} -> a new token,
                                            shown once (from a session only, never a token)
    DELETE /api/v1/account/tokens/{id}      revoke one

Another account's session or token id is answered exactly like an unknown id: 404.
Mount with :func:`include_auth`.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from timeseal.core.phone import InvalidPhoneNumber, normalise_phone
from timeseal.server.accounts.service import (
    AuthService,
    Clock,
    Principal,
    SessionPolicy,
    utc_now,
)
from timeseal.server.accounts.sms import SmsProvider
from timeseal.server.api.errors import ApiError, error_responses, install_error_handlers
from timeseal.server.api.models import (
    AccountOut,
    CreateTokenRequest,
    LoginRequest,
    LoginResult,
    NewToken,
    Revoked,
    SessionOut,
    SmsCodeRequest,
    SmsCodeSent,
    TokenOut,
)
from timeseal.server.api.security import (
    DEVICE_COOKIE,
    AnyScopeAccount,
    CurrentAccount,
    clear_session_cookies,
    client_ip,
    set_device_cookie,
    set_session_cookies,
)
from timeseal.server.api.state import Auth, keep_auth
from timeseal.store.accounts.records import Account, SessionRecord, TokenRecord
from timeseal.store.login_policy import LoginPolicy

DEFAULT_TOKEN_NAME = "timeseal CLI"


def require_json(request: Request) -> None:
    """Refuse bodies that are not JSON: a cross-site HTML form cannot send JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError("unsupported_media_type", 415)


def _phone(text: str) -> str:
    try:
        return normalise_phone(text)
    except InvalidPhoneNumber as exc:
        raise ApiError("invalid_phone", 422) from exc


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


def _account_out(account: Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        phone=account.phone,
        created_at=account.created_at,
        last_login_at=account.last_login_at,
    )


def _is_current(principal: Principal, via: str, credential_id: str) -> bool:
    return principal.via == via and principal.credential_id == credential_id


def _session_out(record: SessionRecord, principal: Principal) -> SessionOut:
    return SessionOut(
        id=record.id,
        created_at=record.created_at,
        last_seen_at=record.last_seen_at,
        expires_at=record.expires_at,
        ip=record.ip,
        user_agent=record.user_agent,
        current=_is_current(principal, "session", record.id),
    )


def _token_out(record: TokenRecord, principal: Principal | None) -> TokenOut:
    return TokenOut(
        id=record.id,
        name=record.name,
        hint=record.hint,
        created_at=record.created_at,
        last_used_at=record.last_used_at,
        expires_at=record.expires_at,
        scope="read" if record.scope == "read" else "full",
        current=principal is not None and _is_current(principal, "token", record.id),
    )


def _new_token(secret: str, record: TokenRecord) -> NewToken:
    return NewToken(**_token_out(record, None).model_dump(), token=secret)


router = APIRouter(prefix="/api/v1")
JSON_BODY = [Depends(require_json)]


@router.post(
    "/auth/sms-code",
    tags=["auth"],
    dependencies=JSON_BODY,
    responses=error_responses(415, 422, 429, 502),
)
def request_sms_code(body: SmsCodeRequest, request: Request, service: Auth) -> SmsCodeSent:
    """Send a one-time login code to a mainland mobile number. Limits: one code per minute
    and ten per day for one client IP and one number; thirty per day for the number from all
    IPs together, except for a client that logged in with this number before (the
    ``ts_device`` cookie, or ``device_token`` from an earlier login); twenty per client IP per
    hour; and the site's SMS budget per hour (``sms_budget_exhausted``, 429 with
    ``Retry-After``, when it is spent). A client that logged in with this number before
    counts its per-minute and per-day limits for its device, not its IP: others asking for
    this number spend none of its limits, except the site's budget."""
    phone = _phone(body.phone)
    device = body.device_token or request.cookies.get(DEVICE_COOKIE)
    issued = service.request_code(phone, client_ip(request), device)
    now = service.now()
    return SmsCodeSent(
        phone=phone,
        expires_in=round((issued.expires_at - now).total_seconds()),
        resend_after=round((issued.resend_at - now).total_seconds()),
    )


@router.post(
    "/auth/login",
    tags=["auth"],
    dependencies=JSON_BODY,
    responses=error_responses(400, 415, 422, 429),
)
def login(body: LoginRequest, request: Request, response: Response, service: Auth) -> LoginResult:
    """Log in with the code (the account is created on the first login). ``kind=session``
    sets the session cookies; ``kind=token`` returns an API token, once, expiring after
    ``token_expires_in_days`` (default 90) with ``token_scope`` (default full). A code allows
    five wrong guesses; after three wrong codes from one client for one number, that client
    (and only that one) waits 2 s, then 4 s, 8 s … up to 15 minutes between tries (429
    ``rate_limited`` with ``Retry-After``). A code for a number without a live one is just
    wrong (``code_invalid``) and counts for nothing."""
    phone = _phone(body.phone)
    ip = client_ip(request)
    account = service.redeem_code(phone, body.code, ip)
    _no_store(response)
    if body.kind == "token":
        secret, record = service.create_token(
            account.id,
            body.token_name or DEFAULT_TOKEN_NAME,
            lifetime=dt.timedelta(days=body.token_expires_in_days),
            scope=body.token_scope,
        )
        return LoginResult(
            account=_account_out(account),
            kind="token",
            token=_new_token(secret, record),
            device_token=service.device_token(phone),
        )
    cookie, session = service.start_session(
        account, ip=ip, user_agent=request.headers.get("user-agent", "")
    )
    csrf = service.csrf_token(cookie)
    set_session_cookies(
        response,
        request,
        secret=cookie,
        csrf_token=csrf,
        max_age=int(service.sessions.lifetime.total_seconds()),
    )
    set_device_cookie(response, request, service, phone)
    principal = Principal(account, "session", session.id, csrf)
    return LoginResult(
        account=_account_out(account),
        kind="session",
        session=_session_out(session, principal),
        csrf_token=csrf,
    )


@router.post("/auth/logout", tags=["auth"], status_code=204, responses=error_responses(401, 403))
def logout(principal: AnyScopeAccount, request: Request, service: Auth) -> Response:
    """End the session this request was made with (and clear its cookies), or revoke the
    API token it was made with (a read-only one too)."""
    now = service.now()
    reply = Response(status_code=204)
    if principal.via == "session":
        service.accounts.revoke_session(principal.account.id, principal.credential_id, now=now)
        clear_session_cookies(reply, request)
    else:
        service.accounts.revoke_token(principal.account.id, principal.credential_id, now=now)
    return reply


@router.get("/account", tags=["account"], responses=error_responses(401))
def get_account(principal: CurrentAccount) -> AccountOut:
    return _account_out(principal.account)


@router.get("/account/sessions", tags=["account"], responses=error_responses(401))
def list_sessions(principal: CurrentAccount, service: Auth) -> list[SessionOut]:
    records = service.accounts.sessions(
        principal.account.id, now=service.now(), idle=service.sessions.idle
    )
    return [_session_out(r, principal) for r in records]


@router.delete("/account/sessions", tags=["account"], responses=error_responses(401, 403))
def revoke_other_sessions(principal: CurrentAccount, service: Auth) -> Revoked:
    """End every session of this account except the one making the request."""
    keep = principal.credential_id if principal.via == "session" else None
    count = service.accounts.revoke_sessions(principal.account.id, now=service.now(), keep=keep)
    return Revoked(revoked=count)


@router.delete(
    "/account/sessions/{session_id}",
    tags=["account"],
    status_code=204,
    responses=error_responses(401, 403, 404, 422),
)
def revoke_session(
    session_id: str, principal: CurrentAccount, request: Request, service: Auth
) -> Response:
    if not service.accounts.revoke_session(principal.account.id, session_id, now=service.now()):
        raise ApiError("not_found", 404)
    reply = Response(status_code=204)
    if principal.via == "session" and principal.credential_id == session_id:
        clear_session_cookies(reply, request)
    return reply


@router.get("/account/tokens", tags=["account"], responses=error_responses(401))
def list_tokens(principal: CurrentAccount, service: Auth) -> list[TokenOut]:
    records = service.accounts.tokens(principal.account.id, now=service.now())
    return [_token_out(r, principal) for r in records]


@router.post(
    "/account/tokens",
    tags=["account"],
    status_code=201,
    dependencies=JSON_BODY,
    responses=error_responses(401, 403, 415, 422),
)
def create_token(
    body: CreateTokenRequest, principal: CurrentAccount, response: Response, service: Auth
) -> NewToken:
    """A new API token, from a browser session only (403 ``session_required`` for a request
    made with a token: a stolen token cannot mint itself successors). Its secret is in this
    answer only; the server keeps a hash."""
    if principal.via != "session":
        raise ApiError("session_required", 403)
    secret, record = service.create_token(
        principal.account.id,
        body.name,
        lifetime=dt.timedelta(days=body.expires_in_days),
        scope=body.scope,
    )
    _no_store(response)
    return _new_token(secret, record)


@router.delete(
    "/account/tokens/{token_id}",
    tags=["account"],
    status_code=204,
    responses=error_responses(401, 403, 404, 422),
)
def revoke_token(token_id: str, principal: CurrentAccount, service: Auth) -> Response:
    if not service.accounts.revoke_token(principal.account.id, token_id, now=service.now()):
        raise ApiError("not_found", 404)
    return Response(status_code=204)


def include_auth(
    app: FastAPI,
    *,
    engine: Engine,
    secret: bytes,
    sms: SmsProvider,
    clock: Clock = utc_now,
    login_policy: LoginPolicy | None = None,
    session_policy: SessionPolicy | None = None,
) -> AuthService:
    """Mount the accounts API on ``app`` and make :func:`~.security.current_account` work
    for every router of ``app``. Also answers all errors under ``/api/`` as JSON
    (``errors.install_error_handlers``). The tables come from ``create_schema(engine)``,
    which the application's lifespan runs."""
    service = AuthService(
        engine,
        secret=secret,
        sms=sms,
        clock=clock,
        login_policy=login_policy,
        session_policy=session_policy,
    )
    mount_auth(app, service)
    return service


def mount_auth(app: FastAPI, service: AuthService) -> None:
    """:func:`include_auth` with the accounts service built already (``create_app`` builds it
    before the application, whose lifespan's housekeeper needs it)."""
    keep_auth(app, service)
    install_error_handlers(app)
    app.include_router(router)
