"""The account's pages in real headless Chromium (Playwright) against a real ``timeseal
serve``: log in with the code read from the dev SMS file, upload a photo through the API with
that browser session, see it sealed in the list, open its detail (the image preview loads
under the page's CSP), download its certificate (a PDF); at 375 px nothing overflows
sideways, the console stays clean (CSP violations would show there); and axe-core finds no
serious or critical issue, and nothing overflows at 375 px, on every page, in Chinese and
English (:func:`test_every_page_passes_axe_and_fits_a_phone`).

Chromium is the system one (see tests/support/browser.py); without it this test fails, it
does not skip.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import update

from tests.support.accounts import PHONE, latest_code
from tests.support.browser import (
    PHONE_VIEWPORT,
    Console,
    chromium,
    no_horizontal_overflow,
    phone_page,
    serious_accessibility_violations,
)
from tests.support.server import LiveServer, live_server, wait_sequenced
from tests.support.tus import upload_whole
from timeseal.core.package.layout import item_id
from timeseal.store.db import DATABASE_URL_ENV, database_url, make_engine
from timeseal.store.shares import evidence_shares, token_hash

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

#: An 8x6 red PNG: a small real photo (the certificate embeds a thumbnail of it).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAGCAIAAABxZ0isAAAAFElEQVR4nGM8ISfHgA0wYRWlkwQAmxQBECiKgAAAAAAASUVORK5CYII="
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("web-app-browser") / "data") as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def session_headers(context: BrowserContext) -> dict[str, str]:
    """The browser's session for API calls: its cookies and, for the unsafe methods, the
    CSRF token from the readable ``ts_csrf`` cookie."""
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    return {
        "Cookie": f"ts_session={cookies['ts_session']}; ts_csrf={cookies['ts_csrf']}",
        "X-CSRF-Token": cookies["ts_csrf"],
    }


def upload_photo(server: LiveServer, headers: dict[str, str], title: str) -> str:
    """tus upload of :data:`PNG` as a photo; its evidence number."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        answer = upload_whole(
            client,
            headers,
            PNG,
            filename="photo.png",
            kind="photo",
            title=title,
            filetype="image/png",
            sha256=hashlib.sha256(PNG).hexdigest(),
        )
    number: str = answer["timeseal-evidence-number"]
    return number


def log_in_on_the_page(page: Page, server: LiveServer, phone: str) -> None:
    """From the login page: number, code from the dev SMS file, and in."""
    page.get_by_role("textbox", name="手机号", exact=True).fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    page.locator("#code-sent").wait_for()
    page.get_by_role("textbox", name="短信验证码").fill(
        latest_code(server.data_dir / "sms-outbox.log", phone)
    )
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{server.url}/evidence")


def test_log_in_upload_see_it_sealed_and_download_the_certificate(
    server: LiveServer, browser: Browser
) -> None:
    with phone_page(browser) as (context, page, console):
        page.goto(f"{server.url}/evidence")
        assert page.url == f"{server.url}/login?next=%2Fevidence"  # anonymous: to the login
        assert no_horizontal_overflow(page)
        log_in_on_the_page(page, server, PHONE)
        assert "您还没有证据" in page.locator("main").inner_text()

        number = upload_photo(server, session_headers(context), "店铺门头照片")
        wait_sequenced(server, number)
        page.reload()
        item = page.locator("#evidence-items li").first
        assert number in item.inner_text() and "拍照" in item.inner_text()
        assert "北京时间" in item.inner_text()
        assert no_horizontal_overflow(page)
        page.screenshot(path=str(server.data_dir.parent / "evidence-list-375.png"))

        item.get_by_role("link", name="店铺门头照片").click()
        page.wait_for_url(f"{server.url}/evidence/{number}")
        preview = page.locator("#preview")
        page.wait_for_function(
            "() => document.getElementById('preview').complete"
            " && document.getElementById('preview').naturalWidth === 8"
        )
        assert preview.get_attribute("alt")
        main = page.locator("main").inner_text()
        assert hashlib.sha256(PNG).hexdigest() in main and "保管记录" in main
        assert no_horizontal_overflow(page)

        with page.expect_download() as started:
            page.locator("#download-certificate").click()
        pdf = started.value.path().read_bytes()
        assert pdf.startswith(b"%PDF-")
        # The check symbol in the form a file name takes everywhere (the package's own paths).
        assert started.value.suggested_filename == f"{item_id(number)}-certificate.pdf"
        assert console.errors == []


