"""The capture page in real headless Chromium (Playwright) against a real ``timeseal serve``,
with Chromium's fake camera and microphone (a test pattern and a beep, no prompt):

1. ten seconds of camera video recorded on /capture and stopped: every chunk was sent and
   sealed as it came, the item is sealed, its page shows it, its package verifies with
   ``timeseal verify``;
2. a second recording whose tab is closed without stopping: the server has it sealed
   through its last received chunk, and its ``chain.zip`` verifies as cut off there;
3. a photo from the page's file picker and a still from the camera: sealed, certificate
   opens, package verifies;
4. the page passes axe (no serious or critical violations) in Chinese and English and does
   not overflow sideways at 375 px.

Chromium is the system one (tests/support/browser.py); without it these tests fail.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    FilePayload,
    Geolocation,
    Locator,
    Page,
    Route,
)

from tests.e2e.test_web_app_browser import log_in_on_the_page, session_headers
from tests.support.accounts import PHONE
from tests.support.browser import (
    FAKE_MEDIA_ARGS,
    PHONE_VIEWPORT,
    Console,
    chromium,
    no_horizontal_overflow,
    serious_accessibility_violations,
)
from tests.support.server import TIMESEAL, LiveServer, live_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

#: An 8x6 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAGCAIAAABxZ0isAAAAFElEQVR4nGM8ISfHgA0wYRWlkwQAmxQBECiKgAAAAAAASUVORK5CYII="
)
#: Where the fake phone says it is (the People's Square, Shanghai).
GEOLOCATION = Geolocation(latitude=31.2304, longitude=121.4737, accuracy=25)
DEVICES = ["camera", "microphone", "geolocation"]
#: The machine may be busy (several suites at once): API calls and sequencing get time.
HTTP_TIMEOUT = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("browser-capture") / "data") as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(*FAKE_MEDIA_ARGS) as launched:
        yield launched


@pytest.fixture(scope="module")
def logged_in(
    server: LiveServer, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The session of one login (one SMS code a minute per number), for every test's
    contexts."""
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{server.url}/login")
        log_in_on_the_page(page, server, PHONE)
        state = tmp_path_factory.mktemp("capture-session") / "state.json"
        context.storage_state(path=str(state))
        return state
    finally:
        context.close()


def capture_context(browser: Browser, state: Path, **options: Any) -> BrowserContext:
    """A phone-sized logged-in context that may use the (fake) camera and its location."""
    context = browser.new_context(
        storage_state=str(state),
        locale="zh-CN",
        viewport=PHONE_VIEWPORT,
        permissions=DEVICES,
        geolocation=GEOLOCATION,
        **options,
    )
    context.set_default_timeout(HTTP_TIMEOUT * 1000)
    return context


def open_capture(page: Page, server: LiveServer, query: str = "") -> None:
    """/capture with its environment report measured (the clock offset needs a round trip)."""
    page.goto(f"{server.url}/capture{query}")
    page.wait_for_function("() => document.getElementById('env-clock').textContent !== '…'")


def new_case(server: LiveServer, headers: dict[str, str], title: str) -> int:
    reply = httpx.post(
        f"{server.url}/api/v1/cases", json={"title": title}, headers=headers, timeout=HTTP_TIMEOUT
    )
    assert reply.status_code == 201, reply.text
    case_id: int = reply.json()["id"]
    return case_id


def case_numbers(server: LiveServer, headers: dict[str, str], case_id: int) -> list[str]:
    case = httpx.get(
        f"{server.url}/api/v1/cases/{case_id}", headers=headers, timeout=HTTP_TIMEOUT
    ).json()
    return [item["number"] for item in case["items"]]


def linked_number(link: Locator) -> str:
    """The evidence number a result link points to (numbers may end in ``$``, which the page
    percent-encodes in the URL)."""
    href = link.get_attribute("href") or ""
    assert href.startswith("/evidence/"), href
    return unquote(href.removeprefix("/evidence/"))


def wait_for_evidence_page(page: Page, server: LiveServer, number: str) -> None:
    """Until the page shows the item's detail page. Compared decoded: the page's script
    encodes with ``encodeURIComponent``, which leaves ``*`` as it is where Python's
    ``quote`` writes ``%2A``."""
    expected = f"{server.url}/evidence/{number}"
    page.wait_for_url(lambda url: unquote(url) == expected)


