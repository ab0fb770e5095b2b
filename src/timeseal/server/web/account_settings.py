"""The account page: ``/account`` shows the phone number (masked), the live sessions (this one
marked) and the API tokens, with POST forms (CSRF) that end one session, all the others, or
revoke a token::

    GET  /account
    POST /account/sessions/{id}/revoke
    POST /account/sessions/revoke-others
    POST /account/tokens/{id}/revoke

Same store calls as ``/api/v1/account/sessions`` and ``/tokens``
(:class:`~timeseal.server.accounts.service.AuthService`'s ``accounts``): another account's id is
the 404 page, like one that does not exist. Ending this browser's own session logs it out.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from timeseal.core.phone import mask_phone
from timeseal.server.accounts.service import Principal
from timeseal.server.api.security import auth_service, clear_session_cookies
from timeseal.server.web.account_pages import (
    CSRF_FIELD,
    LOGIN_PATH,
    csrf_matches,
    field,
    forbidden,
    login_redirect,
    page_principal,
    read_form,
    render_signed_in,
)
from timeseal.server.web.state import web_pages

ACCOUNT_PATH = "/account"
NO_STORE = {"Cache-Control": "no-store"}


def account_page(request: Request) -> Response:
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    service = auth_service(request)
    account_id = principal.account.id
    context = {
        "account": principal.account,
        "csrf_token": principal.csrf_token,
        "masked_phone": mask_phone(principal.account.phone),
        "sessions": service.accounts.sessions(
            account_id, now=service.now(), idle=service.sessions.idle
        ),
        "current_session": principal.credential_id,
        "tokens": service.accounts.tokens(account_id, now=service.now()),
    }
    return web_pages(request).render(request, "account.html", context)


async def _checked(request: Request) -> Principal | Response:
    principal = page_principal(request)
    if principal is None:
        return login_redirect(request)
    form = await read_form(request)
    if form is None or not csrf_matches(field(form, CSRF_FIELD), principal.csrf_token):
        return forbidden(request)
    return principal


def _back() -> Response:
    return RedirectResponse(ACCOUNT_PATH, status_code=303, headers=NO_STORE)


def _not_found(request: Request, principal: Principal) -> Response:
    return render_signed_in(request, principal, "error.html", {"error": "not_found"}, 404)


async def revoke_session(request: Request) -> Response:
    principal = await _checked(request)
    if isinstance(principal, Response):
        return principal
    service = auth_service(request)
    session_id = request.path_params["session"]
    if not service.accounts.revoke_session(principal.account.id, session_id, now=service.now()):
        return _not_found(request, principal)
    if session_id != principal.credential_id:
        return _back()
    reply = RedirectResponse(LOGIN_PATH, status_code=303, headers={"Cache-Control": "no-store"})
    clear_session_cookies(reply, request)
    return reply


async def revoke_others(request: Request) -> Response:
    principal = await _checked(request)
    if isinstance(principal, Response):
        return principal
    service = auth_service(request)
    service.accounts.revoke_sessions(
        principal.account.id, now=service.now(), keep=principal.credential_id
    )
    return _back()


async def revoke_token(request: Request) -> Response:
    principal = await _checked(request)
    if isinstance(principal, Response):
        return principal
    service = auth_service(request)
    token_id = request.path_params["token"]
    if not service.accounts.revoke_token(principal.account.id, token_id, now=service.now()):
        return _not_found(request, principal)
    return _back()


#: ``/account`` and its three forms.
routes: list[BaseRoute] = [
    Route(ACCOUNT_PATH, account_page, methods=["GET", "HEAD"]),
    Route(ACCOUNT_PATH + "/sessions/revoke-others", revoke_others, methods=["POST"]),
    Route(ACCOUNT_PATH + "/sessions/{session}/revoke", revoke_session, methods=["POST"]),
    Route(ACCOUNT_PATH + "/tokens/{token}/revoke", revoke_token, methods=["POST"]),
]
