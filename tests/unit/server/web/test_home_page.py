"""The landing page and the layout every page shares: ``/`` in both languages, for anonymous
and logged-in visitors, and ``/verify`` with the same navigation as the account's pages."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from tests.unit.server.web.test_web_app import browser_log_in, web  # noqa: F401 - fixture


def test_landing_page_explains_in_chinese_by_default(web: TestClient) -> None:  # noqa: F811
    page = web.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<html lang="zh-CN">' in page.text
    for text in (
        "可信时间戳能证明什么",
        "它不能证明什么",
        "如何取证更有力",
        "与商家协商",
        "12315",
        "消费者协会",
        "仲裁",
        "向法院起诉",
        "包括我们自己",
    ):
        assert text in page.text, text
    for link in ('href="/login"', 'href="/capture"', 'href="/verify"'):
        assert link in page.text, link
    assert "<script" not in page.text and "style=" not in page.text
    steps = page.text.split('id="dispute-steps"', 1)[1].split("</ol>", 1)[0]
    assert steps.count("<li>") == 4
    assert steps.index("协商") < steps.index("12315") < steps.index("仲裁") < steps.index("法院")


def test_landing_page_in_english(web: TestClient) -> None:  # noqa: F811
    page = web.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert page.status_code == 200 and '<html lang="en">' in page.text
    for text in (
        "What a trusted timestamp proves",
        "What it does NOT prove",
        "Nobody, not even us, can backdate or delete the record",
        "That the content is true",
        "Complain to 12315 or the consumer association.",
    ):
        assert text in page.text, text
    assert "可信时间戳" not in page.text
    # The one Chinese name in the English text is marked as Chinese for screen readers.
    assert 'the consumer association (<span lang="zh-CN">消费者协会</span>)' in page.text


def test_logged_in_visitors_see_their_navigation_on_public_pages(
    web: TestClient,  # noqa: F811
    data_dir: Path,
) -> None:
    anonymous = web.get("/verify").text
    assert 'class="brand" href="/"' in anonymous
    assert 'href="/login"' in anonymous and 'action="/logout"' not in anonymous
    browser_log_in(web, data_dir)
    for path in ("/", "/verify", "/verify?number=TS-20261129-7Q4K-M2XD"):
        page = web.get(path).text
        assert 'href="/cases"' in page and 'href="/evidence"' in page, path
        logout = re.search(r'action="/logout".*?name="csrf_token" value="([^"]+)"', page, re.S)
        assert logout and logout.group(1) == web.cookies["ts_csrf"], path
    assert 'href="/login"' not in web.get("/").text.split("<main", 1)[1]