def wait_sequenced(server: LiveServer, number: str) -> None:
    """Until the item is in the log (its package carries the inclusion proof)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        facts = httpx.get(f"{server.url}/api/v1/public/evidence/{number}", timeout=HTTP_TIMEOUT)
        if facts.json()["log"]["sequenced"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"{number} was not sequenced")


def counter(page: Page, element_id: str) -> int:
    return int(page.locator(f"#{element_id}").inner_text())


def wait_chunks(page: Page, at_least: int, timeout: float = 60) -> None:
    page.wait_for_function(
        f"() => Number(document.getElementById('chunks-sent').textContent) >= {at_least}",
        timeout=timeout * 1000,
    )


def verify(path: Path, server: LiveServer) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [*TIMESEAL, "verify", str(path), "--ca", str(server.root_pem), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def download_package(page: Page, server: LiveServer, number: str, into: Path) -> Path:
    """The package, downloaded from the item's page."""
    page.goto(f"{server.url}/evidence/{number}")
    with page.expect_download() as started:
        page.locator("#download-package").click()
    target = into / started.value.suggested_filename
    started.value.save_as(str(target))
    return target


def test_ten_seconds_of_camera_video_sealed_and_verified(
    server: LiveServer, browser: Browser, logged_in: Path, tmp_path: Path
) -> None:
    context = capture_context(browser, logged_in)
    console = Console()
    page = context.new_page()
    console.watch(page)
    case_id = new_case(server, session_headers(context), "客服删除聊天记录")
    try:
        open_capture(page, server)
        page.get_by_label("案件（可选）").select_option(label="客服删除聊天记录")
        assert "HeadlessChrome" in page.locator("#env-user-agent").inner_text()
        assert "毫秒" in page.locator("#env-clock").inner_text()
        page.get_by_label("附加我的位置").check()
        page.wait_for_function(
            "() => document.getElementById('location-status').textContent.includes('31.230400')"
        )
        page.get_by_label("标题（可选）").fill("客服聊天录像")

        page.get_by_role("button", name="用摄像头录像").click()
        wait_chunks(page, 1)
        started = time.monotonic()
        assert "北京时间" in page.locator("#last-seal").inner_text()
        page.wait_for_timeout(max(0.0, 10 - (time.monotonic() - started)) * 1000)
        page.get_by_role("button", name="停止并固化").click()
        link = page.locator("#recording-link")
        link.wait_for(timeout=90_000)
        sent = counter(page, "chunks-sent")
        assert sent >= 5  # a chunk every 2 s for 10 s, and the one Stop flushes
        assert counter(page, "chunks-sealed") == sent  # each was sealed as it arrived
        number = linked_number(link)
        assert number in link.inner_text()
        assert no_horizontal_overflow(page)

        detail = httpx.get(
            f"{server.url}/api/v1/evidence/{number}",
            headers=session_headers(context),
            timeout=HTTP_TIMEOUT,
        ).json()
        assert detail["kind"] == "video" and detail["title"] == "客服聊天录像"
        assert detail["media_type"].startswith("video/webm")
        capture = detail["capture"]
        assert capture["chunks"] == sent
        assert capture["location"] == {"lat": "31.230400", "lon": "121.473700", "accuracy_m": 25}
        environment = capture["browser_environment"]
        assert "HeadlessChrome" in environment["user_agent"]
        assert environment["timezone"] and environment["language"] == "zh-CN"
        # Same machine, same clock: the measured offset is the network's few milliseconds.
        assert isinstance(environment["clock_offset_ms"], int)
        assert abs(environment["clock_offset_ms"]) < 1000
        assert case_numbers(server, session_headers(context), case_id) == [number]

        wait_sequenced(server, number)
        link.click()
        wait_for_evidence_page(page, server, number)
        assert number in page.locator("main").inner_text()
        page.wait_for_function(
            "() => document.getElementById('preview').readyState >= 1"
            " && document.getElementById('preview').videoWidth > 0"
        )
        package = download_package(page, server, number, tmp_path)
        code, report = verify(package, server)
        assert code == 0, report
        assert console.errors == []
    finally:
        context.close()


