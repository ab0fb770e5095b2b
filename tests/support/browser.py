"""Browser tests: the system Chromium driven by Playwright, a recording reverse proxy, the
console watcher and axe-core. For the verify page now and the web app's pages later.

Chromium is the system one (``make test`` installs the ``chromium`` package); Playwright's own
browser download is never used. Without Chromium a browser test fails, it does not skip.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    ViewportSize,
    sync_playwright,
)

CHROMIUM_ENV = "TIMESEAL_CHROMIUM"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(f"Chromium not found (set {CHROMIUM_ENV} or install the chromium package)")
    return path


AXE = Path(__file__).resolve().parents[1] / "fixtures" / "axe-core" / "axe.min.js"


#: A fake camera and microphone (a test pattern and a beep) that the page may use without a
#: prompt: for the capture page's recordings and photos.
FAKE_MEDIA_ARGS = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


@contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """Headless system Chromium, with ``extra_args`` (e.g. :data:`FAKE_MEDIA_ARGS`)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=[*CHROMIUM_ARGS, *extra_args], headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


class RecordingProxy:
    """A reverse proxy in front of the server that keeps every request's bytes as they went
    over the wire. (Playwright's request events leave out multipart bodies with file parts,
    so they could not show that a file was *not* sent.)"""

    def __init__(self, upstream: str) -> None:
        self.requests: list[tuple[str, str, bytes]] = []  # method, path, body
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, body))
                skip = {"host", "connection", "content-length", "transfer-encoding"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                reply = httpx.request(
                    self.command, upstream + self.path, headers=headers, content=body, timeout=60
                )
                self.send_response(reply.status_code)
                for key, value in reply.headers.multi_items():
                    if key.lower() not in skip | {"content-encoding"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.content)

            do_GET = do_POST = do_HEAD = _forward  # noqa: N815 - http.server names

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies_to(self, path: str) -> list[bytes]:
        with self._lock:
            return [body for _, p, body in self.requests if p.split("?")[0] == path]

    def assert_never_sent(self, data: bytes) -> None:
        """Neither the file nor any 64-byte piece of it (start, middle, end) is in any request
        body or URL that reached the server."""
        pieces = [data[:64], data[len(data) // 2 : len(data) // 2 + 64], data[-64:]]
        with self._lock:
            seen = list(self.requests)
        assert seen
        for method, path, body in seen:
            for piece in pieces:
                assert piece not in body, f"file bytes in {method} {path}"
                assert piece.hex() not in path and piece not in path.encode()


@dataclass
class Console:
    """Console errors (CSP violations show up here) and failed loads of the page."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def on_response(self, response: Response) -> None:
        if response.status >= 400 and response.request.method == "GET":
            self.errors.append(f"{response.status} {response.url}")

    def watch(self, page: Page) -> None:
        """Collect ``page``'s console errors and failed loads from now on."""
        page.on("console", self.on_console)
        page.on("response", self.on_response)


#: A phone's screen: the pages must fit 375 px without scrolling sideways.
PHONE_VIEWPORT: ViewportSize = {"width": 375, "height": 800}


@contextmanager
def phone_page(browser: Browser) -> Iterator[tuple[BrowserContext, Page, Console]]:
    """A new context in Chinese at :data:`PHONE_VIEWPORT`, a page in it, and the
    :class:`Console` that watches the page; the context is closed afterwards."""
    context = browser.new_context(locale="zh-CN", viewport=PHONE_VIEWPORT)
    console = Console()
    page = context.new_page()
    console.watch(page)
    try:
        yield context, page, console
    finally:
        context.close()


def no_horizontal_overflow(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def serious_accessibility_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on ``page`` (``id: targets``). The page's
    context must have been made with ``bypass_csp=True``, or the CSP keeps axe out."""
    page.add_script_tag(path=AXE)
    found: list[str] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return found
