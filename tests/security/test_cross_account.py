"""Authorization over the whole API, table-driven: every ``/api/v1`` operation the app serves
has a decision in :data:`ACCESS`, and a route added later fails
:func:`test_every_api_operation_has_an_authorization_decision` until someone writes its
decision down. Then, for every operation:

- ``OWNER``: it needs a login, and the ids in its path name the caller's own objects. Without
  credentials (none, a bad token, an unknown session) it is 401, with A's ids and with made-up
  ones; a second account B gets 404 ``not_found`` for A's objects, and A's objects are intact
  afterwards.
- ``ACCOUNT``: it needs a login and acts on the caller's own account only (lists, creation);
  401 without credentials.
- ``PUBLIC``: anyone, by design, for the reason given. Those that do take the number of an
  account's record (the verify page's public facts) must answer only public facts.

The web pages' side of the same rule (another account's evidence and case pages answer the
site's 404 page) is in ``test_cross_account_pages.py``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import OTHER_PHONE, PHONE, bearer, log_in
from tests.support.routes import (
    api_operations,
    check_every_route_decided,
    fill,
    http_routes,
    path_names,
)
from tests.support.tus import TUS
from tests.support.two_accounts import DATA, World, browser, snapshot
from tests.unit.server.web.test_public_api import FACT_FIELDS

OWNER = "owner"
ACCOUNT = "account"
CAPABILITY = "public: the link's token is the credential (share links)"

#: Every /api/v1 operation and who may call it. Keep the public ones few and say why.
ACCESS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/sms-code"): "public: how a person starts to log in",
    ("POST", "/api/v1/auth/login"): "public: how a person logs in",
    ("GET", "/api/v1/time"): "public: the server's clock, for clients' offset checks",
    ("GET", "/api/v1/log/leaf-index/{leaf_hash}"): "public: the transparency log is public",
    ("GET", "/api/v1/public/evidence/{number}"): "public: a sealed record's public facts",
    ("GET", "/api/v1/public/evidence"): "public: the same facts, found by content hash",
    ("OPTIONS", "/api/v1/uploads"): "public: tus discovery (the server's capabilities)",
    ("OPTIONS", "/api/v1/uploads/{upload_id}"): "public: tus discovery",
    ("GET", "/api/v1/shares/{share}"): CAPABILITY,
    ("GET", "/api/v1/shares/{share}/content"): CAPABILITY,
    ("GET", "/api/v1/shares/{share}/items/{number}/content"): CAPABILITY,
    ("GET", "/api/v1/shares/{share}/package"): CAPABILITY,
    ("POST", "/api/v1/auth/logout"): ACCOUNT,
    ("GET", "/api/v1/account"): ACCOUNT,
    ("GET", "/api/v1/account/sessions"): ACCOUNT,
    ("DELETE", "/api/v1/account/sessions"): ACCOUNT,
    ("GET", "/api/v1/account/tokens"): ACCOUNT,
    ("POST", "/api/v1/account/tokens"): ACCOUNT,
    ("POST", "/api/v1/uploads"): ACCOUNT,
    ("GET", "/api/v1/evidence"): ACCOUNT,
    ("POST", "/api/v1/recordings"): ACCOUNT,
    ("GET", "/api/v1/cases"): ACCOUNT,
    ("POST", "/api/v1/cases"): ACCOUNT,
    ("DELETE", "/api/v1/account/sessions/{session_id}"): OWNER,
    ("DELETE", "/api/v1/account/tokens/{token_id}"): OWNER,
    ("HEAD", "/api/v1/uploads/{upload_id}"): OWNER,
    ("PATCH", "/api/v1/uploads/{upload_id}"): OWNER,
    ("DELETE", "/api/v1/uploads/{upload_id}"): OWNER,
    ("GET", "/api/v1/evidence/{number}"): OWNER,
    ("GET", "/api/v1/evidence/{number}/content"): OWNER,
    ("GET", "/api/v1/evidence/{number}/certificate"): OWNER,
    ("GET", "/api/v1/evidence/{number}/package"): OWNER,
    ("POST", "/api/v1/evidence/{number}/shares"): OWNER,
    ("GET", "/api/v1/evidence/{number}/shares"): OWNER,
    ("PUT", "/api/v1/recordings/{recording_id}/chunks/{index}"): OWNER,
    ("POST", "/api/v1/recordings/{recording_id}/finish"): OWNER,
    ("GET", "/api/v1/recordings/{recording_id}"): OWNER,
    ("GET", "/api/v1/recordings/{recording_id}/chain.zip"): OWNER,
    ("GET", "/api/v1/cases/{case_id}"): OWNER,
    ("PATCH", "/api/v1/cases/{case_id}"): OWNER,
    ("DELETE", "/api/v1/cases/{case_id}"): OWNER,
    ("PUT", "/api/v1/cases/{case_id}/items/{number}"): OWNER,
    ("DELETE", "/api/v1/cases/{case_id}/items/{number}"): OWNER,
    ("GET", "/api/v1/cases/{case_id}/package"): OWNER,
    ("POST", "/api/v1/cases/{case_id}/shares"): OWNER,
    ("GET", "/api/v1/cases/{case_id}/shares"): OWNER,
    ("DELETE", "/api/v1/shares/{share}"): OWNER,
}
#: Public routes that take the number of an account's record: the answer holds only these
#: fields (:func:`check_no_owner_data_in`: the public API's ``FACT_FIELDS``), none of the owner's.
PUBLIC_FACTS = {("GET", "/api/v1/public/evidence/{number}")}
#: Made-up ids of the right shape, for "401 before any lookup".
MADE_UP = {
    "session_id": "0" * 32,
    "token_id": "0" * 32,
    "upload_id": "0" * 32,
    "number": "TS-20260101-000000-0000",
    "share": "999999",
    "case_id": 999999,
    "recording_id": "0" * 32,
    "index": 0,
    "leaf_hash": "00" * 32,
}


def needs_login(decision: str) -> bool:
    return decision in (OWNER, ACCOUNT)


def body_for(method: str, path: str, world: World) -> dict[str, Any] | None:
    """A well-formed body, so that only the authorization decision can refuse."""
    if path.endswith("/finish"):
        return {"chunks": 1}
    if method in ("POST", "PUT", "PATCH"):
        return {"expires_at": world.expires, "title": "t", "name": "n"}
    return None


def test_every_api_operation_has_an_authorization_decision(client: TestClient) -> None:
    served = {(m, p) for m, p in http_routes(client.app) if p.startswith("/api/v1/")}
    todo = "add these to ACCESS (owner, account or public: why)"
    check_every_route_decided(served, ACCESS, todo=todo, table="ACCESS")
    # /openapi.json tells clients the same: a login for exactly the non-public operations.
    spec = client.get("/openapi.json").json()
    for method, path, operation in api_operations(spec):
        decision = ACCESS[(method, path)]
        declared = {name for s in operation.get("security", []) for name in s}
        expected = {"apiToken", "sessionCookie"} if needs_login(decision) else set()
        assert declared == expected, (method, path, decision, declared)
        if decision in (OWNER, ACCOUNT):  # owner routes name an object; account ones none
            assert bool(path_names(path)) == (decision == OWNER), (method, path, decision)


@pytest.mark.parametrize("credential", ["none", "bad_token", "unknown_session", "revoked_token"])
def test_every_non_public_operation_is_401_without_a_valid_login(
    world: World, credential: str
) -> None:
    stranger = browser(world.server, "10.0.9.3")
    headers: dict[str, str] = dict(TUS)
    if credential == "bad_token":
        headers["Authorization"] = "Bearer ts_" + "A" * 43
    elif credential == "unknown_session":
        stranger.cookies.set("ts_session", "s" * 43)
    elif credential == "revoked_token":
        token = world.browser.post(  # only a session may create tokens
            "/api/v1/account/tokens",
            json={"name": "soon revoked"},
            headers={"X-CSRF-Token": world.a_csrf},
        ).json()
        assert world.server.delete(
            f"/api/v1/account/tokens/{token['id']}", headers=world.a
        ).is_success
        headers["Authorization"] = f"Bearer {token['token']}"
    before = snapshot(world)
    checked = 0
    for (method, path), decision in ACCESS.items():
        if not needs_login(decision):
            continue
        for ids in (world.ids, MADE_UP):
            url = fill(path, ids)
            body = body_for(method, path, world)
            reply = stranger.request(method, url, headers=headers, json=body)
            assert reply.status_code == 401, (credential, method, url, reply.text)
            if method != "HEAD":
                assert reply.json()["error"]["code"] == "unauthenticated", (method, url)
            assert reply.headers["www-authenticate"] == "Bearer", (method, url)
            checked += 1
    assert checked == 2 * sum(1 for d in ACCESS.values() if needs_login(d))
    assert snapshot(world) == before


@pytest.mark.parametrize("b_via", ["token", "session"])
def test_another_accounts_ids_are_404_on_every_api_route(
    world: World, data_dir: Path, b_via: str
) -> None:
    server = world.server
    if b_via == "token":
        b_headers = bearer(server, data_dir, OTHER_PHONE)
        b = server
    else:
        b = browser(server, "10.0.9.2")
        csrf = log_in(b, data_dir / "sms-outbox.log", OTHER_PHONE)["csrf_token"]
        b_headers = {"X-CSRF-Token": csrf}
    b_headers = {**b_headers, **TUS}  # so tus routes get as far as the ownership check
    before = snapshot(world)
    checked = []
    for (method, path), decision in ACCESS.items():
        url = fill(path, {**MADE_UP, **world.ids})
        if (method, path) in PUBLIC_FACTS:
            check_no_owner_data(b.get(url, headers=b_headers), world.number)
            checked.append((method, path))
        elif decision == OWNER:
            reply = b.request(method, url, headers=b_headers, json=body_for(method, path, world))
            assert reply.status_code == 404, (method, url, reply.status_code, reply.text)
            if method != "HEAD":
                assert reply.json()["error"]["code"] == "not_found", (method, url)
            checked.append((method, path))
        elif decision == CAPABILITY:
            # A's link by its id instead of its token: no such link.
            reply = b.request(method, url, headers=b_headers)
            assert reply.status_code == 404, (method, url, reply.status_code)
            checked.append((method, path))
    # The lookup by content hash takes no id, but answers with A's record: no owner data either.
    by_hash = b.get(f"/api/v1/public/evidence?sha256={hashlib.sha256(DATA).hexdigest()}")
    assert by_hash.status_code == 200
    [item] = by_hash.json()["items"]
    check_no_owner_data_in(item, by_hash.text, world.number)
    assert len(checked) == sum(1 for d in ACCESS.values() if d == OWNER) + 5
    # A's objects are untouched, and the token still opens A's link.
    assert snapshot(world) == before
    assert server.get(f"/api/v1/shares/{world.share_token}").status_code == 200
    # And B's lists show none of them.
    assert b.get("/api/v1/evidence", headers=b_headers).json() == {"items": []}
    assert b.get("/api/v1/cases", headers=b_headers).json() == []
    filtered = b.get(f"/api/v1/evidence?case={world.ids['case_id']}", headers=b_headers)
    assert filtered.status_code == 404


def check_no_owner_data(reply: Any, a_number: str) -> None:
    assert reply.status_code == 200, reply.text
    check_no_owner_data_in(reply.json(), reply.text, a_number)


def check_no_owner_data_in(facts: dict[str, Any], text: str, a_number: str) -> None:
    """Only public facts: no title, file name, media type, capture data, owner or phone."""
    assert facts["number"] == a_number
    assert set(facts) == FACT_FIELDS, set(facts) ^ FACT_FIELDS
    for secret in ("clip.mp4", "证据", "\\u8bc1", "video/mp4", "owner", "phone", PHONE):
        assert secret not in text, secret