def test_closing_the_tab_leaves_the_recording_sealed_through_its_last_chunk(
    server: LiveServer, browser: Browser, logged_in: Path, tmp_path: Path
) -> None:
    context = capture_context(browser, logged_in)
    headers = session_headers(context)
    page = context.new_page()
    try:
        open_capture(page, server)
        with page.expect_response(
            lambda r: r.url.endswith("/api/v1/recordings") and r.request.method == "POST"
        ) as created:
            page.get_by_role("button", name="用摄像头录像").click()
        recording_id = created.value.json()["id"]
        wait_chunks(page, 4)
        acknowledged = counter(page, "chunks-sent")
        page.close()  # no Stop, no finish: the tab is gone
    finally:
        context.close()

    # A chunk in flight when the tab closed may still land; then nothing more comes.
    status_url = f"{server.url}/api/v1/recordings/{recording_id}"
    with httpx.Client(headers=headers, timeout=HTTP_TIMEOUT) as client:
        status = client.get(status_url).json()
        deadline = time.monotonic() + 10
        while True:
            time.sleep(2)
            again = client.get(status_url).json()
            if again == status or time.monotonic() > deadline:
                break
            status = again
        assert status["state"] == "recording" and status["evidence"] is None
        chunks = status["chunks"]
        assert acknowledged <= chunks <= acknowledged + 1
        assert status["sealed_through"] == chunks - 1  # everything received is sealed
        assert status["last_token_time"] is not None

        reply = client.get(f"{status_url}/chain.zip")
        assert reply.status_code == 200, reply.text
    archive = tmp_path / "chain.zip"
    archive.write_bytes(reply.content)
    directory = tmp_path / "chain"
    with zipfile.ZipFile(archive) as z:
        z.extractall(directory)
    assert not (directory / "recording.webm").exists()
    assert len(list((directory / "segments").glob("seg_*.webm"))) == chunks

    code, report = verify(directory, server)
    assert code == 3, report  # incomplete: the tab was closed part-way
    assert report["valid"] and not report["finished"] and report["verdict"] == "incomplete"
    assert report["sealed_through"] == chunks - 1
    stop = next(s for s in report["sections"] if s["subject"] == "stop")
    assert stop["checks"][0]["detail"].startswith(f"cut off: sealed through segment {chunks - 1}")
    code, zipped = verify(archive, server)  # the ZIP as downloaded, too
    assert code == 3 and zipped["sealed_through"] == chunks - 1 and not zipped["finished"]
    # The sealed chunks, joined, are a playable video: what the phone recorded until the end.
    joined = tmp_path / "joined.webm"
    joined.write_bytes(
        b"".join((directory / "segments" / f"seg_{i:06d}.webm").read_bytes() for i in range(chunks))
    )
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
         str(joined)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "video" in probe.split()


def test_a_lost_chunk_is_retried_in_order_and_nothing_is_skipped(
    server: LiveServer, browser: Browser, logged_in: Path
) -> None:
    """Chunk 1's first PUT never reaches the server (connection reset) and its second gets a
    503: the page waits, sends chunk 1 again, and only then chunk 2; the finished recording
    has every chunk."""
    context = capture_context(browser, logged_in)
    headers = session_headers(context)
    page = context.new_page()
    sent: list[int] = []
    failures = {1: ["abort", "503"]}

    def chunk_route(route: Route) -> None:
        index = int(route.request.url.rsplit("/", 1)[1])
        sent.append(index)
        planned = failures.get(index)
        if planned:
            if planned.pop(0) == "abort":
                route.abort("connectionreset")
            else:
                route.fulfill(status=503, json={"error": {"code": "x", "message": "busy"}})
            return
        route.continue_()

    try:
        page.route("**/api/v1/recordings/*/chunks/*", chunk_route)
        open_capture(page, server)
        page.get_by_role("button", name="用摄像头录像").click()
        page.wait_for_function(
            "() => document.getElementById('recording-status').textContent.includes('重试')"
        )
        wait_chunks(page, 4)
        page.get_by_role("button", name="停止并固化").click()
        page.locator("#recording-link").wait_for(timeout=90_000)
        chunks = counter(page, "chunks-sent")
        number = linked_number(page.locator("#recording-link"))
    finally:
        context.close()
    assert sent[:4] == [0, 1, 1, 1]  # retried, never skipped ahead
    assert sent == sorted(sent) and sorted(set(sent)) == list(range(chunks))
    detail = httpx.get(
        f"{server.url}/api/v1/evidence/{number}", headers=headers, timeout=HTTP_TIMEOUT
    )
    assert detail.json()["capture"]["chunks"] == chunks


def test_screen_recording_where_the_browser_can(
    server: LiveServer, browser: Browser, logged_in: Path
) -> None:
    """Desktop Chromium has getDisplayMedia (the fake UI picks a screen without asking): the
    screen is recorded like the camera and filed as a screen recording."""
    context = capture_context(browser, logged_in)
    headers = session_headers(context)
    try:
        page = context.new_page()
        open_capture(page, server)
        assert page.locator("#screen-unavailable").is_hidden()
        page.get_by_role("button", name="录制屏幕").click()
        wait_chunks(page, 2)
        page.get_by_role("button", name="停止并固化").click()
        link = page.locator("#recording-link")
        link.wait_for(timeout=90_000)
        number = linked_number(link)
        chunks = counter(page, "chunks-sent")
    finally:
        context.close()
    detail = httpx.get(
        f"{server.url}/api/v1/evidence/{number}", headers=headers, timeout=HTTP_TIMEOUT
    ).json()
    assert detail["kind"] == "screen-recording"
    assert detail["capture"]["kind"] == "screen_recording"
    assert detail["capture"]["chunks"] == chunks


