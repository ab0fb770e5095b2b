"""``timeseal capture web`` end to end: the fixture shop over HTTPS with a test CA, the system
Chromium, a real ``timeseal serve`` for the tokens.

One scripted, sealed capture through the CLI (a subprocess, as a person runs it) is shared by
the tests that each check one property of its output; the interactive-mode tests, the TLS
refusals and the steps-file errors make their own. Without Chromium these tests fail, they do
not skip (tests/support/browser.py).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image, ImageStat
from playwright.sync_api import Page
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from tests.support.accounts import code_prompt_input, invoke_answering
from tests.support.browser import chromium_path
from tests.support.server import TIMESEAL, LiveServer
from tests.support.shop_site import PROMISE, ShopSite, make_test_ca, shop_site
from tests.support.xvfb import xvfb_display
from timeseal.capture.web import WebCaptureError, WebCaptureOptions, capture_web
from timeseal.capture.web.steps import parse_steps
from timeseal.capture.web.trust import pin_target_leaf
from timeseal.cli.main import app
from timeseal.core.package.canonical import parse_canonical_json
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE = "13812345678"
LOGIN_PHONE = "+8613912340006"
STEPS = f"""\
# The person's visit: product page, privacy pop-up, chat, scroll to the end.
- click: "#accept-privacy"
- type: {{selector: "#phone", text: "{PHONE}"}}
- type: {{selector: "#qty", text: "2", safe: true}}
- click: "#chat-link"
- wait: {{selector: ".loaded"}}
- scroll: {{to: bottom}}
- screenshot: 聊天记录
"""
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WACZ_CLI = str(Path(sys.executable).with_name("wacz"))


@dataclass(frozen=True)
class Capture:
    out: Path
    site: ShopSite
    server: LiveServer
    stdout: str
    env: dict[str, str]

    def read_json(self) -> dict[str, object]:
        data = json.loads((self.out / "capture.json").read_bytes())
        assert isinstance(data, dict)
        return data

    def operations(self) -> list[dict[str, object]]:
        lines = (self.out / "operations.jsonl").read_text("utf-8").splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopSite]:
    chromium_path()  # fail now, clearly, without Chromium
    with shop_site(tmp_path_factory.mktemp("shop")) as site:
        yield site


@pytest.fixture(scope="module")
def sealed(shop: ShopSite, server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Capture:
    """``timeseal capture web --upload`` of the shop, scripted, sealed by the live server,
    by a person logged in to it: the items become one case, its package ``package.zip``."""
    work = tmp_path_factory.mktemp("capture")
    env = {
        **os.environ,
        "HOME": str(work / "home"),
        "XDG_CONFIG_HOME": str(work / "xdg"),
        "XDG_DATA_HOME": str(work / "share"),
    }
    env.pop("TIMESEAL_SERVER", None)
    (work / "home").mkdir()
    login = invoke_answering(
        CliRunner(env={k: env[k] for k in ("HOME", "XDG_CONFIG_HOME")}),
        app,
        ["login", "--server", server.url, "--phone", LOGIN_PHONE],
        code_prompt_input(server.data_dir / "sms-outbox.log", LOGIN_PHONE),
    )
    assert login.exit_code == 0, login.output
    steps = work / "steps.yaml"
    steps.write_text(STEPS, encoding="utf-8")
    out = work / "out"
    command = [
        *TIMESEAL,
        "capture",
        "web",
        shop.page("/"),
        "--steps",
        str(steps),
        "--ca-file",
        str(shop.ca_file),
        "--server",
        server.url,
        "--tsa-ca",
        str(server.root_pem),
        "--upload",
        "-o",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return Capture(out=out, site=shop, server=server, stdout=done.stdout, env=env)


def _warc_records(wacz: Path) -> list[tuple[str, str, dict[str, str], bytes]]:
    """(type, target URI, HTTP headers, payload) of every record of the WACZ's WARCs."""
    records = []
    with zipfile.ZipFile(wacz) as archive:
        for name in archive.namelist():
            if not name.startswith("archive/"):
                continue
            for record in ArchiveIterator(io.BytesIO(archive.read(name))):
                headers = dict(record.http_headers.headers) if record.http_headers else {}
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                records.append((record.rec_type, uri, headers, record.content_stream().read()))
    return records


