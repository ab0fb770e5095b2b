"""The PDF of the final page.

Scripted (headless) mode prints the live page (``page.pdf``). Interactive mode cannot: Chromium
prints only headless, and when the person closes the window the page is gone. There the PDF is
a **headless re-render** of the last DOM snapshot, made offline: a new headless browser, page
scripts off (the snapshot already is the result of them), the snapshot served at the final
URL, every subresource (CSS, images, fonts) served only from the capture's own recorded
exchanges (``route_from_har``, anything not recorded is aborted). So the PDF shows what the
capture recorded, never a second visit to the site. ``capture.json`` names the method used.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, Playwright, Route

from timeseal.capture.web.launch import CHROMIUM_ARGS, VIEWPORT, chromium_executable

LIVE = "page.pdf of the live headless page"
RERENDER = "headless re-render of the last DOM snapshot, scripts off, from the recorded exchanges"


def print_live(page: Page, out: Path) -> None:
    page.pdf(path=out, print_background=True, format="A4")


def print_rerender(p: Playwright, har_zip: Path, url: str, html: str, out: Path) -> None:
    browser = p.chromium.launch(
        executable_path=chromium_executable(), args=list(CHROMIUM_ARGS), headless=True
    )
    try:
        context = browser.new_context(java_script_enabled=False, viewport=VIEWPORT)
        context.route_from_har(har_zip, not_found="abort")
        page = context.new_page()

        def serve_snapshot(route: Route) -> None:
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

        page.route(lambda candidate: candidate == url, serve_snapshot)
        page.goto(url, wait_until="load")
        page.pdf(path=out, print_background=True, format="A4")
        context.close()
    finally:
        browser.close()