#: One number per language: a number gets one SMS code a minute.
AXE_PHONES = {"zh-CN": "+8613600001111", "en": "+8613600002222"}
#: A well-formed evidence number that no record has.
UNKNOWN_NUMBER = "TS-20261129-7Q4K-M2X1"  # well formed, its check right, sealed by no one


def checked(page: Page, where: str) -> None:
    """axe-core finds no serious or critical violation, and nothing overflows sideways (the
    contexts are 375 px wide)."""
    assert serious_accessibility_violations(page) == [], where
    assert no_horizontal_overflow(page), where


def submit(page: Page, form: str) -> int:
    """Click the form's submit button; the status of the page it leads to."""
    with page.expect_navigation() as navigation:
        page.locator(f"{form} button[type=submit]").click()
    response = navigation.value
    assert response is not None
    return response.status


def created_link(page: Page, form: str = "#share-form") -> str:
    assert submit(page, form) == 201
    return page.locator("#share-url").input_value()


def expire(server: LiveServer, link: str) -> None:
    """Set the link's expiry a second into the past, in the server's database."""
    token = link.rsplit("/", 1)[1]
    engine = make_engine(database_url(server.data_dir, os.environ.get(DATABASE_URL_ENV)))
    try:
        with engine.begin() as conn:
            done = conn.execute(
                update(evidence_shares)
                .where(evidence_shares.c.token_hash == token_hash(token))
                .values(expires_at_ms=int(time.time() * 1000) - 1000)
            )
        assert done.rowcount == 1
    finally:
        engine.dispose()


def tab_reaches(page: Page, ids: set[str], presses: int = 80) -> set[str]:
    """The ids among ``ids`` that the Tab key reaches from the top of the page."""
    reached = set()
    for _ in range(presses):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id"))
    return ids & reached


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_page_passes_axe_and_fits_a_phone(
    server: LiveServer, browser: Browser, lang: str
) -> None:
    """Every page, in each language, as a person reaches it: the landing page, verify, both
    login steps, the evidence list and an item, the account, the cases and a case (empty, with
    an item, with a refused form), the share link pages (a case, an item behind an access
    code: the code form, a wrong code's 403, the item), and the error pages (404 for the owner
    and for a link, 410 for an expired link, 403 for a form without its CSRF token). The
    contexts bypass the pages' CSP only to inject axe."""
    phone = AXE_PHONES[lang]
    owner = browser.new_context(locale=lang, bypass_csp=True, viewport=PHONE_VIEWPORT)
    visitor = browser.new_context(locale=lang, bypass_csp=True, viewport=PHONE_VIEWPORT)
    try:
        page = owner.new_page()
        page.goto(server.url)
        page.screenshot(path=str(server.data_dir.parent / f"home-{lang}-375.png"), full_page=True)
        for path in ("/", "/verify", "/login"):
            page.goto(f"{server.url}{path}")
            checked(page, path)
        page.locator("#phone").fill(phone)
        assert submit(page, "form[action='/login/code']") == 200
        checked(page, "login, the code step")
        page.locator("#code").fill(latest_code(server.data_dir / "sms-outbox.log", phone))
        submit(page, "form[action='/login']")
        assert page.url == f"{server.url}/evidence"
        number = upload_photo(server, session_headers(owner), "receipt 收据")
        wait_sequenced(server, number)
        for path in ("/", "/verify", "/evidence", "/evidence?q=receipt", f"/evidence/{number}"):
            page.goto(f"{server.url}{path}")
            checked(page, path)
        for path in ("/account", "/cases"):
            page.goto(f"{server.url}{path}")
            checked(page, path)

        # A case: opened on the list, an item added on its page, a refused form.
        page.locator("#case-title").fill("商家拒绝退款 refund refused")
        page.locator("#case-description").fill("快递面单泄露了我的地址。\nMy address leaked.")
        assert submit(page, "#case-form") == 200
        case_url = page.url
        assert re.fullmatch(rf"{re.escape(server.url)}/cases/\d+", case_url)
        checked(page, "an empty case")
        page.locator("#add-number").fill(number)
        page.locator("#add-note").fill("the receipt 收据")
        submit(page, "#add-item-form")
        assert number in page.locator("#items").inner_text()
        checked(page, "a case with an item")
        page.screenshot(path=str(server.data_dir.parent / f"case-{lang}-375.png"), full_page=True)
        assert tab_reaches(
            page, {"add-number", "add-note", "edit-title", "share-days", "download-package"}
        ) == {"add-number", "add-note", "edit-title", "share-days", "download-package"}
        page.locator("#add-number").fill(UNKNOWN_NUMBER)
        page.locator("#add-note").fill("kept 保留")
        assert submit(page, "#add-item-form") == 422
        assert page.locator("#add-note").input_value() == "kept 保留"
        checked(page, "a refused add form")
        case_id = case_url.rsplit("/", 1)[1]
        for path in ("/cases", f"/evidence?case={case_id}"):
            page.goto(f"{server.url}{path}")
            checked(page, path)

        # Share links: the case's, an item's with an access code, one to expire.
        page.goto(case_url)
        case_link = created_link(page)
        checked(page, "a case link created")
        page.goto(f"{server.url}/evidence/{number}")
        page.locator("#share-code").fill("246810")
        coded_link = created_link(page)
        page.goto(f"{server.url}/evidence/{number}")
        expiring_link = created_link(page)

        # Error pages the owner may meet.
        for path in ("/cases/999999", f"/evidence/{UNKNOWN_NUMBER}"):
            response = page.goto(f"{server.url}{path}")
            assert response is not None and response.status == 404, path
            checked(page, path)
        page.goto(f"{server.url}/cases")
        page.evaluate("document.querySelector('#case-form [name=csrf_token]').remove()")
        page.locator("#case-title").fill("no token")
        assert submit(page, "#case-form") == 403
        checked(page, "the CSRF failure page")

        # What someone holding a link sees.
        shared = visitor.new_page()
        for link in (case_link, coded_link):
            response = shared.goto(link)
            assert response is not None and response.status == 200
            checked(shared, link)
        shared.locator("#access-code").fill("000000")
        assert submit(shared, f"form[action='/s/{coded_link.rsplit('/', 1)[1]}']") == 403
        checked(shared, "a wrong access code")
        shared.locator("#access-code").fill("246810")
        submit(shared, f"form[action='/s/{coded_link.rsplit('/', 1)[1]}']")
        assert number in shared.locator("main").inner_text()
        checked(shared, "an item behind an access code")
        response = shared.goto(f"{server.url}/s/{'A' * 43}")
        assert response is not None and response.status == 404
        checked(shared, "an unknown link")
        expire(server, expiring_link)
        response = shared.goto(expiring_link)
        assert response is not None and response.status == 410
        checked(shared, "an expired link")
    finally:
        visitor.close()
        owner.close()