# -- the WACZ ------------------------------------------------------------------------------


def test_wacz_passes_wacz_validate(sealed: Capture) -> None:
    wacz = sealed.out / "capture.wacz"
    done = subprocess.run([WACZ_CLI, "validate", "-f", str(wacz)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation succeeded" in done.stdout
    with zipfile.ZipFile(wacz) as archive:
        names = set(archive.namelist())
        package_bytes = archive.read("datapackage.json")
        digest = json.loads(archive.read("datapackage-digest.json"))
        stored = {i.filename: i.compress_type for i in archive.infolist()}
    assert {"datapackage.json", "datapackage-digest.json", "pages/pages.jsonl"} <= names
    assert digest["hash"] == "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    package = json.loads(package_bytes)
    assert package["home"]["url"] == sealed.site.page("/")  # WACZ 1.2.0 `home`
    with zipfile.ZipFile(wacz) as archive:
        pages = [json.loads(line) for line in archive.read("pages/pages.jsonl").splitlines()]
    assert [(p["url"], p["title"]) for p in pages[1:]] == [
        (sealed.site.page("/"), "优选小店 · 蓝牙耳机 Product"),
        (sealed.site.page("/chat.html"), "优选小店 · 在线客服 Customer service"),
    ]
    # WACZ 1.2.0 "Zip Compression": WARCs and the CDX index are STORED (random access).
    assert stored["archive/capture.warc.gz"] == zipfile.ZIP_STORED
    assert stored["indexes/index.cdx.gz"] == zipfile.ZIP_STORED


def test_warc_holds_every_exchange_faithfully(sealed: Capture) -> None:
    records = _warc_records(sealed.out / "capture.wacz")
    responses = {uri: (headers, body) for kind, uri, headers, body in records if kind == "response"}
    requests = [uri for kind, uri, _, _ in records if kind == "request"]
    product, chat = sealed.site.page("/"), sealed.site.page("/chat.html")
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "shop"
    # The page HTML and the chat, byte for byte as served.
    assert responses[product][1] == (fixtures / "index.html").read_bytes()
    assert responses[chat][1] == (fixtures / "chat.html").read_bytes()
    assert PROMISE.encode() in responses[chat][1]
    # The message the chat page fetched with JavaScript.
    assert "订单已发货" in responses[sealed.site.page("/api/messages.json")][1].decode()
    # The redirect, with its Location.
    redirect_headers, _ = responses[sealed.site.page("/go/chat")]
    assert redirect_headers.get("Location") == "/chat.html"
    # A gzip-encoded response: stored decoded, its encoding kept as X-Archive-Orig-*.
    css_headers, css = responses[sealed.site.page("/shop.css")]
    assert css == (fixtures / "shop.css").read_bytes()
    assert css_headers["X-Archive-Orig-Content-Encoding"] == "gzip"
    assert css_headers["Content-Length"] == str(len(css))
    assert "Content-Encoding" not in css_headers
    # Every response has its request.
    assert set(responses) <= set(requests)


def test_wacz_replays_the_chat_through_its_index(sealed: Capture) -> None:
    """What a replay tool does: look the URL up in the CDXJ index, read that one record at
    its offset in the WARC, and get the chat page back."""
    chat = sealed.site.page("/chat.html")
    with zipfile.ZipFile(sealed.out / "capture.wacz") as archive:
        index = gzip.decompress(archive.read("indexes/index.cdx.gz")).decode()
        warc = archive.read("archive/capture.warc.gz")
    entries = [json.loads(line.split(" ", 2)[2]) for line in index.splitlines()]
    entry = next(e for e in entries if e["url"] == chat and e.get("mime") != "warc/request")
    start = int(entry["offset"])
    record = next(iter(ArchiveIterator(io.BytesIO(warc[start : start + int(entry["length"])]))))
    assert record.rec_type == "response"
    assert PROMISE in record.content_stream().read().decode("utf-8")


# -- pictures, page, PDF --------------------------------------------------------------------


def test_video_covers_the_session(sealed: Capture) -> None:
    video = sealed.out / "video.webm"
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height:format=duration",
            "-of",
            "json",
            str(video),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(probe.stdout)
    assert info["streams"][0]["codec_type"] == "video"
    assert info["streams"][0]["codec_name"] in ("vp8", "vp9")
    assert (info["streams"][0]["width"], info["streams"][0]["height"]) == (1280, 800)
    assert float(info["format"]["duration"]) >= 1.0


def test_screenshots_one_per_step_and_not_blank(sealed: Capture) -> None:
    names = sorted(p.name for p in (sealed.out / "screenshots").glob("*.png"))
    assert names == [
        "01-goto.png",
        "02-click.png",
        "03-type.png",
        "04-type.png",
        "05-click.png",
        "06-wait.png",
        "07-scroll.png",
        "08-聊天记录.png",
    ]
    for name in names:
        with Image.open(sealed.out / "screenshots" / name) as image:
            assert image.width == 1280
            grey = image.convert("L")
            assert ImageStat.Stat(grey).stddev[0] > 10, f"{name} is blank"
    with Image.open(sealed.out / "screenshots" / "08-聊天记录.png") as chat:
        assert chat.height > 1600  # full page: the long chat, not only the viewport
    # No OCR here (tesseract is not among the test packages): the text itself is checked in
    # page.html, page.pdf and the WARC.


def test_page_html_and_pdf_show_the_promise(sealed: Capture) -> None:
    html = (sealed.out / "page.html").read_text("utf-8")
    assert PROMISE in html
    assert "订单已发货" in html  # the DOM after the page's script ran, not the served HTML
    text = subprocess.run(
        ["pdftotext", str(sealed.out / "page.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert PROMISE in text.replace("\n", "")


# -- the operation log and the metadata -----------------------------------------------------


def test_operation_log_lists_each_step_with_times(sealed: Capture) -> None:
    ops = sealed.operations()
    assert [op["seq"] for op in ops] == list(range(1, len(ops) + 1))
    times = [str(op["at"]) for op in ops]
    assert all(RFC3339_MS.match(t) for t in times)
    assert times == sorted(times)
    steps = [op for op in ops if op["kind"] not in ("screenshot", "navigation", "session")]
    assert [(op["kind"], op["step"]) for op in steps] == [
        ("goto", 0),
        ("click", 1),
        ("type", 2),
        ("type", 3),
        ("click", 4),
        ("wait", 5),
        ("scroll", 6),
    ]
    goto, accept, phone, qty, chat_click, wait, scroll = steps
    assert goto["status"] == 200
    assert accept == accept | {"selector": "#accept-privacy", "text": "同意 Accept", "line": 2}
    # Typing by kind; the phone number itself is nowhere in the log, the safe field's text is.
    assert phone["keystrokes"] == {"characters": 11, "digits": 11}
    assert "text" not in phone
    assert PHONE not in (sealed.out / "operations.jsonl").read_text("utf-8")
    assert qty["text"] == "2"
    assert qty["value"] == "2"  # the field held "1": typing replaced it, never "12"
    assert chat_click["text"] == "联系客服 Customer service"
    assert wait["selector"] == ".loaded"
    assert scroll["to"] == "bottom"
    assert isinstance(scroll["y"], int) and scroll["y"] > 0
    navigations = [op for op in ops if op["kind"] == "navigation"]
    assert navigations[-1]["url"] == sealed.site.page("/chat.html")
    assert navigations[-1]["redirected_from"] == [sealed.site.page("/go/chat")]
    shots = [op for op in ops if op["kind"] == "screenshot"]
    assert len(shots) == 8
    for shot in shots:
        data = (sealed.out / str(shot["file"])).read_bytes()
        assert shot["sha256"] == hashlib.sha256(data).hexdigest()
    assert ops[-1] == ops[-1] | {"kind": "session", "event": "end", "ended_by": "script-finished"}


def test_capture_json_is_canonical_and_complete(sealed: Capture) -> None:
    raw = (sealed.out / "capture.json").read_bytes()
    _, canonical = parse_canonical_json(raw)  # refuses floats, so integers only
    assert canonical
    meta = sealed.read_json()
    assert meta["completed"] is True
    assert meta["mode"] == "scripted"
    assert meta["target_url"] == sealed.site.page("/")
    assert meta["final_url"] == sealed.site.page("/chat.html")
    assert RFC3339_MS.match(str(meta["started_at"]))
    assert RFC3339_MS.match(str(meta["ended_at"]))
    assert str(meta["started_at"]) < str(meta["ended_at"])
    software = meta["software"]
    assert isinstance(software, dict)
    assert str(software["chromium"]).startswith("Chrome/")
    assert software["playwright"] and software["timeseal"]
    assert software["headless"] is True
    tls = meta["tls"]
    assert isinstance(tls, dict)
    assert (
        tls["leaf_sha256"]
        == hashlib.sha256(sealed.site.leaf.public_bytes(Encoding.DER)).hexdigest()
    )
    # The environment report (under the vault's name for it): the site's TLS chain and the
    # DNS answers for its host, each a named finding with its evidence.
    environment = meta["environment_check"]
    assert isinstance(environment, dict)
    findings = {f["name"]: f for f in environment["findings"]}
    assert {"tls_chain", "dns_answers"} <= set(findings)
    assert "BEGIN CERTIFICATE" in json.dumps(findings["tls_chain"]["evidence"])
    dns = findings["dns_answers"]["evidence"]
    assert dns["host"] == "localhost" and "127.0.0.1" in dns["addresses"]
    files = meta["files"]
    assert isinstance(files, list)
    for item in files:
        data = (sealed.out / item["path"]).read_bytes()
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert item["size"] == len(data)
    assert {f["path"] for f in files} >= {
        "video.webm",
        "page.pdf",
        "page.html",
        "capture.wacz",
        "operations.jsonl",
    }


# -- sealing ------------------------------------------------------------------------------


def test_every_output_file_has_a_token_that_verifies(sealed: Capture) -> None:
    root = x509.load_pem_x509_certificate(sealed.server.root_pem.read_bytes())
    verifier = TimestampVerifierBuilder().add_root(root).build()
    outputs = [
        p
        for p in sealed.out.rglob("*")
        if p.is_file() and p.suffix != ".tsr" and p.name != "package.zip"
    ]
    assert len(outputs) == 8 + 6  # screenshots + video, pdf, html, wacz, log, capture.json
    for path in outputs:
        token = path.with_name(path.name + ".tsr")
        assert token.is_file(), f"{path} has no token"
        response = parse_response(token.read_bytes())
        result = verifier.verify(response, hashlib.sha256(path.read_bytes()).digest())
        assert result.ok, (path, result.failed)
    # And with the public command a person would use.
    done = subprocess.run(
        [
            *TIMESEAL,
            "verify",
            str(sealed.out / "capture.wacz"),
            "--token",
            str(sealed.out / "capture.wacz.tsr"),
            "--ca",
            str(sealed.server.root_pem),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- the sealed evidence package: the directory, the case, package.zip --------------------


def _verify_json(capture: Capture, path: Path) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [*TIMESEAL, "verify", str(path), "--ca", str(capture.server.root_pem), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=capture.env,
    )
    assert done.returncode in (0, 1, 3), done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert isinstance(body, dict)
    assert (body["verdict"] == "invalid") is (done.returncode == 1)
    return done.returncode, body


def _failed(body: dict[str, object]) -> set[tuple[str, str]]:
    failed = body["failed"]
    assert isinstance(failed, list)
    return {(f["subject"], f["check"]) for f in failed}


def test_the_capture_directory_verifies_offline(sealed: Capture) -> None:
    code, body = _verify_json(sealed, sealed.out)
    assert (code, body["valid"], body["kind"]) == (0, True, "web-capture"), _failed(body)
    sections = body["sections"]
    assert isinstance(sections, list)
    subjects = [str(section["subject"]) for section in sections]
    listed = {f["path"] for f in sealed.read_json()["files"]}  # type: ignore[attr-defined]
    # capture.json, its token, every file capture.json lists; then the case package's own.
    assert subjects[:2] == ["capture.json", "capture.json.tsr"]
    assert set(subjects[2 : 2 + len(listed)]) == listed
    assert "package.zip › package" in subjects
    checks = {c["check"] for section in sections[:2] for c in section["checks"]}
    assert {"manifest_canonical", "trust_anchor", "chain_trusted", "imprint_matches"} <= checks
    # The text report, bilingual, as a person reads it.
    done = subprocess.run(
        [*TIMESEAL, "verify", str(sealed.out), "--ca", str(sealed.server.root_pem)],
        capture_output=True,
        text=True,
        timeout=120,
        env=sealed.env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "网页取证 Web capture" in done.stdout
    assert "✓ page.pdf: 大小、SHA-256 与时间戳一致 size, SHA-256 and token match — 时间 Time: " in (
        done.stdout
    )
    # package.zip's log key comes from the package itself (no --log-key): a warning, exit 0.
    assert done.stdout.startswith("结论 Result: 有效，但有警告 VALID WITH WARNINGS — ")
    assert "[self_supplied_log_key]" in done.stdout.splitlines()[0]


def test_upload_made_one_case_whose_package_verifies(sealed: Capture) -> None:
    package = sealed.out / "package.zip"
    assert package.is_file(), sealed.stdout
    code, body = _verify_json(sealed, package)
    assert (code, body["valid"]) == (0, True), _failed(body)
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["scope"] == "case"
    listed = {f["path"]: f["sha256"] for f in sealed.read_json()["files"]}  # type: ignore[attr-defined]
    listed["capture.json"] = hashlib.sha256((sealed.out / "capture.json").read_bytes()).hexdigest()
    # Every file of the capture is an item of the case, byte for byte.
    assert sorted(i["sha256"] for i in manifest["items"]) == sorted(listed.values())
    credentials = json.loads(
        (Path(sealed.env["XDG_CONFIG_HOME"]) / "timeseal" / "credentials.json").read_text()
    )
    auth = {"Authorization": f"Bearer {credentials['servers'][sealed.server.url]['token']}"}
    cases = httpx.get(f"{sealed.server.url}/api/v1/cases", headers=auth, timeout=30).json()
    (case,) = cases
    assert case["title"].startswith("网页取证 Web capture " + sealed.site.page("/"))
    assert case["item_count"] == len(listed)
    # Nothing is left owing in the offline queue.
    assert list((Path(sealed.env["XDG_DATA_HOME"]) / "timeseal" / "queue").glob("*.json")) == []


def _rewrite_member(package: Path, name: str, data: bytes) -> None:
    with zipfile.ZipFile(package) as archive:
        members = [(i, archive.read(i.filename)) for i in archive.infolist()]
    with zipfile.ZipFile(package, "w") as archive:
        for info, content in members:
            archive.writestr(info, data if info.filename == name else content)


def _change_png(out: Path) -> None:
    shot = out / "screenshots" / "08-聊天记录.png"
    shot.write_bytes(shot.read_bytes() + b"\0")


@pytest.mark.parametrize(
    ("tamper", "failed"),
    [
        (_change_png, {("screenshots/08-聊天记录.png", "file_sha256")}),
        (lambda out: (out / "page.pdf").unlink(), {("page.pdf", "file_present")}),
        (
            lambda out: (out / "screenshots" / "09-later.png").write_bytes(b"planted"),
            {("screenshots/09-later.png", "file_listed")},
        ),
        (lambda out: (out / "video.webm.tsr").unlink(), {("video.webm", "token_parses")}),
        (
            lambda out: (out / "capture.json").write_bytes(
                (out / "capture.json").read_bytes().replace(b'"scripted"', b'"scripted" ')
            ),
            {("capture.json", "manifest_canonical"), ("capture.json.tsr", "imprint_matches")},
        ),
    ],
    ids=["changed", "missing", "added", "token-missing", "metadata-edited"],
)
def test_a_tampered_capture_fails_by_name(
    sealed: Capture, tmp_path: Path, tamper: Callable[[Path], object], failed: set[tuple[str, str]]
) -> None:
    copy = tmp_path / "capture"
    shutil.copytree(sealed.out, copy)
    tamper(copy)
    code, body = _verify_json(sealed, copy)
    # A file that is only missing makes the capture incomplete (3); anything else invalid (1).
    missing = failed == {("page.pdf", "file_present")}
    assert (code, body["valid"], body["verdict"]) == (
        (3, False, "incomplete") if missing else (1, False, "invalid")
    )
    assert failed <= _failed(body)
    assert {subject for subject, _ in _failed(body)} == {subject for subject, _ in failed}


def test_a_tampered_package_fails_by_name(sealed: Capture, tmp_path: Path) -> None:
    package = tmp_path / "package.zip"
    shutil.copyfile(sealed.out / "package.zip", package)
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    page = next(i for i in manifest["items"] if i["title"].endswith("page.html"))
    _rewrite_member(package, page["path"], b"<html>something else</html>")
    code, body = _verify_json(sealed, package)
    assert (code, body["valid"]) == (1, False)
    assert (page["path"], "file_sha256") in _failed(body)
    assert (page["number"], "imprint_matches") in _failed(body)


# -- TLS trust: only the site key that validated against --ca-file ---------------------------


def test_without_ca_file_chromium_refuses_the_test_certificate(
    shop: ShopSite, tmp_path: Path
) -> None:
    """``force``: past the environment check (which fails the test CA's chain too), so that
    it is Chromium itself that is seen refusing: the capture disables no TLS check."""
    options = WebCaptureOptions(url=shop.page("/"), out_dir=tmp_path / "out", force=True)
    result = capture_web(options)
    assert not result.completed
    assert result.error is not None and "ERR_CERT_AUTHORITY_INVALID" in result.error


def test_a_failed_environment_check_stops_the_capture_with_exit_2(
    shop: ShopSite, tmp_path: Path
) -> None:
    """Without ``--ca-file`` the test CA's chain fails against the system store: as every
    capture command, ``capture web`` stops with exit 2 before any browser, writing nothing."""
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["capture", "web", shop.page("/"), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "✗ 证书链 TLS chain [tls_chain]:" in result.output
    assert "环境检查未通过，取证已停止" in result.output and "--force" in result.output
    assert not out.exists()


def test_a_ca_file_the_site_does_not_chain_to_is_refused_before_launch(
    shop: ShopSite, tmp_path: Path
) -> None:
    import datetime as dt

    other_ca, _, _ = make_test_ca(dt.datetime.now(dt.UTC))
    other = tmp_path / "other-ca.pem"
    other.write_bytes(other_ca.public_bytes(Encoding.PEM))
    with pytest.raises(WebCaptureError, match="does not validate"):
        pin_target_leaf(shop.page("/"), other)
    out = tmp_path / "out"
    with pytest.raises(WebCaptureError, match="does not validate"):
        capture_web(WebCaptureOptions(url=shop.page("/"), out_dir=out, ca_file=other, force=True))
    assert not any((out / "screenshots").iterdir())  # nothing was captured


# -- the steps file -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("- goto: https://x.test/\n- clik: '#a'\n", "line 2, 第 2 步 step 2"),
        ("- click: '#a'\n- type: {selector: '#p'}\n", "line 2, 第 2 步 step 2"),
        ("- scroll: {to: top}\n", "line 1, 第 1 步 step 1"),
        ("- wait: {ms: 1.5}\n", "line 1, 第 1 步 step 1"),
        ("- screenshot: ../../etc\n", "line 1, 第 1 步 step 1"),
        ("goto: https://x.test/\n", "line 1"),
        ("- [unclosed\n", "line 2"),
    ],
)
def test_steps_file_errors_stop_before_any_browser(tmp_path: Path, text: str, where: str) -> None:
    steps = tmp_path / "steps.yaml"
    steps.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run(
        [*TIMESEAL, "capture", "web", "https://x.test/", "--steps", str(steps), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert where in done.stderr
    assert not out.exists()


# -- interactive mode -----------------------------------------------------------------------


def _act_as_the_person(page: Page) -> None:
    """What a person does in the visible browser, through real input events (Playwright's
    mouse and keyboard), so the page recorder sees them as it would a person's."""
    page.click("#accept-privacy")
    page.click("#phone")
    page.keyboard.type(PHONE)
    page.click("#qty")  # focus moves on: the typing in #phone is reported
    page.click("#chat-link")
    page.wait_for_selector(".loaded")
    page.mouse.wheel(0, 900)
    page.wait_for_timeout(800)  # the recorder reports a scroll once it has stopped


def test_a_step_whose_selector_matches_nothing_is_named_and_the_rest_kept(
    shop: ShopSite, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    steps = parse_steps('- click: "#accept-privacy"\n- click: "#no-such-button"\n')
    result = capture_web(
        WebCaptureOptions(url=shop.page("/"), out_dir=out, steps=steps, ca_file=shop.ca_file)
    )
    assert not result.completed
    assert result.error is not None
    assert "第 2 步 step 2 (line 2) 选择器 selector '#no-such-button' 失败 failed" in result.error
    ops = [json.loads(line) for line in (out / "operations.jsonl").read_text().splitlines()]
    assert [op["selector"] for op in ops if op["kind"] == "click"] == ["#accept-privacy"]


def test_interactive_recorder_logs_the_persons_actions(shop: ShopSite, tmp_path: Path) -> None:
    """Interactive mode with the same injected recorder, headless, driven through the
    ``driver`` hook (a visible window is covered by the Xvfb test below)."""
    out = tmp_path / "out"
    result = capture_web(
        WebCaptureOptions(
            url=shop.page("/"),
            out_dir=out,
            interactive=True,
            ca_file=shop.ca_file,
            headless=True,
            driver=_act_as_the_person,
        )
    )
    assert result.completed, result.error
    ops = [json.loads(line) for line in (out / "operations.jsonl").read_text().splitlines()]
    person = [op for op in ops if op.get("source") == "person"]
    clicks = [op for op in person if op["kind"] == "click"]
    assert [c["selector"] for c in clicks] == ["#accept-privacy", "#phone", "#qty", "#chat-link"]
    assert clicks[0]["text"] == "同意 Accept"
    typed = next(op for op in person if op["kind"] == "type")
    assert typed | {"selector": "#phone", "characters": 11, "digits": 11} == typed
    assert PHONE not in (out / "operations.jsonl").read_text()
    scroll = next(op for op in person if op["kind"] == "scroll")
    assert scroll["y"] > 0
    navigations = [op["url"] for op in person if op["kind"] == "navigation"]
    assert navigations == [shop.page("/"), shop.page("/chat.html")]
    meta = json.loads((out / "capture.json").read_bytes())
    assert meta["mode"] == "interactive"
    assert meta["ended_by"] == "driver"
    assert meta["final_url"] == shop.page("/chat.html")
    assert "re-render" in meta["pdf"]
    assert PROMISE in (out / "page.html").read_text("utf-8")
    pdf_text = subprocess.run(
        ["pdftotext", str(out / "page.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert PROMISE in pdf_text.replace("\n", "")
    assert (out / "video.webm").stat().st_size > 0
    subprocess.run([WACZ_CLI, "validate", "-f", str(out / "capture.wacz")], check=True)


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A virtual X display for a visible browser (fails, never skips, without Xvfb)."""
    with xvfb_display() as display:
        yield display


def test_interactive_visible_browser_ends_with_ctrl_c(
    shop: ShopSite, xvfb: str, tmp_path: Path
) -> None:
    """The real command, a visible (headful) Chromium on an X display, ended the way a person
    ends it in a terminal: Ctrl-C, i.e. SIGINT to the whole foreground process group."""
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*TIMESEAL, "capture", "web", shop.page("/"), "--interactive"]
        + ["--ca-file", str(shop.ca_file), "-o", str(out)],
        env={**os.environ, "DISPLAY": xvfb},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / "screenshots" / "01-page.png").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the page never loaded"
            time.sleep(0.1)
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, stdout.decode() + stderr.decode()
    meta = json.loads((out / "capture.json").read_bytes())
    assert meta["ended_by"] in ("interrupt", "window-closed")
    assert meta["software"]["headless"] is False
    assert PROMISE not in (out / "page.html").read_text("utf-8")  # the product page
    assert "无线蓝牙耳机" in (out / "page.html").read_text("utf-8")
    assert (out / "video.webm").stat().st_size > 0
    assert (out / "page.pdf").stat().st_size > 0
    subprocess.run([WACZ_CLI, "validate", "-f", str(out / "capture.wacz")], check=True)
