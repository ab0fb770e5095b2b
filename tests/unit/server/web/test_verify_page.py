"""The ``/verify`` page through the TestClient: languages, security headers, no inline script,
hashed static assets, number look-up, file check by hash, token verification."""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.pki import NOW, make_pki
from tests.unit.server.web.conftest import DATA, Sealed, wait_sequenced
from timeseal.core.tsp.request import build_request
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult
from timeseal.server.web.verify import MAX_TOKEN_BYTES, TokenReport, Verdict, with_log_checks


class _Page(HTMLParser):
    """What the no-inline-code rules look at: scripts, styles, attributes, links."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.script_bodies: list[str] = []
        self.styles = 0
        self.handlers: list[str] = []
        self.urls: list[str] = []
        self.html_lang: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.html_lang = values.get("lang")
        if tag == "script":
            self.scripts.append(values)
            self._in_script = True
        if tag == "style":
            self.styles += 1
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.handlers.append(f"{tag}.{name}")
        for name in ("src", "href"):
            url = values.get(name)
            if url and url.startswith("/static/"):
                self.urls.append(url)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_bodies.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def text_of(html: str, element_id: str) -> str:
    """The text inside the element with ``element_id`` (tags dropped, whitespace squeezed)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(p|div)>', html, re.S)
    assert match, f"no #{element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_chinese_by_default_english_by_header_or_switch(anonymous: TestClient) -> None:
    zh = anonymous.get("/verify")
    assert zh.status_code == 200
    assert parse(zh.text).html_lang == "zh-CN"
    assert "证据核验" in zh.text and "Verify evidence" not in zh.text
    en = anonymous.get("/verify", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.1"})
    assert parse(en.text).html_lang == "en"
    assert "Verify evidence" in en.text and "证据核验" not in en.text
    assert "Accept-Language" in en.headers["vary"]
    # The switch: ?lang= answers in that language and remembers it in a cookie ...
    switched = anonymous.get("/verify?lang=en&number=x")
    assert parse(switched.text).html_lang == "en"
    assert "ts_lang=en" in switched.headers["set-cookie"]
    assert 'href="/verify?number=x&amp;lang=zh"' in switched.text
    # ... which then wins over Accept-Language.
    again = anonymous.get("/verify", headers={"Accept-Language": "zh-CN"})
    assert parse(again.text).html_lang == "en"
    anonymous.cookies.clear()
    assert parse(anonymous.get("/verify?lang=zh").text).html_lang == "zh-CN"


def test_security_headers_and_no_inline_code(anonymous: TestClient) -> None:
    reply = anonymous.get("/verify")
    csp = {
        d.split()[0]: d.split()[1:] for d in reply.headers["content-security-policy"].split("; ")
    }
    assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert csp["default-src"] == ["'none'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert not any(v in ("'unsafe-inline'", "'unsafe-eval'") for vs in csp.values() for v in vs)
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["x-frame-options"] == "DENY"
    page = parse(reply.text)
    assert page.scripts and all((s.get("src") or "").startswith("/static/") for s in page.scripts)
    assert page.script_bodies == []
    assert page.styles == 0 and page.handlers == []


def test_static_assets_are_hashed_and_cached_for_a_year(anonymous: TestClient) -> None:
    page = parse(anonymous.get("/verify").text)
    assert len(page.urls) == 4  # icon, site.css, hash-wasm, verify.js
    for url in page.urls:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js|svg)$", url), url
        reply = anonymous.get(url)
        assert reply.status_code == 200, url
        assert reply.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert reply.headers["x-content-type-options"] == "nosniff"
        kind = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}
        assert reply.headers["content-type"].startswith(kind[url.rsplit(".", 1)[1]])
        stale = re.sub(r"\.[0-9a-f]{12}\.", ".000000000000.", url)
        assert anonymous.get(stale).status_code == 404
        assert anonymous.get(re.sub(r"\.[0-9a-f]{12}\.", ".", url)).status_code == 404
    vendored = next(u for u in page.urls if "hash-wasm" in u)
    assert hashlib.sha256(anonymous.get(vendored).content).hexdigest() == (
        "0ab0ba5a8242ca02d4403e08a60b9308cb7322a175c3a5c3071c595fad1e65de"  # npm 4.13.0 dist
    )
    assert anonymous.get("/static/../app.py").status_code == 404


