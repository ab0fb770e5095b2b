"""The capture page through a network outage, in real headless Chromium against a real
``timeseal serve`` (Chromium's fake camera; Playwright's ``page.route`` cuts the chunk PUTs):

1. during the outage the page keeps at most 4 chunks in memory and writes every unsent one
   to IndexedDB; only the oldest chunk is tried again and again (nothing skipped ahead); when
   the network is back the backlog drains strictly in order, IndexedDB is emptied, and the
   finished recording has every chunk exactly once;
2. a tab closed during the outage leaves its unsent chunks in IndexedDB, with no gap after
   what the server has; the next capture page sends them, in order, and the server seals the
   recording through the last of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, Route

from tests.e2e.test_browser_capture import (  # noqa: F401 - the module's fixtures
    HTTP_TIMEOUT,
    browser,
    capture_context,
    counter,
    linked_number,
    logged_in,
    open_capture,
    server,
    wait_chunks,
)
from tests.e2e.test_web_app_browser import session_headers
from tests.support.server import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

#: Every [recording id, chunk number] key in the page's IndexedDB (the capture page must
#: have opened the database already: opening it here first would create it without a store).
IDB_KEYS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("timeseal-capture");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains("chunks")) { db.close(); resolve([]); return; }
    const keys = db.transaction("chunks").objectStore("chunks").getAllKeys();
    keys.onsuccess = () => { db.close(); resolve(keys.result); };
    keys.onerror = () => reject(keys.error);
  };
})"""


def stored(page: Page, recording_id: str) -> list[int]:
    keys: list[list[Any]] = page.evaluate(IDB_KEYS)
    return sorted(int(index) for rid, index in keys if rid == recording_id)


def queue_state(page: Page) -> dict[str, int]:
    """The queue as the page shows it on #recording-progress (data-queued, data-in-memory,
    data-spilled, data-memory-peak)."""
    data: dict[str, str] = page.locator("#recording-progress").evaluate("e => ({...e.dataset})")
    return {key: int(value) for key, value in data.items()}


def wait_queue(page: Page, condition: str, timeout_s: float) -> None:
    """Until ``condition`` (JavaScript over ``q``, the progress element's dataset) holds."""
    page.wait_for_function(
        f"() => {{ const q = document.getElementById('recording-progress').dataset; "
        f"return {condition}; }}",
        timeout=timeout_s * 1000,
    )


class Outage:
    """Cuts the chunk PUTs while ``on``; records which chunks were tried and refused, and
    which the server accepted."""

    def __init__(self) -> None:
        self.on = False
        self.refused: list[int] = []
        self.accepted: list[int] = []

    def route(self, route: Route) -> None:
        if self.on:
            self.refused.append(chunk_index(route.request.url))
            route.abort("internetdisconnected")
            return
        route.continue_()

    def on_response(self, response: Response) -> None:
        if "/chunks/" in response.url and response.request.method == "PUT" and response.ok:
            self.accepted.append(chunk_index(response.url))


def chunk_index(url: str) -> int:
    return int(url.rsplit("/", 1)[1])


def start_recording(page: Page) -> str:
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/recordings") and r.request.method == "POST"
    ) as created:
        page.get_by_role("button", name="用摄像头录像").click()
    recording_id: str = created.value.json()["id"]
    return recording_id


def poll(check: Callable[[], bool], what: str, timeout_s: float = 90) -> None:
    """Until ``check()`` holds; the server and the page get ``timeout_s`` on a busy machine."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.5)


def test_an_outage_spills_to_indexeddb_and_drains_in_order(
    server: LiveServer,  # noqa: F811
    browser: Browser,  # noqa: F811
    logged_in: Path,  # noqa: F811
) -> None:
    context = capture_context(browser, logged_in)
    headers = session_headers(context)
    page = context.new_page()
    outage = Outage()
    page.on("response", outage.on_response)
    try:
        page.route("**/api/v1/recordings/*/chunks/*", outage.route)
        open_capture(page, server)
        recording_id = start_recording(page)
        wait_chunks(page, 1)
        outage.on = True
        # Six chunks waiting (12 s of video): more than memory may hold.
        wait_queue(page, "Number(q.spilled) >= 6", 90)
        during = queue_state(page)
        sent = counter(page, "chunks-sent")
        on_disk = stored(page, recording_id)
        assert during["inMemory"] <= 4 and during["memoryPeak"] <= 4, during
        assert during["queued"] >= 6
        # Every unsent chunk is on the device, from the first the server lacks, no gap.
        assert on_disk[: during["spilled"]] == list(range(sent, sent + during["spilled"]))
        assert set(outage.refused) == {sent}  # only the oldest is tried; nothing skipped ahead

        outage.on = False
        backlog_end = sent + during["queued"]
        wait_queue(page, "Number(q.queued) === 0", 120)
        assert counter(page, "chunks-sent") >= backlog_end
        poll(lambda: stored(page, recording_id) == [], "IndexedDB was not emptied", 30)
        assert queue_state(page)["memoryPeak"] <= 4

        page.get_by_role("button", name="停止并固化").click()
        link = page.locator("#recording-link")
        link.wait_for(timeout=90_000)
        chunks = counter(page, "chunks-sent")
        number = linked_number(link)
        assert stored(page, recording_id) == []
    finally:
        context.close()
    assert outage.accepted == list(range(chunks))  # each once, strictly in order
    detail = httpx.get(
        f"{server.url}/api/v1/evidence/{number}", headers=headers, timeout=HTTP_TIMEOUT
    )
    assert detail.json()["capture"]["chunks"] == chunks


def test_a_tab_closed_during_an_outage_leaves_its_chunks_for_the_next_page(
    server: LiveServer,  # noqa: F811
    browser: Browser,  # noqa: F811
    logged_in: Path,  # noqa: F811
) -> None:
    context = capture_context(browser, logged_in)
    headers = session_headers(context)
    status_url = f"{server.url}/api/v1/recordings/"
    try:
        page = context.new_page()
        outage = Outage()
        page.route("**/api/v1/recordings/*/chunks/*", outage.route)
        open_capture(page, server)
        recording_id = start_recording(page)
        wait_chunks(page, 1)
        outage.on = True
        wait_queue(page, "Number(q.spilled) >= 3", 90)
        page.close()  # no Stop: the phone's browser was closed while offline

        with httpx.Client(headers=headers, timeout=HTTP_TIMEOUT) as client:
            before = client.get(status_url + recording_id).json()
        assert before["state"] == "recording"
        # Another page of the site (not the capture page, which would send them at once).
        other = context.new_page()
        other.goto(f"{server.url}/verify")
        left = stored(other, recording_id)
        assert len(left) >= 3
        assert left == list(range(before["chunks"], before["chunks"] + len(left)))

        open_capture(other, server)  # the next capture page: the network is back
        with httpx.Client(headers=headers, timeout=HTTP_TIMEOUT) as client:
            poll(
                lambda: client.get(status_url + recording_id).json()["chunks"] == left[-1] + 1,
                "the leftover chunks were not sent",
            )
            after = client.get(status_url + recording_id).json()
        assert after["state"] == "recording"
        assert after["sealed_through"] == left[-1]
        poll(lambda: stored(other, recording_id) == [], "IndexedDB was not emptied", 30)
    finally:
        context.close()
