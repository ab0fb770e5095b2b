"""CSRF on every state-changing route, table-driven over ``app.routes``: every route whose
method is not GET, HEAD or OPTIONS must be in :func:`csrf_decisions`, so a new one fails the
suite until it says how a forged cross-site request is stopped. Then, with the victim's
valid session cookie (and its readable ``ts_csrf`` cookie, which is never trusted) but with
no CSRF token or a wrong one, every such request is refused with 403 and changes nothing.

The decisions come from the authorization tables (a route that takes the session cookie is
``SESSION``), plus the few that read no session at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.security.test_cross_account import ACCESS, needs_login
from tests.security.test_cross_account_pages import CAPABILITY, FORM_CSRF, PAGES
from tests.support.accounts import OTHER_PHONE, log_in, outbox_entries
from tests.support.routes import SAFE_METHODS, check_every_route_decided, fill, http_routes
from tests.support.tus import TUS
from tests.support.two_accounts import World, browser, snapshot

SESSION_API = "session cookie: the X-CSRF-Token header (security.current_account)"
SESSION_FORM = "session cookie: the form's csrf_token field (web forms)"
LOGIN_FORM = "no session yet: the ts_form cookie's HMAC in the form (account_pages)"
SHARE_FORM = "no session: the ts_share_form cookie's HMAC in the form (share_pages)"
PART = 'Content-Disposition: form-data; name="phone"\r\n\r\n'
#: Routes that read no cookie at all, and why a forged request gains nothing.
NO_COOKIE = {
    ("POST", "/api/v1/auth/sms-code"): "JSON only (415 otherwise): no cross-site form sends it",
    ("POST", "/api/v1/auth/login"): "JSON only (415 otherwise): no cross-site form sends it",
    ("POST", "/verify/token"): "verifies what is sent and keeps nothing",
    ("POST", "/verify/package"): "verifies what is sent and keeps nothing",
}


def csrf_decisions() -> dict[tuple[str, str], str]:
    decisions = dict(NO_COOKIE)
    for (method, path), decision in ACCESS.items():
        if method not in SAFE_METHODS and needs_login(decision):
            decisions[(method, path)] = SESSION_API
    for (method, path), decision in PAGES.items():
        if method in SAFE_METHODS:
            continue
        if decision in ("owner", "account"):
            decisions[(method, path)] = SESSION_FORM
        elif decision == FORM_CSRF:
            decisions[(method, path)] = LOGIN_FORM
        elif decision == CAPABILITY:
            decisions[(method, path)] = SHARE_FORM
    return decisions


def test_every_state_changing_route_has_a_csrf_decision(client: TestClient) -> None:
    unsafe = {(m, p) for m, p in http_routes(client.app) if m not in SAFE_METHODS}
    todo = "say how these refuse a cross-site request"
    check_every_route_decided(unsafe, csrf_decisions(), todo=todo, table="csrf_decisions()")


def fields(world: World) -> dict[str, str]:
    """Every field any form takes, well-formed: only the CSRF check may refuse."""
    return {
        "title": "forged",
        "description": "forged",
        "number": world.number,
        "note": "forged",
        "days": "7",
        "label": "forged",
        "access_code": "",
        "phone": OTHER_PHONE,
        "code": "000000",
        "next": "/evidence",
    }


def api_body(path: str, world: World) -> dict[str, Any]:
    if path.endswith("/finish"):
        return {"chunks": 1}
    return {"expires_at": world.expires, "title": "forged", "name": "forged"}


@pytest.mark.parametrize("sent", ["missing", "wrong", "another_sessions"])
def test_a_forged_request_with_the_session_cookie_is_refused_everywhere(
    world: World, data_dir: Path, sent: str
) -> None:
    victim = world.browser  # A's browser: A's session cookie and readable ts_csrf cookie
    assert victim.cookies.get("ts_session") and victim.cookies.get("ts_csrf") == world.a_csrf
    other = browser(world.server, "10.0.9.7")
    other_csrf = log_in(other, data_dir / "sms-outbox.log", OTHER_PHONE)["csrf_token"]
    token = {"missing": None, "wrong": "x" * 43, "another_sessions": other_csrf}[sent]
    outbox = data_dir / "sms-outbox.log"
    sms_before = len(outbox_entries(outbox))
    before = snapshot(world)
    refused: list[tuple[str, str]] = []
    for (method, path), decision in csrf_decisions().items():
        url = fill(path, {**world.ids, "token": world.share_token} if "/s/" in path else world.ids)
        if decision == SESSION_API:
            headers = dict(TUS)
            if token is not None:
                headers["X-CSRF-Token"] = token
            reply = victim.request(method, url, json=api_body(path, world), headers=headers)
            assert reply.status_code == 403, (method, url, reply.status_code, reply.text)
            assert reply.json()["error"]["code"] == "csrf_failed", (method, url)
        elif decision in (SESSION_FORM, LOGIN_FORM, SHARE_FORM):
            data = fields(world)
            if token is not None:
                data["csrf_token"] = token
            reply = victim.request(method, url, data=data)
            assert reply.status_code == 403, (method, url, reply.status_code, reply.text[:300])
            assert "表单已失效" in reply.text, (method, url)  # the site's "form expired" page
        else:
            continue
        refused.append((method, path))
    assert len(refused) == len(csrf_decisions()) - len(NO_COOKIE)
    assert snapshot(world) == before
    assert len(outbox_entries(outbox)) == sms_before  # the login forms sent no SMS
    # The victim is still logged in, and the right token works (the refusals were CSRF's).
    assert victim.get("/api/v1/account").status_code == 200
    made = victim.post("/cases", data={"title": "real", "csrf_token": world.a_csrf})
    assert made.status_code == 303
    made_api = victim.post(
        "/api/v1/cases", json={"title": "real"}, headers={"X-CSRF-Token": world.a_csrf}
    )
    assert made_api.status_code == 201


def test_cookieless_json_routes_refuse_what_a_cross_site_form_can_send(
    world: World, data_dir: Path
) -> None:
    outbox = data_dir / "sms-outbox.log"
    sms_before = len(outbox_entries(outbox))
    for method, path in NO_COOKIE:
        if not path.startswith("/api/"):
            continue
        for media, body in (
            ("application/x-www-form-urlencoded", f"phone={OTHER_PHONE}&code=000000"),
            ("text/plain", f'{{"phone": "{OTHER_PHONE}", "code": "000000", "kind": "session"}}'),
            ("multipart/form-data; boundary=x", f"--x\r\n{PART}{OTHER_PHONE}\r\n--x--\r\n"),
        ):
            reply = world.browser.request(
                method, path, content=body.encode(), headers={"Content-Type": media}
            )
            assert reply.status_code == 415, (method, path, media, reply.text)
    assert len(outbox_entries(outbox)) == sms_before
    # And no other origin may read an answer: no CORS grant, not even on a preflight.
    preflight = world.browser.options(
        "/api/v1/account",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