#: A third number: the other tests' numbers may still be inside their one-code-a-minute limit.
SHARER_PHONE = "+8613700001234"


def test_share_link_from_the_detail_page_opens_in_a_fresh_browser(
    server: LiveServer, browser: Browser
) -> None:
    """The owner creates a link on the detail page (the account page and the link pass axe);
    a fresh context, with the pages' CSP in force, sees the preview and downloads the
    package."""
    owner = browser.new_context(locale="zh-CN", bypass_csp=True)
    visitor = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 800})
    try:
        page = owner.new_page()
        page.goto(f"{server.url}/login")
        log_in_on_the_page(page, server, SHARER_PHONE)
        page.goto(f"{server.url}/account")
        assert "当前浏览器" in page.locator("#sessions").inner_text()
        assert serious_accessibility_violations(page) == []

        number = upload_photo(server, session_headers(owner), "分享的照片")
        wait_sequenced(server, number)
        page.goto(f"{server.url}/evidence/{number}")
        page.get_by_label("有效期（天，1–365）").fill("3")
        page.get_by_label("备注（分享给谁）").fill("客服")
        page.get_by_role("button", name="创建分享链接").click()
        link = page.locator("#share-url").input_value()
        assert f"{server.url}/s/" in link
        assert serious_accessibility_violations(page) == []

        console = Console()
        shared = visitor.new_page()
        console.watch(shared)
        shared.goto(link)
        assert number in shared.locator("main").inner_text()
        shared.wait_for_function(
            "() => document.getElementById('preview').complete"
            " && document.getElementById('preview').naturalWidth === 8"
        )
        assert no_horizontal_overflow(shared)
        with shared.expect_download() as started:
            shared.locator("#download-package").click()
        assert started.value.suggested_filename == f"{item_id(number)}.zip"
        assert started.value.path().read_bytes().startswith(b"PK")
        assert console.errors == []

        page.goto(link)  # axe on the public page (the owner's context lets axe in)
        assert serious_accessibility_violations(page) == []
    finally:
        visitor.close()
        owner.close()
