"""Interactive mode: a visible Chromium the person drives; the capture ends when they close
the window or press Ctrl-C.

Navigations come from Playwright's events (:mod:`.navigation`), clicks, typing kinds and
scrolls from the page recorder (:mod:`.recorder`). While the session runs, this loop keeps a
snapshot of the active page's DOM and takes a full-page screenshot whenever a new page has
loaded: when the person closes the window, the page is gone, and the last snapshot is what
``page.html`` (and the PDF) are made from.

``driver`` is the automation hook: a function called with the first page once it has loaded;
when it returns, the session ends as if the person had pressed Ctrl-C. Tests use it to act as
the person; the CLI never passes one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from timeseal.capture.web.navigation import NavigationTracker
from timeseal.capture.web.shots import Screenshots

POLL_MS = 300

Driver = Callable[[Page], None]


@dataclass
class Snapshot:
    url: str = ""
    html: str = ""


def run_interactive(
    context: BrowserContext,
    page: Page,
    url: str,
    tracker: NavigationTracker,
    shots: Screenshots,
    driver: Driver | None,
) -> tuple[str, Snapshot]:
    """(how the session ended: "window-closed" | "interrupt" | "driver", last snapshot)."""
    snapshot = Snapshot()
    closed = False

    def on_close(_: object) -> None:
        nonlocal closed
        closed = True

    context.on("close", on_close)
    page.goto(url, wait_until="load")
    shot_loads = 0
    ended_by = "window-closed"
    try:
        if driver is not None:
            driver(page)
            ended_by = "driver"
        else:
            while not closed and context.pages:
                shot_loads = _refresh(tracker, shots, snapshot, shot_loads)
                try:
                    context.wait_for_event("close", timeout=POLL_MS)
                    closed = True
                except PlaywrightTimeoutError:
                    pass
    except KeyboardInterrupt:
        ended_by = "interrupt"
    except PlaywrightError:
        # The browser went away under us (the person quit it): same as closing the window.
        ended_by = "window-closed"
    if ended_by != "window-closed":
        # The page is still open: the final state is taken from it, not from a snapshot.
        _refresh(tracker, shots, snapshot, shot_loads, final=True)
    return ended_by, snapshot


def _refresh(
    tracker: NavigationTracker,
    shots: Screenshots,
    snapshot: Snapshot,
    shot_loads: int,
    *,
    final: bool = False,
) -> int:
    page = tracker.last_page
    if page is None or page.is_closed():
        return shot_loads
    try:
        snapshot.html = page.content()
        snapshot.url = page.url
        if final:
            shots.take(page, "final", source="person")
        elif tracker.loads != shot_loads:
            shots.take(page, "page", source="person")
            return tracker.loads
    except PlaywrightError:
        pass  # navigating or closing at this very moment: the next round catches up
    return shot_loads