def test_without_screen_capture_the_page_says_why(
    server: LiveServer, browser: Browser, logged_in: Path
) -> None:
    """A phone browser has no getDisplayMedia: the screen button is gone and the page says
    what to use instead; the camera still records."""
    context = capture_context(browser, logged_in)
    context.add_init_script("delete MediaDevices.prototype.getDisplayMedia;")
    try:
        page = context.new_page()
        open_capture(page, server, "?lang=en")
        assert page.locator("#start-screen").is_hidden()
        note = page.locator("#screen-unavailable")
        assert note.is_visible() and "cannot record the screen" in note.inner_text()
        assert page.get_by_role("button", name="Record with the camera").is_enabled()
    finally:
        context.close()


def test_photo_from_the_file_picker_and_from_the_camera(
    server: LiveServer, browser: Browser, logged_in: Path, tmp_path: Path
) -> None:
    context = capture_context(browser, logged_in)
    console = Console()
    page = context.new_page()
    console.watch(page)
    try:
        headers = session_headers(context)
        case_id = new_case(server, headers, "快递面单泄露地址")
        open_capture(page, server)
        page.get_by_label("标题（可选）").fill("店铺门头照片")
        page.get_by_label("案件（可选）").select_option(label="快递面单泄露地址")
        page.locator("#photo-file").set_input_files(
            files=[FilePayload(name="shop.png", mimeType="image/png", buffer=PNG)]
        )
        link = page.locator("#photo-link")
        link.wait_for(timeout=60_000)
        number = linked_number(link)
        assert case_numbers(server, headers, case_id) == [number]
        detail = httpx.get(
            f"{server.url}/api/v1/evidence/{number}", headers=headers, timeout=HTTP_TIMEOUT
        ).json()
        assert detail["kind"] == "photo" and detail["filename"] == "shop.png"
        assert detail["title"] == "店铺门头照片" and detail["size"] == len(PNG)
        capture = detail["capture"]
        assert capture["kind"] == "browser_file" and capture["browser_environment"]["user_agent"]
        # Browser-clock times are named so; no capture window the token could be judged by.
        assert "started_at" not in capture and capture["browser_clock_at"].endswith("Z")
        content = httpx.get(
            f"{server.url}/api/v1/evidence/{number}/content", headers=headers, timeout=HTTP_TIMEOUT
        )
        assert content.content == PNG  # sealed exactly as picked

        wait_sequenced(server, number)
        link.click()
        wait_for_evidence_page(page, server, number)
        with page.expect_download() as started:
            page.locator("#download-certificate").click()
        assert started.value.path().read_bytes().startswith(b"%PDF-")
        package = download_package(page, server, number, tmp_path)
        code, report = verify(package, server)
        assert code == 0, report

        # A still from the (fake) camera: a JPEG of the test pattern.
        open_capture(page, server)
        page.get_by_role("button", name="打开摄像头").click()
        page.wait_for_function("() => document.getElementById('photo-preview').videoWidth > 0")
        page.get_by_role("button", name="拍下照片").click()
        link.wait_for(timeout=60_000)
        still = linked_number(link)
        detail = httpx.get(
            f"{server.url}/api/v1/evidence/{still}", headers=headers, timeout=HTTP_TIMEOUT
        ).json()
        assert detail["kind"] == "photo" and detail["media_type"] == "image/jpeg"
        content = httpx.get(
            f"{server.url}/api/v1/evidence/{still}/content", headers=headers, timeout=HTTP_TIMEOUT
        )
        assert content.content.startswith(b"\xff\xd8\xff")
        assert console.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_capture_page_passes_axe_and_fits_375_px(
    server: LiveServer, browser: Browser, logged_in: Path, lang: str
) -> None:
    """The context bypasses the page's CSP only to inject axe."""
    context = capture_context(browser, logged_in, bypass_csp=True)
    try:
        page = context.new_page()
        open_capture(page, server, f"?lang={lang}")
        assert page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")
        page.locator("#capture-location").check()
        page.wait_for_function(
            "() => document.getElementById('location-status').textContent.includes('31.230400')"
        )
        assert serious_accessibility_violations(page) == []
        assert no_horizontal_overflow(page)
        # While recording: the preview, the counters and the Stop button are on the page.
        page.locator("#start-camera").click()
        wait_chunks(page, 1)
        assert serious_accessibility_violations(page) == []
        assert no_horizontal_overflow(page)
        page.locator("#stop-recording").click()
        page.locator("#recording-link").wait_for(timeout=60_000)
        assert serious_accessibility_violations(page) == []
        assert no_horizontal_overflow(page)
    finally:
        context.close()
