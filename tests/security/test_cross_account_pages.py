"""Authorization over the web pages (``src/timeseal/server/web/*_pages.py``), table-driven
like ``test_cross_account.py``: every route outside ``/api/`` has a decision in
:data:`PAGES`, so a page added later fails the suite until someone writes its decision down.

- ``OWNER`` pages and forms name one of the account's objects: another account gets the
  site's own 404 page (HTML, Chinese first), never the object's data, and nothing changes;
- ``ACCOUNT`` pages need a login; anonymous visitors are sent to ``/login?next=…``;
- everything else is public for the reason given."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.testclient import TestClient

from tests.support.accounts import OTHER_PHONE, log_in
from tests.support.routes import check_every_route_decided, fill, http_routes
from tests.support.two_accounts import (
    A_CASE_TITLE,
    DATA,
    World,
    browser,
    snapshot,
)

A_SHA256 = hashlib.sha256(DATA).hexdigest()
OWNER = "owner"
ACCOUNT = "account"
CAPABILITY = "public: the link's token is the credential"
FORM_CSRF = "public: a login form, CSRF-checked with its own form cookie"

PAGES: dict[tuple[str, str], str] = {
    ("GET", "/"): "public: the landing page",
    ("GET", "/tsa/certs"): "public: the TSA's certificate chain (RFC 3161 clients need it)",
    ("GET", "/healthz"): "public: health for load balancers, no account data",
    ("GET", "/log/checkpoint"): "public: the transparency log",
    ("GET", "/log/vkey"): "public: the transparency log's key",
    ("GET", "/log/tile/{rest:path}"): "public: the transparency log",
    ("GET", "/static/{path:path}"): "public: scripts, styles, images",
    ("GET", "/verify"): "public: the verification page",
    ("POST", "/verify/token"): "public: verifies what the visitor sends, keeps nothing",
    ("POST", "/verify/package"): "public: verifies what the visitor sends, keeps nothing",
    ("GET", "/login"): "public: the login page",
    ("POST", "/login"): FORM_CSRF,
    ("POST", "/login/code"): FORM_CSRF,
    ("GET", "/s/{token}"): CAPABILITY,
    ("POST", "/s/{token}"): CAPABILITY,
    ("GET", "/s/{token}/preview"): CAPABILITY,
    ("GET", "/s/{token}/content"): CAPABILITY,
    ("GET", "/s/{token}/items/{number}/content"): CAPABILITY,
    ("GET", "/s/{token}/package"): CAPABILITY,
    ("POST", "/logout"): ACCOUNT,
    ("GET", "/evidence"): ACCOUNT,
    ("GET", "/account"): ACCOUNT,
    ("POST", "/account/sessions/revoke-others"): ACCOUNT,
    ("GET", "/cases"): ACCOUNT,
    ("POST", "/cases"): ACCOUNT,
    ("GET", "/capture"): ACCOUNT,
    ("GET", "/evidence/{number}"): OWNER,
    ("GET", "/evidence/{number}/preview"): OWNER,
    ("POST", "/evidence/{number}/shares"): OWNER,
    ("POST", "/account/sessions/{session}/revoke"): OWNER,
    ("POST", "/account/tokens/{token}/revoke"): OWNER,
    ("POST", "/shares/{share}/revoke"): OWNER,
    ("GET", "/cases/{case}"): OWNER,
    ("POST", "/cases/{case}"): OWNER,
    ("POST", "/cases/{case}/items"): OWNER,
    ("POST", "/cases/{case}/items/{number}/remove"): OWNER,
    ("POST", "/cases/{case}/shares"): OWNER,
}


def page_routes(client: TestClient) -> set[tuple[str, str]]:
    """Every route outside ``/api/``; HEAD goes with GET."""
    return {(m, p) for m, p in http_routes(client.app) if not p.startswith("/api/") and m != "HEAD"}


def form(csrf: str, world: World) -> dict[str, str]:
    """Every field any form takes, well-formed, so that only ownership can refuse."""
    return {
        "csrf_token": csrf,
        "title": "B's title",
        "description": "B's text",
        "number": world.number,
        "note": "B's note",
        "days": "7",
        "label": "B's link",
        "access_code": "",
    }


def test_every_page_has_an_authorization_decision(client: TestClient) -> None:
    todo = "add these to PAGES (owner, account or public: why)"
    check_every_route_decided(page_routes(client), PAGES, todo=todo, table="PAGES")


def test_private_pages_send_anonymous_visitors_to_login(world: World) -> None:
    stranger = browser(world.server, "10.0.9.4")
    before = snapshot(world)
    checked = 0
    for (method, path), decision in PAGES.items():
        if decision not in (OWNER, ACCOUNT):
            continue
        url = fill(path, world.ids)
        reply = stranger.request(method, url, data=form("x", world) if method == "POST" else None)
        assert reply.status_code == 303, (method, url, reply.status_code)
        assert reply.headers["location"].startswith("/login"), (method, url)
        checked += 1
    assert checked == sum(1 for d in PAGES.values() if d in (OWNER, ACCOUNT))
    assert snapshot(world) == before


def test_another_accounts_evidence_and_case_pages_are_the_sites_404(
    world: World, data_dir: Path
) -> None:
    b = browser(world.server, "10.0.9.5")
    csrf = log_in(b, data_dir / "sms-outbox.log", OTHER_PHONE)["csrf_token"]
    before = snapshot(world)
    checked = []
    for (method, path), decision in PAGES.items():
        if decision != OWNER:
            continue
        url = fill(path, world.ids)
        data = form(csrf, world) if method == "POST" else None
        reply = b.request(method, url, data=data)
        assert reply.status_code == 404, (method, url, reply.status_code, reply.text[:300])
        assert reply.headers["content-type"].startswith("text/html"), (method, url)
        assert "未找到" in reply.text, (method, url)  # the site's page, Chinese first
        # (The number B asked for is in the page's own links, e.g. its language switch.)
        for secret in (A_CASE_TITLE, "clip.mp4", A_SHA256, world.share_token):
            assert secret not in reply.text, (method, url, secret)
        checked.append((method, path))
    assert len(checked) == sum(1 for d in PAGES.values() if d == OWNER)
    assert snapshot(world) == before
    # B's own pages list none of A's objects.
    for page in ("/evidence", "/cases", "/account"):
        text = b.get(page).text
        assert A_CASE_TITLE not in text and world.number not in text, page
