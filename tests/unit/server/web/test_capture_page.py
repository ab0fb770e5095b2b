"""``/capture`` through the TestClient: login required, the account's own cases offered, the
session's CSRF token handed to the script, no inline code, and the only Permissions-Policy
that lets a page ask for the camera, microphone, screen and location (every other page still
refuses them). The recording itself runs in a real browser: tests/e2e/test_browser_capture.py.
SQLite only, like the other page tests."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from tests.support.accounts import OTHER_PHONE
from tests.unit.server.web.test_verify_page import parse
from tests.unit.server.web.test_web_app import browser_log_in, session, web  # noqa: F401
from timeseal.server.web.render import CAPTURE_DEVICES, NO_DEVICES


def test_anonymous_visitors_go_to_login_and_come_back(web: TestClient) -> None:  # noqa: F811
    reply = web.get("/capture", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=%2Fcapture"


def test_capture_page_for_the_logged_in_account(
    web: TestClient,  # noqa: F811
    data_dir: Path,
) -> None:
    assert browser_log_in(web, data_dir, next_path="/capture") == "/capture"
    made = web.post("/api/v1/cases", json={"title": "快递面单泄露"}, headers=session(web))
    assert made.status_code == 201, made.text

    page = web.get("/capture")
    assert page.status_code == 200
    assert page.headers["permissions-policy"] == CAPTURE_DEVICES
    assert "camera=(self)" in CAPTURE_DEVICES and "display-capture=(self)" in CAPTURE_DEVICES
    assert web.get("/evidence").headers["permissions-policy"] == NO_DEVICES
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp and "unsafe-inline" not in csp
    parsed = parse(page.text)
    assert not parsed.handlers and not parsed.script_bodies and parsed.styles == 0
    scripts = [s.get("src") or "" for s in parsed.scripts]
    assert any(re.search(r"/static/js/capture\.[0-9a-f]{12}\.js$", s) for s in scripts)
    assert all(web.get(s).status_code == 200 for s in scripts)
    # The script sends the session's own CSRF token (the readable ts_csrf cookie's value).
    assert f'data-csrf="{web.cookies["ts_csrf"]}"' in page.text
    assert f'<option value="{made.json()["id"]}">快递面单泄露</option>' in page.text
    assert 'accept="image/*" capture="environment"' in page.text
    assert 'href="/capture"' in page.text  # in the site navigation
    assert "附加我的位置" in page.text and "浏览器环境报告" in page.text

    english = web.get("/capture?lang=en")
    assert "Attach my location" in english.text and "附加我的位置" not in english.text
    assert "Browser environment report" in english.text


def test_another_accounts_cases_are_not_offered(web: TestClient, data_dir: Path) -> None:  # noqa: F811
    browser_log_in(web, data_dir)
    web.post("/api/v1/cases", json={"title": "别人的案件"}, headers=session(web))
    other = TestClient(web.app)
    browser_log_in(other, data_dir, phone=OTHER_PHONE)
    page = other.get("/capture")
    assert page.status_code == 200 and "别人的案件" not in page.text
