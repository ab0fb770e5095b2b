"""The account's pages through the TestClient: logging in with the code from the dev SMS
file, the anonymous redirect (local ``next`` only), the evidence list and detail, another
account's number answered 404, previews inline for images only, CSRF on every form,
languages and security headers. SQLite only: the stores are the API's, tested on both."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import OTHER_PHONE, PHONE, latest_code, wrong_code
from tests.unit.server.conftest import running_app
from tests.unit.server.web.conftest import seal
from tests.unit.server.web.test_verify_page import parse
from timeseal.server.web.account_pages import safe_next
from timeseal.server.web.render import BEIJING
from timeseal.store.db import DATABASE_URL_ENV

#: An 8x6 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAGCAIAAABxZ0isAAAAFElEQVR4nGM8ISfHgA0wYRWlkwQAmxQBECiKgAAAAAAASUVORK5CYII="
)


@pytest.fixture
def web(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with running_app(data_dir) as client:
        yield client


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name}"
    return match.group(1)


def browser_log_in(
    client: TestClient, data_dir: Path, phone: str = PHONE, next_path: str = "/evidence"
) -> str:
    """The two login forms, as a browser fills them; the redirect target."""
    form = client.get("/login", params={"next": next_path})
    assert form.status_code == 200
    sent = client.post(
        "/login/code",
        data={"csrf_token": hidden(form.text, "csrf_token"), "next": next_path, "phone": phone},
    )
    assert sent.status_code == 200, sent.text
    assert 'name="code"' in sent.text
    code = latest_code(data_dir / "sms-outbox.log", phone)
    done = client.post(
        "/login",
        data={
            "csrf_token": hidden(sent.text, "csrf_token"),
            "next": hidden(sent.text, "next"),
            "phone": hidden(sent.text, "phone"),
            "code": code,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return done.headers["location"]


def session(client: TestClient) -> dict[str, str]:
    """Headers for API calls with the browser's session: its cookie goes along by itself,
    unsafe methods need the CSRF token (the readable ``ts_csrf`` cookie)."""
    return {"X-CSRF-Token": client.cookies["ts_csrf"]}


def test_login_flow_sets_the_api_session_and_lands_on_the_list(
    web: TestClient, data_dir: Path
) -> None:
    assert browser_log_in(web, data_dir) == "/evidence"
    cookie = [h for h in web.cookies.jar if h.name == "ts_session"]
    assert cookie and cookie[0].has_nonstandard_attr("HttpOnly")
    page = web.get("/evidence")
    assert page.status_code == 200 and "我的证据" in page.text
    # The same session works for the API: it is the API's session cookie.
    assert web.get("/api/v1/account").json()["phone"] == PHONE


def test_wrong_code_and_bad_phone_are_shown_in_the_pages_language(
    web: TestClient, data_dir: Path
) -> None:
    form = web.get("/login?lang=en")
    bad = web.post(
        "/login/code", data={"csrf_token": hidden(form.text, "csrf_token"), "phone": "12345"}
    )
    assert bad.status_code == 422 and "Enter a valid mainland China mobile number" in bad.text
    sent = web.post(
        "/login/code", data={"csrf_token": hidden(form.text, "csrf_token"), "phone": PHONE}
    )
    again = web.post(
        "/login/code", data={"csrf_token": hidden(form.text, "csrf_token"), "phone": PHONE}
    )
    assert again.status_code == 429 and "Too many requests" in again.text  # the API's limit
    assert 0 < int(again.headers["retry-after"]) <= 60
    wrong = web.post(
        "/login",
        data={
            "csrf_token": hidden(sent.text, "csrf_token"),
            "phone": PHONE,
            "code": wrong_code(latest_code(data_dir / "sms-outbox.log")),
        },
        follow_redirects=False,
    )
    assert wrong.status_code == 400 and "The code is wrong or no longer valid." in wrong.text
    assert "ts_session" not in web.cookies


def test_login_forms_refuse_a_missing_or_foreign_csrf_token(web: TestClient) -> None:
    web.get("/login")
    refused = web.post("/login/code", data={"phone": PHONE})
    assert refused.status_code == 403 and "表单已失效" in refused.text
    forged = web.post("/login/code", data={"phone": PHONE, "csrf_token": "x" * 43})
    assert forged.status_code == 403


def test_anonymous_visitors_go_to_login_with_a_local_next(web: TestClient) -> None:
    for path in ("/evidence?kind=photo", "/evidence/TS-20261129-7Q4K-M2XD"):
        reply = web.get(path, follow_redirects=False)
        assert reply.status_code == 303
        assert reply.headers["location"].startswith("/login?next=%2Fevidence")
    assert safe_next("/evidence/TS-1?x=1") == "/evidence/TS-1?x=1"
    for hostile in ("https://evil.example/", "//evil.example", "/\\evil.example", "evil", ""):
        assert safe_next(hostile) == "/evidence"


def test_list_detail_and_another_accounts_number(web: TestClient, data_dir: Path) -> None:
    browser_log_in(web, data_dir)
    number, _ = seal(
        web,
        session(web),
        PNG,
        filename="shop.png",
        kind="photo",
        title="店铺截图",
        filetype="image/png",
    )
    listing = web.get("/evidence")
    assert number in listing.text and "店铺截图" in listing.text and "拍照" in listing.text
    assert number not in web.get("/evidence", params={"kind": "video"}).text
    assert number in web.get("/evidence", params={"q": "店铺"}).text
    today = dt.datetime.now(BEIJING).date()
    day = {"from": today.isoformat(), "to": today.isoformat()}
    assert number in web.get("/evidence", params=day).text
    assert number not in web.get("/evidence", params={"to": str(today - dt.timedelta(1))}).text
    detail = web.get(f"/evidence/{number}")
    assert detail.status_code == 200
    for part in ("SHA-256", "保管记录", f"/api/v1/evidence/{number}/certificate", 'id="preview"'):
        assert part in detail.text
    preview = web.get(f"/evidence/{number}/preview")
    assert preview.status_code == 200 and preview.content == PNG
    assert preview.headers["content-type"] == "image/png"
    assert preview.headers["content-disposition"].startswith("inline")
    assert preview.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in preview.headers["content-security-policy"]
    # The API's own download stays an attachment.
    content = web.get(f"/api/v1/evidence/{number}/content")
    assert content.headers["content-disposition"].startswith("attachment")

    other = TestClient(web.app, raise_server_exceptions=False)
    # ``next`` survives both login forms.
    assert browser_log_in(other, data_dir, OTHER_PHONE, f"/evidence/{number}") == (
        f"/evidence/{number}"
    )
    for path in (f"/evidence/{number}", f"/evidence/{number}/preview"):
        missing = other.get(path)
        assert missing.status_code == 404 and "您没有该编号的证据" in missing.text
    assert number not in other.get("/evidence").text


def test_svg_is_never_previewed_inline(web: TestClient, data_dir: Path) -> None:
    browser_log_in(web, data_dir)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    number, _ = seal(
        web, session(web), svg, filename="x.svg", kind="photo", filetype="image/svg+xml"
    )
    assert 'id="preview"' not in web.get(f"/evidence/{number}").text
    assert web.get(f"/evidence/{number}/preview").status_code == 404


def test_logout_needs_the_csrf_token(web: TestClient, data_dir: Path) -> None:
    browser_log_in(web, data_dir)
    page = web.get("/evidence")
    refused = web.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert web.get("/evidence", follow_redirects=False).status_code == 200  # still logged in
    done = web.post(
        "/logout", data={"csrf_token": hidden(page.text, "csrf_token")}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert web.get("/evidence", follow_redirects=False).status_code == 303


def test_english_and_headers_and_no_inline_code(web: TestClient, data_dir: Path) -> None:
    login = web.get("/login", headers={"Accept-Language": "en"})
    assert "Your mobile number" in login.text and "手机号" not in login.text
    browser_log_in(web, data_dir)
    for path in ("/evidence", "/evidence?lang=en"):
        page = web.get(path)
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        parsed = parse(page.text)
        assert not parsed.handlers and not parsed.script_bodies
    assert "My evidence" in web.get("/evidence").text  # ?lang=en is remembered
    schema_paths = set(web.get("/openapi.json").json()["paths"])
    assert "/api/v1/evidence" in schema_paths
    assert not {"/login", "/login/code", "/logout", "/evidence"} & schema_paths
