"""Navigations of every page's main frame, with their redirect chains, into the operation log.

Playwright's ``framenavigated`` says where a frame ended up; the request that led there says
how (``redirected_from`` links each hop). Both are read from event data only, so the handlers
make no calls back into the browser while it is busy navigating.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from playwright.sync_api import BrowserContext, Frame, Page, Request

from timeseal.capture.web.oplog import OperationLog
from timeseal.core.package.canonical import JSONValue


@dataclass
class NavigationTracker:
    """Also remembers what the WACZ pages list and ``capture.json`` need."""

    oplog: OperationLog
    source: str  # "script" or "person"
    pages: list[tuple[str, str]] = field(default_factory=list)  # (url, title) in order
    final_url: str = ""
    last_page: Page | None = None
    loads: int = 0  # main-frame load events so far (interactive mode screenshots on change)
    _pending: dict[int, Request] = field(default_factory=dict)

    def attach(self, context: BrowserContext) -> None:
        for page in context.pages:
            self._watch(page)
        context.on("page", self._watch)

    def _watch(self, page: Page) -> None:
        page.on("request", lambda request: self._on_request(page, request))
        page.on("framenavigated", lambda frame: self._on_navigated(page, frame))
        page.on("load", lambda _: self._on_load(page))

    def _on_request(self, page: Page, request: Request) -> None:
        if request.is_navigation_request() and request.frame is page.main_frame:
            self._pending[id(page)] = request

    def _on_navigated(self, page: Page, frame: Frame) -> None:
        if frame is not page.main_frame or frame.url in ("", "about:blank"):
            return
        chain: list[JSONValue] = []
        request = self._pending.pop(id(page), None)
        if request is not None and request.url == frame.url:
            hop = request.redirected_from
            while hop is not None:
                chain.insert(0, hop.url)
                hop = hop.redirected_from
        self.oplog.record(
            "navigation", {"url": frame.url, "redirected_from": chain, "source": self.source}
        )
        self.final_url = frame.url
        self.last_page = page

    def _on_load(self, page: Page) -> None:
        self.loads += 1
        self.last_page = page
        self.pages.append((page.url, ""))