def test_number_lookup_shows_the_public_facts(anonymous: TestClient, sealed: Sealed) -> None:
    wait_sequenced(anonymous, sealed.number)
    facts = anonymous.get("/api/v1/public/evidence/" + sealed.number).json()
    page = anonymous.get("/verify", params={"number": sealed.number.lower().replace("-", "")})
    assert page.status_code == 200
    html = page.text
    assert sealed.number in html and sealed.sha256 in html
    assert facts["timestamp"]["serial_number"] in html
    assert f"叶子序号 {facts['log']['leaf_index']}" in html
    assert "北京时间" in html and " UTC)" in html and "文档" in html
    assert "合同" not in html and "私密" not in html and "secret" not in html
    # The file form now compares with this record.
    assert f'<input type="hidden" name="number" value="{sealed.number}">' in html
    en = anonymous.get(f"/verify?number={sealed.number}", headers={"Accept-Language": "en"})
    assert "Beijing time" in en.text and "Document" in en.text
    assert "In the public log, leaf index" in en.text


def test_unknown_number_says_so(anonymous: TestClient) -> None:
    page = anonymous.get("/verify", params={"number": "TS-20261129-7Q4K-M2X1"})
    assert page.status_code == 404
    assert "没有找到该编号的已固化证据" in text_of(page.text, "number-result")
    # a wrong check character (D for 1), and the old check's symbol (H) naming nothing
    for typo in ("TS-20261129-7Q4K-M2XD", "TS-20261129-7Q4K-M2XH"):
        page = anonymous.get("/verify", params={"number": typo})
        assert page.status_code == 400
        assert "校验字符（最后一位）与编号其余部分不符" in text_of(page.text, "number-result")
    hostile = anonymous.get("/verify", params={"number": '"><script>alert(1)</script>'})
    assert "<script>alert" not in hostile.text and "&lt;script&gt;" in hostile.text


def test_a_number_cut_before_its_check_character_is_named(
    anonymous: TestClient, sealed: Sealed
) -> None:
    for cut, lang in ((sealed.number[:-1], "zh-CN"), (sealed.number[:-1].lower(), "en")):
        page = anonymous.get("/verify", params={"number": cut}, headers={"Accept-Language": lang})
        assert page.status_code == 400
        said = text_of(page.text, "number-result")
        assert ("最后一位是校验字符" if lang == "zh-CN" else "is a check character") in said
    found = anonymous.get("/verify", params={"number": sealed.number.lower().replace("-", "")})
    assert found.status_code == 200 and sealed.number in found.text


def test_file_check_by_hash(anonymous: TestClient, sealed: Sealed) -> None:
    other = hashlib.sha256(DATA + b"!").hexdigest()
    match = anonymous.get("/verify", params={"sha256": sealed.sha256.upper()})
    assert 'data-outcome="match"' in match.text and sealed.number in match.text
    assert "一致" in text_of(match.text, "file-result")
    none = anonymous.get("/verify", params={"sha256": other}, headers={"Accept-Language": "en"})
    assert 'data-outcome="no-match"' in none.text
    assert text_of(none.text, "file-result").startswith("No match")
    # sha256sum output pastes as it is.
    pasted = anonymous.get("/verify", params={"sha256": f"{sealed.sha256}  contract.pdf"})
    assert 'data-outcome="match"' in pasted.text
    # Against one number: the same file matches, another does not.
    with_number = {"number": sealed.number, "sha256": sealed.sha256}
    assert 'data-outcome="match"' in anonymous.get("/verify", params=with_number).text
    with_number["sha256"] = other
    compared = anonymous.get("/verify", params=with_number)
    assert 'data-outcome="no-match"' in compared.text and sealed.number in compared.text
    bad = anonymous.get("/verify", params={"sha256": "abc"})
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text


def _post_token(
    client: TestClient, tsr: bytes | None, sha256: str | None = None, lang: str = "zh"
) -> tuple[int, str]:
    files = {"token": ("file.tsr", tsr, "application/timestamp-reply")} if tsr is not None else {}
    data = {"sha256": sha256} if sha256 is not None else {}
    reply = client.post(
        "/verify/token",
        files=files or None,
        data=data,
        headers={"Accept-Language": lang},
    )
    return reply.status_code, reply.text


