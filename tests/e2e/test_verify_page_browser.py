"""The public verify page in real headless Chromium (Playwright) against a real ``timeseal
serve``: a file sealed through the API is recognised when picked on the page, a one-byte
different file is not, a large file is hashed in chunks with a progress bar, the number shows
its facts, the .tsr verifies with every check passing; and no request ever carries the file.

Chromium is the system one (see tests/support/browser.py); without it this test fails, it
does not skip.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.support.accounts import latest_code
from tests.support.browser import (
    PHONE_VIEWPORT,
    Console,
    RecordingProxy,
    chromium,
    no_horizontal_overflow,
    phone_page,
    serious_accessibility_violations,
)
from tests.support.server import LiveServer, live_server, wait_sequenced
from tests.support.tus import upload_whole

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE = "+8613812345678"
#: Larger than the page's Web Crypto limit (32 MiB): hashed by hash-wasm in 4 MiB chunks.
LARGE = 36 * 1024 * 1024 + 12345


def seal_through_api(server: LiveServer, auth: dict[str, str], data: bytes) -> tuple[str, bytes]:
    """tus upload of ``data``: (evidence number, the record's .tsr)."""
    sha256 = hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        answer = upload_whole(
            client, auth, data, filename="私密.bin", kind="document", sha256=sha256
        )
        number = answer["timeseal-evidence-number"]
        detail = client.get(f"/api/v1/evidence/{number}", headers=auth).json()
    return number, base64.b64decode(detail["timestamp_response"])


def log_in(server: LiveServer) -> dict[str, str]:
    reply = httpx.post(f"{server.url}/api/v1/auth/sms-code", json={"phone": PHONE})
    assert reply.status_code == 200, reply.text
    code = latest_code(server.data_dir / "sms-outbox.log", PHONE)
    body = {"phone": PHONE, "code": code, "kind": "token", "token_name": "browser"}
    reply = httpx.post(f"{server.url}/api/v1/auth/login", json=body)
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']['token']}"}


@dataclass(frozen=True)
class Files:
    sealed: Path
    sealed_bytes: bytes
    number: str
    tsr: Path
    one_byte_off: Path
    large: Path
    large_bytes: bytes
    large_number: str


@pytest.fixture(scope="module")
def verify_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own (the session's ``server`` is shared with other tests' logins)."""
    with live_server(tmp_path_factory.mktemp("verify-browser") / "data") as live:
        yield live


@pytest.fixture(scope="module")
def files(verify_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Files:
    server = verify_server
    folder = tmp_path_factory.mktemp("files")
    auth = log_in(server)
    data = secrets.token_bytes(300_000)
    number, tsr = seal_through_api(server, auth, data)
    wait_sequenced(server, number)
    large = secrets.token_bytes(LARGE)
    large_number, _ = seal_through_api(server, auth, large)
    off = bytearray(data)
    off[123_456] ^= 0x01
    (folder / "evidence.bin").write_bytes(data)
    (folder / "evidence.bin.tsr").write_bytes(tsr)
    (folder / "evidence-changed.bin").write_bytes(bytes(off))
    (folder / "large.bin").write_bytes(large)
    return Files(
        sealed=folder / "evidence.bin",
        sealed_bytes=data,
        number=number,
        tsr=folder / "evidence.bin.tsr",
        one_byte_off=folder / "evidence-changed.bin",
        large=folder / "large.bin",
        large_bytes=large,
        large_number=large_number,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def proxy(verify_server: LiveServer) -> Iterator[RecordingProxy]:
    with RecordingProxy(verify_server.url) as recording:
        yield recording


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    with phone_page(browser) as (_context, page, console):
        yield page, console


def test_picking_files_says_match_or_no_match(
    proxy: RecordingProxy, files: Files, page: tuple[Page, Console]
) -> None:
    p, console = page
    p.goto(f"{proxy.url}/verify")
    assert p.locator("html").get_attribute("lang") == "zh-CN"
    assert no_horizontal_overflow(p)

    # The sealed file: hashed in the browser, the page says it matches, with the number.
    p.locator("#file-input").set_input_files(files.sealed)
    result = p.locator("#file-result")
    result.wait_for()
    assert result.get_attribute("data-outcome") == "match"
    assert files.number in result.inner_text()
    assert "一致" in result.inner_text()
    checked = p.locator("#checked-sha256").inner_text()
    assert checked == hashlib.sha256(files.sealed_bytes).hexdigest()

    # One byte different: no match.
    p.locator("#file-input").set_input_files(files.one_byte_off)
    p.wait_for_selector('#file-result[data-outcome="no-match"]')
    assert "不一致" in p.locator("#file-result").inner_text()
    assert no_horizontal_overflow(p)

    proxy.assert_never_sent(files.sealed_bytes)
    proxy.assert_never_sent(files.one_byte_off.read_bytes())
    assert console.errors == []


def test_a_large_file_is_hashed_in_chunks_with_progress(
    proxy: RecordingProxy, files: Files, page: tuple[Page, Console]
) -> None:
    p, console = page
    p.goto(f"{proxy.url}/verify")
    # In the token form the file is only hashed (no automatic submit): watch the progress.
    p.locator("#token-file-input").set_input_files(files.large)
    p.wait_for_function(
        "() => document.getElementById('token-sha256').value.length === 64", timeout=120_000
    )
    want = hashlib.sha256(files.large_bytes).hexdigest()
    assert p.locator("#token-sha256").input_value() == want
    assert p.locator("#token-progress").is_visible()
    assert p.locator("#token-progress").get_attribute("value") == "100"
    # The same in the file form: it matches the large sealed record.
    p.locator("#file-input").set_input_files(files.large)
    p.wait_for_selector("#file-result", timeout=120_000)
    assert p.locator("#file-result").get_attribute("data-outcome") == "match"
    assert files.large_number in p.locator("#file-result").inner_text()
    proxy.assert_never_sent(files.large_bytes)
    assert console.errors == []


def test_typing_the_number_shows_its_facts_and_the_file_compares(
    proxy: RecordingProxy, files: Files, page: tuple[Page, Console]
) -> None:
    p, console = page
    p.goto(f"{proxy.url}/verify?lang=en")
    p.get_by_role("textbox", name="Evidence number", exact=True).fill(
        files.number.lower().replace("-", "")
    )
    p.get_by_role("textbox", name="Evidence number", exact=True).press("Enter")
    facts = p.locator("#number-result")
    facts.wait_for()
    text = facts.inner_text()
    assert files.number in text
    assert hashlib.sha256(files.sealed_bytes).hexdigest() in text
    assert "Beijing time" in text and "UTC" in text
    assert "私密" not in p.content()
    # With a number shown, a picked file is compared with that record.
    p.locator("#file-input").set_input_files(files.one_byte_off)
    p.wait_for_selector('#file-result[data-outcome="no-match"]')
    assert files.number in p.locator("#file-result").inner_text()
    p.locator("#file-input").set_input_files(files.sealed)
    p.wait_for_selector('#file-result[data-outcome="match"]')
    proxy.assert_never_sent(files.sealed_bytes)
    assert console.errors == []


def test_uploading_the_token_shows_every_check_passing(
    proxy: RecordingProxy, files: Files, page: tuple[Page, Console]
) -> None:
    p, console = page
    p.goto(f"{proxy.url}/verify")
    p.locator("#token-input").set_input_files(files.tsr)
    p.locator("#token-file-input").set_input_files(files.sealed)
    p.wait_for_function("() => document.getElementById('token-sha256').value.length === 64")
    p.get_by_role("button", name="验证时间戳").click()
    report = p.locator("#report")
    report.wait_for()
    assert p.locator("#report [data-verdict]").get_attribute("data-verdict") == "valid"
    checks = p.locator("#report li.check")
    statuses = [checks.nth(i).get_attribute("data-status") for i in range(checks.count())]
    assert len(statuses) == 12 and set(statuses) == {"pass"}  # 9 token + 3 log receipt
    assert "数字签名有效" in report.inner_text()
    assert files.number in report.inner_text()
    # The token went to the server; the file did not.
    posted = proxy.bodies_to("/verify/token")
    assert len(posted) == 1 and files.tsr.read_bytes() in posted[0]
    assert hashlib.sha256(files.sealed_bytes).hexdigest().encode() in posted[0]
    proxy.assert_never_sent(files.sealed_bytes)
    assert console.errors == []


def test_keyboard_reaches_every_control(proxy: RecordingProxy, page: tuple[Page, Console]) -> None:
    p, _ = page
    p.goto(f"{proxy.url}/verify")
    reached = set()
    for _ in range(40):
        p.keyboard.press("Tab")
        reached.add(p.evaluate("document.activeElement.id || document.activeElement.textContent"))
    for control in ("number", "file-input", "file-sha256", "token-input", "token-sha256"):
        assert control in reached, (control, reached)


def test_dropping_a_file_on_the_drop_zone_hashes_it(
    proxy: RecordingProxy, page: tuple[Page, Console]
) -> None:
    p, console = page
    p.goto(f"{proxy.url}/verify")
    dropped = p.evaluate_handle(
        "() => { const d = new DataTransfer();"
        " d.items.add(new File([new Uint8Array([1, 2, 3])], 'dropped.bin')); return d; }"
    )
    p.dispatch_event("#file-section label.drop", "drop", {"dataTransfer": dropped})
    p.wait_for_selector('#file-result[data-outcome="no-match"]')
    assert p.locator("#checked-sha256").inner_text() == hashlib.sha256(b"\x01\x02\x03").hexdigest()
    assert console.errors == []


@pytest.mark.parametrize(
    ("lang", "query"),
    [("zh-CN", ""), ("en", "?lang=en"), ("zh-CN", "?number=TS-20261129-7Q4K-M2XD")],
)
def test_axe_finds_no_serious_accessibility_violation(
    browser: Browser, proxy: RecordingProxy, files: Files, lang: str, query: str
) -> None:
    """axe-core (tests/fixtures/axe-core) on the page, blank, in English, with an error, and
    with facts and a match shown. The context bypasses the page's CSP only to inject axe."""
    context = browser.new_context(locale=lang, bypass_csp=True, viewport=PHONE_VIEWPORT)
    try:
        p = context.new_page()
        p.goto(f"{proxy.url}/verify{query}")
        if not query:
            p.locator("#file-input").set_input_files(files.sealed)
            p.wait_for_selector('#file-result[data-outcome="match"]')
        found = serious_accessibility_violations(p)
        assert found == []
    finally:
        context.close()
