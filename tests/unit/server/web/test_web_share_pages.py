"""The account page and share links in the browser, through the TestClient: sessions and
tokens listed and revoked (CSRF refused without its token), a link created on the detail page
opened anonymously at ``/s/<token>`` with its facts, preview and downloads, access codes
(required, wrong, right and remembered), revoked links 404, expired ones 410 (injected share
clock), custody rows, and another account that cannot revoke. SQLite only: the rules are the
API's ``ShareService``, tested on both databases in ``tests/unit/server/test_shares.py``."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import OTHER_PHONE, PHONE, FakeClock, server_database_url
from tests.unit.server.web.conftest import seal, wait_sequenced
from tests.unit.server.web.test_web_app import PNG, browser_log_in, hidden, session
from timeseal.core.phone import mask_phone
from timeseal.server.accounts.service import AuthService
from timeseal.server.app import RouteFirst, ServerSettings, create_app
from timeseal.server.tsa.clock import LocalSource
from timeseal.store.db import DATABASE_URL_ENV


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture
def app(data_dir: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> RouteFirst:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    return create_app(
        ServerSettings(
            database_url=server_database_url(),
            data_dir=data_dir,
            clock_source=LocalSource(),
            share_clock=clock,
        )
    )


@pytest.fixture
def web(app: RouteFirst) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def sealed_photo(web: TestClient, data_dir: Path) -> str:
    browser_log_in(web, data_dir)
    number, _ = seal(
        web, session(web), PNG, filename="shop.png", kind="photo", filetype="image/png"
    )
    return number


def create_share(
    web: TestClient, number: str, *, days: str = "7", code: str = "", label: str = "商家"
) -> str:
    """The detail page's form, as a browser sends it: the link's path ``/s/<token>``."""
    page = web.get(f"/evidence/{number}")
    reply = web.post(
        f"/evidence/{number}/shares",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "days": days,
            "label": label,
            "access_code": code,
        },
    )
    assert reply.status_code == 201, reply.text
    match = re.search(r'href="(/s/[A-Za-z0-9_-]{43})" id="share-link"', reply.text)
    assert match
    return match.group(1)


def custody(web: TestClient, number: str) -> list[str]:
    """The trail's actions, each as many times as its entry counts (share views are counted
    in one entry per link, client and day)."""
    detail = web.get(f"/api/v1/evidence/{number}").json()
    return [e["action"] for e in detail["custody"] for _ in range(int(e["count"]))]


def test_account_page_lists_and_revokes_sessions_and_tokens(
    app: RouteFirst, web: TestClient, data_dir: Path
) -> None:
    browser_log_in(web, data_dir)
    # The same account in a second browser (a second code would wait for the SMS limit).
    auth: AuthService = app.app.state.timeseal_auth
    principal = auth.session_principal(web.cookies["ts_session"])
    assert principal is not None
    secret, _ = auth.start_session(principal.account, ip="203.0.113.9", user_agent="Phone")
    other = TestClient(web.app, raise_server_exceptions=False, cookies={"ts_session": secret})
    assert other.get("/account", follow_redirects=False).status_code == 200
    made = web.post("/api/v1/account/tokens", json={"name": "cli-laptop"}, headers=session(web))
    assert made.status_code == 201, made.text
    token = made.json()
    page = web.get("/account")
    assert page.status_code == 200
    assert mask_phone(PHONE) in page.text and PHONE[-8:] not in page.text
    assert "当前浏览器" in page.text and "cli-laptop" in page.text
    assert page.text.count('action="/account/sessions/ses_') == 2
    csrf = hidden(page.text, "csrf_token")
    token_id = token["id"]
    # Without the CSRF token: refused, nothing revoked.
    refused = web.post(f"/account/tokens/{token_id}/revoke", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert "cli-laptop" in web.get("/account").text
    done = web.post(
        f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert "cli-laptop" not in web.get("/account").text
    # Ending the other browser's session logs it out; this one stays.
    others = web.post(
        "/account/sessions/revoke-others", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert others.status_code == 303
    assert other.get("/account", follow_redirects=False).status_code == 303
    assert web.get("/account").text.count('action="/account/sessions/ses_') == 1
    # One session by id: a made-up one is the 404 page.
    missing = web.post(
        "/account/sessions/ses_nope/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert missing.status_code == 404


def test_share_created_on_the_page_opens_anonymously(web: TestClient, data_dir: Path) -> None:
    number = sealed_photo(web, data_dir)
    path = create_share(web, number)
    assert "shared" in custody(web, number)
    detail = web.get(f"/evidence/{number}")
    assert "商家" in detail.text and path not in detail.text  # the token is shown once only
    anonymous = TestClient(web.app, raise_server_exceptions=False)
    page = anonymous.get(path)
    assert page.status_code == 200
    for part in (number, "SHA-256", f'{path}/preview"', f'{path}/content"', f'{path}/package"'):
        assert part in page.text
    assert page.headers["cache-control"] == "no-store"
    preview = anonymous.get(f"{path}/preview")
    assert preview.status_code == 200 and preview.content == PNG
    assert preview.headers["content-disposition"].startswith("inline")
    assert preview.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in preview.headers["content-security-policy"]
    original = anonymous.get(f"{path}/content")
    assert original.content == PNG
    assert original.headers["content-disposition"].startswith("attachment")
    wait_sequenced(web, number)  # a package holds the log receipt
    package = anonymous.get(f"{path}/package")
    assert package.status_code == 200
    assert package.headers["content-disposition"].startswith("attachment")
    assert zipfile.ZipFile(BytesIO(package.content)).testzip() is None
    assert custody(web, number).count("share_opened") == 4  # page, preview, file, package
    # Out of range lifetimes are refused by the form.
    page = web.get(f"/evidence/{number}")
    assert "共 4 次" in page.text  # the four opens are one counted entry of the trail
    for days in ("0", "366", "x"):
        bad = web.post(
            f"/evidence/{number}/shares",
            data={"csrf_token": hidden(page.text, "csrf_token"), "days": days},
        )
        assert bad.status_code == 422
    no_csrf = web.post(f"/evidence/{number}/shares", data={"days": "7"})
    assert no_csrf.status_code == 403


def test_access_code_required_wrong_and_right(web: TestClient, data_dir: Path) -> None:
    number = sealed_photo(web, data_dir)
    path = create_share(web, number, code="246813")
    anonymous = TestClient(web.app, raise_server_exceptions=False)
    asked = anonymous.get(path + "?lang=en")
    assert asked.status_code == 200 and 'name="access_code"' in asked.text
    assert number not in asked.text
    assert anonymous.get(f"{path}/content", follow_redirects=False).status_code == 303
    csrf = hidden(asked.text, "csrf_token")
    # The form needs its CSRF token (tied to the ts_share_form cookie); without: refused.
    forged = anonymous.post(path, data={"access_code": "246813"}, follow_redirects=False)
    assert forged.status_code == 403 and "ts_share" not in forged.headers.get("set-cookie", "")
    wrong = anonymous.post(
        path, data={"access_code": "135799", "csrf_token": csrf}, follow_redirects=False
    )
    assert wrong.status_code == 403 and 'id="code-error"' in wrong.text
    right = anonymous.post(
        path, data={"access_code": "246813", "csrf_token": csrf}, follow_redirects=False
    )
    assert right.status_code == 303 and right.headers["location"] == path
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and f"Path={path}" in cookie and "246813" not in cookie
    assert number in anonymous.get(path).text
    assert anonymous.get(f"{path}/content").content == PNG
    # Five wrong codes in a row: this client waits (429), even with the right code.
    stranger = TestClient(web.app, raise_server_exceptions=False)
    csrf = hidden(stranger.get(path).text, "csrf_token")
    assert number not in stranger.get(path).text  # the cookie is per browser
    for _ in range(5):
        stranger.post(path, data={"access_code": "000000", "csrf_token": csrf})
    limited = stranger.post(
        path, data={"access_code": "246813", "csrf_token": csrf}, follow_redirects=False
    )
    assert limited.status_code == 429 and "ts_share=" not in limited.headers.get("set-cookie", "")
    # The browser that proved the code earlier keeps its cookie until it expires.
    assert number in anonymous.get(path).text


def test_revoked_is_404_expired_is_410_and_others_cannot_revoke(
    web: TestClient, data_dir: Path, clock: FakeClock
) -> None:
    number = sealed_photo(web, data_dir)
    path = create_share(web, number, days="1")
    share_id = web.get(f"/api/v1/evidence/{number}/shares").json()[0]["id"]
    anonymous = TestClient(web.app, raise_server_exceptions=False)
    other = TestClient(web.app, raise_server_exceptions=False)
    browser_log_in(other, data_dir, OTHER_PHONE)
    other_csrf = hidden(other.get("/evidence").text, "csrf_token")
    refused = other.post(f"/shares/{share_id}/revoke", data={"csrf_token": other_csrf})
    assert refused.status_code == 404
    assert anonymous.get(path).status_code == 200
    clock.advance(days=1, seconds=1)
    expired = anonymous.get(path)
    assert expired.status_code == 410 and "链接已过期" in expired.text
    assert anonymous.get(f"{path}/package").status_code == 410
    clock.advance(days=-1, seconds=-2)
    csrf = hidden(web.get(f"/evidence/{number}").text, "csrf_token")
    assert web.post(f"/shares/{share_id}/revoke", data={}).status_code == 403
    done = web.post(f"/shares/{share_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/evidence/{number}"
    for url in (path, f"{path}/content", f"{path}/preview", "/s/" + "A" * 43, "/s/short"):
        gone = anonymous.get(url)
        assert gone.status_code == 404 and "不存在或已被撤销" in gone.text
    paths = web.get("/openapi.json").json()["paths"]
    assert not any(p.startswith(("/account", "/s/", "/shares/")) for p in paths)


def test_case_link_shows_the_case_items_notes_and_downloads(
    web: TestClient, data_dir: Path
) -> None:
    number = sealed_photo(web, data_dir)
    auth = session(web)
    case = web.post(
        "/api/v1/cases", json={"title": "某店铺纠纷", "description": "退款被拒"}, headers=auth
    ).json()
    put = web.put(
        f"/api/v1/cases/{case['id']}/items/{number}", json={"note": "门头照片"}, headers=auth
    )
    assert put.status_code in (200, 201), put.text
    made = web.post(
        f"/api/v1/cases/{case['id']}/shares",
        json={"expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    path = made.json()["url"]
    anonymous = TestClient(web.app, raise_server_exceptions=False)
    page = anonymous.get(path)
    assert page.status_code == 200
    for part in ("某店铺纠纷", "退款被拒", "门头照片", number, f"{path}/package"):
        assert part in page.text
    assert anonymous.get(f"{path}/items/{number}/content").content == PNG
    assert anonymous.get(f"{path}/content").status_code == 404  # a case has no single file
    assert anonymous.get(f"{path}/items/TS-20261129-7Q4K-M2XD/content").status_code == 404
    wait_sequenced(web, number)
    package = anonymous.get(f"{path}/package")
    assert package.status_code == 200 and package.content.startswith(b"PK")
    assert custody(web, number).count("share_opened") == 3