def checks_of(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-check="(\w+)" data-status="(\w+)"', html))


def test_token_verification_matches_the_cli(anonymous: TestClient, sealed: Sealed) -> None:
    wait_sequenced(anonymous, sealed.number)
    status, html = _post_token(anonymous, sealed.tsr, sealed.sha256)
    assert status == 200
    assert 'data-verdict="valid"' in html
    checks = checks_of(html)
    assert set(checks.values()) == {"pass"}
    # The token's checks, then its record's log receipt, as `timeseal verify` reports them.
    assert list(checks) == [
        "pki_status_granted",
        "content_type",
        "signer_certificate",
        "message_digest",
        "signature",
        "ess_cert_id",
        "chain_trusted",
        "tsa_eku_critical",
        "imprint_matches",
        "checkpoint_origin",
        "checkpoint_signature",
        "inclusion_proof",
    ]
    assert "记录已收录于公开日志（包含证明有效）" in html
    assert "数字签名有效" in html and "文件哈希与时间戳记录一致" in html  # the CLI's words
    assert f'href="/verify?number={sealed.number}"' in html  # the record of this token
    _, english = _post_token(anonymous, sealed.tsr, sealed.sha256, lang="en")
    assert "the signature is valid" in english and "Valid:" in english

    # Another file: the imprint check fails, and only it.
    status, html = _post_token(anonymous, sealed.tsr, hashlib.sha256(b"other").hexdigest())
    assert status == 200 and 'data-verdict="invalid"' in html
    assert [c for c, s in checks_of(html).items() if s != "pass"] == ["imprint_matches"]
    assert checks_of(html)["inclusion_proof"] == "pass"

    # No file: the token is genuine, the imprint is not compared (skipped, never passed).
    status, html = _post_token(anonymous, sealed.tsr)
    assert 'data-verdict="token_only"' in html
    assert checks_of(html)["imprint_matches"] == "skipped"
    assert "未提供文件" in html


def test_a_token_from_another_tsa_is_not_trusted(anonymous: TestClient) -> None:
    foreign = make_pki().authority()
    digest = hashlib.sha256(DATA).digest()
    issued = foreign.issue(build_request(digest), gen_time=NOW, serial_number=7)
    status, html = _post_token(anonymous, issued.response_der, digest.hex())
    assert status == 200 and 'data-verdict="invalid"' in html
    assert checks_of(html)["chain_trusted"] == "fail"
    assert checks_of(html)["imprint_matches"] == "pass"


@pytest.mark.parametrize(
    ("tsr", "sha256", "status", "words"),
    [
        (b"not a token at all", None, 200, "不是 RFC 3161 时间戳"),
        (None, None, 400, "请选择时间戳文件"),
        (b"", None, 400, "请选择时间戳文件"),
        (b"x" * (MAX_TOKEN_BYTES + 1), None, 413, "该文件太大"),
        (b"x" * 100, "not-hex", 400, 'name="sha256" type="text" value="not-hex"'),
    ],
)
def test_token_upload_errors(
    anonymous: TestClient, tsr: bytes | None, sha256: str | None, status: int, words: str
) -> None:
    got, html = _post_token(anonymous, tsr, sha256)
    assert got == status
    assert words in html
    if sha256 is not None:  # kept in its field, marked invalid, and said why
        assert "这不是 SHA-256 值" in text_of(html, "token-result")


def test_token_body_limit_does_not_read_on(anonymous: TestClient) -> None:
    huge = anonymous.post(
        "/verify/token",
        content=b"x" * (10 * MAX_TOKEN_BYTES),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert huge.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies as it streams
        for _ in range(100):
            yield b"y" * 4096

    streamed = anonymous.post(
        "/verify/token",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413
    garbled = anonymous.post(
        "/verify/token", content=b"--b\r\nnonsense", headers={"Content-Type": "multipart/form-data"}
    )
    assert garbled.status_code == 400


def _package_of(client: TestClient, sealed: Sealed) -> bytes:
    wait_sequenced(client, sealed.number)
    reply = client.get(f"/api/v1/evidence/{sealed.number}/package", headers=sealed.auth)
    assert reply.status_code == 200, reply.text
    return reply.content


def _post_package(client: TestClient, package: bytes | None, lang: str = "zh") -> tuple[int, str]:
    files = {"package": ("item.zip", package, "application/zip")} if package is not None else {}
    reply = client.post(
        "/verify/package", files=files or None, data={}, headers={"Accept-Language": lang}
    )
    return reply.status_code, reply.text


def test_package_upload_is_verified_as_the_cli_does(anonymous: TestClient, sealed: Sealed) -> None:
    package = _package_of(anonymous, sealed)
    status, html = _post_package(anonymous, package)
    assert status == 200
    assert 'data-verdict="valid"' in text_of_report(html)
    checks = re.findall(r'data-check="(\w+)" data-status="(\w+)"', html)
    assert {s for _, s in checks} == {"pass"}
    names = {c for c, _ in checks}
    assert {"package_zip", "file_sha256", "imprint_matches", "inclusion_proof"} <= names
    assert "文件 SHA-256 与清单一致" in html  # the CLI's words
    assert sealed.number in html
    _, english = _post_package(anonymous, package, lang="en")
    assert "SHA-256 matches the manifest" in english

    # One byte of the item changed: the page names what failed.
    tampered = bytearray(package)
    tampered[package.index(DATA[:32]) + 5] ^= 1
    status, html = _post_package(anonymous, bytes(tampered))
    assert status == 200 and 'data-verdict="invalid"' in html
    failed = {
        c for c, s in re.findall(r'data-check="(\w+)" data-status="(\w+)"', html) if s == "fail"
    }
    assert {"file_sha256", "imprint_matches"} <= failed
    # The first finding names the file and says, in the page's language, what it means; the
    # verifier's own English stays folded away under "技术细节".
    findings = html[
        html.index('id="package-findings"') : html.index(
            "</ol>", html.index('id="package-findings"')
        )
    ]
    first = findings[: findings.index("</li>")]
    assert 'data-code="file_sha256"' in first and "<code>items/" in first
    assert "文件内容与封存时不同：该文件在封存后被修改过" in first
    assert "<summary>技术细节</summary>" in first and "listed " in first
    outside_details = re.sub(r"<details>.*?</details>", "", text_of_report(html), flags=re.S)
    assert "listed " not in outside_details and "computed " not in outside_details
    assert "{" not in re.sub(r"<[^>]+>", "", outside_details)  # no JSON in the browser
    _, english = _post_package(anonymous, bytes(tampered), lang="en")
    assert "The file&#39;s content differs from when it was sealed" in english


def text_of_report(html: str) -> str:
    return html[html.index('id="package-report"') :]


def test_package_upload_errors(anonymous: TestClient) -> None:
    status, html = _post_package(anonymous, None)
    assert status == 400 and "请选择证据包" in text_of(html, "package-result")
    status, html = _post_package(anonymous, b"PK\x03\x04 not really a zip")
    assert status == 200 and 'data-verdict="invalid"' in html
    assert re.search(r'data-check="package_zip" data-status="fail"', html)
    assert "证据包文件已损坏或不是证据包" in html
    too_big = anonymous.post(
        "/verify/package",
        content=b"x",
        headers={
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(600 * 1024 * 1024),
        },
    )
    assert too_big.status_code == 413


def test_a_failed_log_check_makes_the_report_invalid() -> None:
    token = VerificationResult((CheckResult(Check.SIGNATURE, Status.PASS),))
    for verdict in (Verdict.VALID, Verdict.TOKEN_ONLY):
        report = TokenReport(verdict, token, None, "00" * 32)
        bad = VerificationResult((CheckResult(Check.INCLUSION_PROOF, Status.FAIL, "x"),))
        good = VerificationResult((CheckResult(Check.INCLUSION_PROOF, Status.PASS),))
        assert with_log_checks(report, bad).verdict is Verdict.INVALID
        assert with_log_checks(report, good).verdict is verdict
        assert with_log_checks(report, good).result == VerificationResult(
            token.checks + good.checks
        )


def test_the_page_publishes_the_root_fingerprint_as_openssl_prints_it(
    anonymous: TestClient, data_dir: Path
) -> None:
    """A reader compares it with a package's VERIFY.md, a certificate or the operator's word."""
    page = anonymous.get("/verify")
    printed = re.findall(r"data-root-fingerprint>([0-9A-F:]+)<", page.text)
    openssl = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
        input=(data_dir / "pki" / "root.pem").read_bytes(),
        capture_output=True,
        check=True,
    )
    assert printed == [openssl.stdout.decode().strip().split("=", 1)[1]]
    assert "本服务的根证书" in page.text
    english = anonymous.get("/verify?lang=en")
    assert "This service's root certificate" in english.text and printed[0] in english.text
