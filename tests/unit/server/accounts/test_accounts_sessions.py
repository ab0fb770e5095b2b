"""Browser sessions and API tokens: cookie flags, CSRF, logout, revocation, expiry, isolation.
Every test runs on SQLite and on PostgreSQL; time is the injected clock."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.support.accounts import (
    OTHER_PHONE,
    PHONE,
    FakeClock,
    log_in,
    service_of,
)
from timeseal.store.accounts.tables import api_tokens, auth_sessions


def cookie_attributes(reply: httpx2.Response, name: str) -> dict[str, str]:
    """The attributes of the Set-Cookie header for ``name`` (lower-cased keys)."""
    for header in reply.headers.get_list("set-cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        key, _, value = first.partition("=")
        if key == name:
            parsed = {"value": value}
            for attribute in attributes:
                k, _, v = attribute.partition("=")
                parsed[k.lower()] = v
            return parsed
    raise AssertionError(f"no Set-Cookie for {name}")


def error_code(reply: httpx2.Response) -> str:
    code: str = reply.json()["error"]["code"]
    return code


@contextmanager
def browser(app: FastAPI, ip: str = "10.0.1.1") -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver", client=(ip, 1)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- sessions ---------------------------------------------------------------------------


def test_session_cookies_over_https(app: FastAPI, https_client: TestClient, outbox: Path) -> None:
    send = https_client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    assert send.status_code == 200
    from tests.support.accounts import latest_code

    reply = https_client.post(
        "/api/v1/auth/login", json={"phone": PHONE, "code": latest_code(outbox)}
    )
    assert reply.status_code == 200
    session = cookie_attributes(reply, "ts_session")
    assert {k: v for k, v in session.items() if k != "value"} == {
        "httponly": "",
        "secure": "",
        "samesite": "lax",
        "path": "/",
        "max-age": str(14 * 24 * 3600),
    }
    # 256 random bits, base64url; the database holds only its SHA-256.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session["value"])
    with service_of(app).accounts.engine.connect() as conn:
        stored = conn.execute(select(auth_sessions.c.secret_hash)).scalar_one()
    assert stored == hashlib.sha256(session["value"].encode()).digest()
    # The CSRF cookie is for page scripts: readable, otherwise the same.
    csrf = cookie_attributes(reply, "ts_csrf")
    assert "httponly" not in csrf
    assert (csrf["secure"], csrf["samesite"], csrf["value"]) == (
        "",
        "lax",
        reply.json()["csrf_token"],
    )
    assert https_client.get("/api/v1/account").json()["phone"] == PHONE


def test_session_cookie_is_not_secure_over_plain_http(client: TestClient, outbox: Path) -> None:
    from tests.support.accounts import latest_code, send_code

    send_code(client)
    reply = client.post("/api/v1/auth/login", json={"phone": PHONE, "code": latest_code(outbox)})
    session = cookie_attributes(reply, "ts_session")
    assert "secure" not in session and "httponly" in session and session["samesite"] == "lax"


def test_csrf_token_is_required_for_unsafe_methods(https_client: TestClient, outbox: Path) -> None:
    csrf = log_in(https_client, outbox)["csrf_token"]
    # Safe methods need no token.
    assert https_client.get("/api/v1/account/tokens").status_code == 200
    # Missing (the ts_csrf cookie alone, which the browser sends by itself, is not enough)...
    assert https_client.cookies.get("ts_csrf") == csrf
    reply = https_client.post("/api/v1/account/tokens", json={"name": "a"})
    assert (reply.status_code, error_code(reply)) == (403, "csrf_failed")
    # ...or wrong: refused, and nothing happened.
    reply = https_client.post(
        "/api/v1/account/tokens", json={"name": "a"}, headers={"X-CSRF-Token": csrf[:-1] + "x"}
    )
    assert (reply.status_code, error_code(reply)) == (403, "csrf_failed")
    assert https_client.get("/api/v1/account/tokens").json() == []
    for method in ("DELETE",):
        reply = https_client.request(method, "/api/v1/account/sessions")
        assert (reply.status_code, error_code(reply)) == (403, "csrf_failed")
    # Right, in the header...
    reply = https_client.post(
        "/api/v1/account/tokens", json={"name": "a"}, headers={"X-CSRF-Token": csrf}
    )
    assert reply.status_code == 201
    # ...or in a form field (HTML forms).
    reply = https_client.post("/api/v1/auth/logout", data={"csrf_token": "nope"})
    assert (reply.status_code, error_code(reply)) == (403, "csrf_failed")
    reply = https_client.post("/api/v1/auth/logout", data={"csrf_token": csrf})
    assert reply.status_code == 204


def test_one_sessions_csrf_token_does_not_work_for_another(
    app: FastAPI, outbox: Path, clock: FakeClock
) -> None:
    with browser(app, "10.0.1.1") as first, browser(app, "10.0.1.2") as second:
        first_csrf = log_in(first, outbox)["csrf_token"]
        clock.advance(seconds=61)
        log_in(second, outbox)
        reply = second.post("/api/v1/auth/logout", headers={"X-CSRF-Token": first_csrf})
        assert (reply.status_code, error_code(reply)) == (403, "csrf_failed")


def test_logout_ends_the_session_and_clears_the_cookies(
    https_client: TestClient, outbox: Path
) -> None:
    csrf = log_in(https_client, outbox)["csrf_token"]
    secret = https_client.cookies["ts_session"]
    reply = https_client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 204
    for name in ("ts_session", "ts_csrf"):
        assert cookie_attributes(reply, name)["max-age"] == "0"
    assert https_client.get("/api/v1/account").status_code == 401
    # The server forgot it too: replaying the old cookie does not work.
    https_client.cookies.set("ts_session", secret)
    reply = https_client.get("/api/v1/account")
    assert (reply.status_code, error_code(reply)) == (401, "unauthenticated")


def test_revoke_one_session_from_another(app: FastAPI, outbox: Path, clock: FakeClock) -> None:
    with browser(app, "10.0.1.1") as laptop, browser(app, "10.0.1.2") as phone:
        laptop_login = log_in(laptop, outbox)
        clock.advance(seconds=61)
        phone_login = log_in(phone, outbox)
        sessions = laptop.get("/api/v1/account/sessions").json()
        assert [(s["id"], s["current"], s["ip"]) for s in sessions] == [
            (laptop_login["session"]["id"], True, "10.0.1.1"),
            (phone_login["session"]["id"], False, "10.0.1.2"),
        ]
        reply = laptop.delete(
            f"/api/v1/account/sessions/{phone_login['session']['id']}",
            headers={"X-CSRF-Token": laptop_login["csrf_token"]},
        )
        assert reply.status_code == 204
        assert phone.get("/api/v1/account").status_code == 401
        assert laptop.get("/api/v1/account").status_code == 200
        assert [s["id"] for s in laptop.get("/api/v1/account/sessions").json()] == [
            laptop_login["session"]["id"]
        ]
        # Revoking it again: it no longer exists.
        reply = laptop.delete(
            f"/api/v1/account/sessions/{phone_login['session']['id']}",
            headers={"X-CSRF-Token": laptop_login["csrf_token"]},
        )
        assert (reply.status_code, error_code(reply)) == (404, "not_found")


def test_end_all_other_sessions(app: FastAPI, outbox: Path, clock: FakeClock) -> None:
    logins: list[dict[str, Any]] = []
    with (
        browser(app, "10.0.1.1") as a,
        browser(app, "10.0.1.2") as b,
        browser(app, "10.0.1.3") as c,
    ):
        for client in (a, b, c):
            logins.append(log_in(client, outbox))
            clock.advance(seconds=61)
        reply = a.delete(
            "/api/v1/account/sessions", headers={"X-CSRF-Token": logins[0]["csrf_token"]}
        )
        assert reply.json() == {"revoked": 2}
        assert [a.get("/api/v1/account").status_code for _ in range(1)] == [200]
        assert b.get("/api/v1/account").status_code == 401
        assert c.get("/api/v1/account").status_code == 401


def test_idle_sessions_expire(https_client: TestClient, outbox: Path, clock: FakeClock) -> None:
    log_in(https_client, outbox)
    for _ in range(3):  # activity keeps it alive
        clock.advance(hours=11, minutes=59)
        assert https_client.get("/api/v1/account").status_code == 200
    clock.advance(hours=12)
    reply = https_client.get("/api/v1/account")
    assert (reply.status_code, error_code(reply)) == (401, "unauthenticated")


def test_sessions_end_after_fourteen_days_however_active(
    https_client: TestClient, outbox: Path, clock: FakeClock
) -> None:
    log_in(https_client, outbox)
    for _ in range(28):  # 28 x 11:59 = 13 days 23:32
        clock.advance(hours=11, minutes=59)
        assert https_client.get("/api/v1/account").status_code == 200
    clock.advance(hours=1)  # active an hour ago, but logged in over 14 days ago
    assert https_client.get("/api/v1/account").status_code == 401


def test_unauthenticated_requests_get_a_clean_401(https_client: TestClient, outbox: Path) -> None:
    for headers in ({}, bearer("ts_nonsense"), bearer("not-a-token"), {"Authorization": "Basic x"}):
        reply = https_client.get("/api/v1/account", headers=headers)
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"] == "Bearer"
        assert reply.json() == {
            "error": {
                "code": "unauthenticated",
                "message": "请先登录。",
                "message_zh": "请先登录。",
                "message_en": "Log in first.",
            }
        }
    # A bad token is not rescued by a good session cookie: the header decides.
    log_in(https_client, outbox)
    assert https_client.get("/api/v1/account").status_code == 200
    assert https_client.get("/api/v1/account", headers=bearer("ts_nonsense")).status_code == 401


# --- API tokens -------------------------------------------------------------------------


def test_token_login_create_list_revoke(
    app: FastAPI, client: TestClient, outbox: Path, clock: FakeClock
) -> None:
    result = log_in(client, outbox, kind="token", token_name="laptop CLI")
    assert (result["kind"], result["session"], result["csrf_token"]) == ("token", None, None)
    assert not client.cookies  # no cookie for a token login
    token = result["token"]
    assert re.fullmatch(r"ts_[A-Za-z0-9_-]{43}", token["token"])
    assert (token["name"], token["hint"], token["last_used_at"]) == (
        "laptop CLI",
        token["token"][-4:],
        None,
    )
    # Stored hashed.
    with service_of(app).accounts.engine.connect() as conn:
        stored = conn.execute(select(api_tokens.c.secret_hash)).scalar_one()
    assert stored == hashlib.sha256(token["token"].encode()).digest()

    auth = bearer(token["token"])
    clock.advance(minutes=5)
    assert client.get("/api/v1/account", headers=auth).json()["phone"] == PHONE
    # A token cannot create tokens (tests/security/test_api_tokens.py); a browser session can.
    reply = client.post("/api/v1/account/tokens", json={"name": "backup"}, headers=auth)
    assert (reply.status_code, error_code(reply)) == (403, "session_required")
    browser = TestClient(app, client=("10.0.0.3", 50000))
    csrf = log_in(browser, outbox)["csrf_token"]
    reply = browser.post(
        "/api/v1/account/tokens", json={"name": "backup"}, headers={"X-CSRF-Token": csrf}
    )
    assert reply.status_code == 201
    second = reply.json()
    assert (second["scope"], second["expires_at"]) == ("full", "2027-02-27T08:05:00Z")
    listed = client.get("/api/v1/account/tokens", headers=auth).json()
    assert [(t["id"], t["name"], t["current"]) for t in listed] == [
        (token["id"], "laptop CLI", True),
        (second["id"], "backup", False),
    ]
    assert all("token" not in t for t in listed)  # the secret is shown once only
    assert listed[0]["last_used_at"] == "2026-11-29T08:05:00Z"
    # Last use is recorded to the minute: the use at 8:05:30 is not written.
    clock.advance(seconds=30)
    client.get("/api/v1/account", headers=auth)
    clock.advance(minutes=2)
    listed = client.get("/api/v1/account/tokens", headers=bearer(second["token"])).json()
    assert [t["last_used_at"] for t in listed] == [
        "2026-11-29T08:05:00Z",
        "2026-11-29T08:07:30Z",
    ]

    reply = client.delete(f"/api/v1/account/tokens/{second['id']}", headers=auth)
    assert reply.status_code == 204
    reply = client.get("/api/v1/account", headers=bearer(second["token"]))
    assert (reply.status_code, error_code(reply)) == (401, "unauthenticated")
    assert [t["id"] for t in client.get("/api/v1/account/tokens", headers=auth).json()] == [
        token["id"]
    ]
    reply = client.delete(f"/api/v1/account/tokens/{second['id']}", headers=auth)
    assert reply.status_code == 404


def test_logout_with_a_token_revokes_it(client: TestClient, outbox: Path) -> None:
    token = log_in(client, outbox, kind="token")["token"]["token"]
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/account", headers=bearer(token)).status_code == 401


def test_token_name_defaults_and_limits(client: TestClient, outbox: Path) -> None:
    token = log_in(client, outbox, kind="token")["token"]
    assert token["name"] == "timeseal CLI"
    reply = client.post(
        "/api/v1/account/tokens", json={"name": "x" * 101}, headers=bearer(token["token"])
    )
    assert (reply.status_code, reply.json()["error"]["fields"]) == (422, ["name"])


# --- isolation --------------------------------------------------------------------------


@pytest.mark.parametrize("b_via", ["token", "session"])
def test_another_accounts_ids_are_404_on_every_route_that_takes_one(
    app: FastAPI, outbox: Path, clock: FakeClock, b_via: str
) -> None:
    """Table-driven over /openapi.json: a route added later with an id is covered (and must
    say here which of A's objects its id names)."""
    with browser(app, "10.0.2.1") as a, browser(app, "10.0.2.2") as b:
        a_session = log_in(a, outbox)
        a_token = a.post(
            "/api/v1/account/tokens",
            json={"name": "A's"},
            headers={"X-CSRF-Token": a_session["csrf_token"]},
        ).json()
        a_ids = {"session_id": a_session["session"]["id"], "token_id": a_token["id"]}
        b_login = log_in(b, outbox, OTHER_PHONE, kind=b_via)
        b_headers = (
            bearer(b_login["token"]["token"])
            if b_via == "token"
            else {"X-CSRF-Token": b_login["csrf_token"]}
        )

        spec = b.get("/openapi.json").json()
        checked = []
        for path, operations in spec["paths"].items():
            names = re.findall(r"\{(\w+)\}", path)
            if not names:
                continue
            for method in operations:
                unknown = set(names) - set(a_ids)
                assert not unknown, (
                    f"{method.upper()} {path}: say which of A's objects {unknown} is"
                )
                url = path.format(**a_ids)
                reply = b.request(method.upper(), url, headers=b_headers)
                assert (reply.status_code, error_code(reply)) == (404, "not_found"), (method, url)
                checked.append((method, path))
        assert len(checked) == 2
        # A's objects are untouched.
        assert a.get("/api/v1/account").status_code == 200
        assert a.get("/api/v1/account", headers=bearer(a_token["token"])).status_code == 200
        # And B sees none of them in its lists.
        lists = [
            b.get(f"/api/v1/account/{kind}", headers=b_headers).json()
            for kind in ("sessions", "tokens")
        ]
        assert a_ids["session_id"] not in {s["id"] for s in lists[0]}
        assert a_ids["token_id"] not in {t["id"] for t in lists[1]}
