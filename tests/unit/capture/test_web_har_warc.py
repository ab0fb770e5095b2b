"""HAR (Playwright, bodies attached) to WARC/1.1, without a browser: bodies byte for byte,
transport encodings kept as ``X-Archive-Orig-*``, HTTP/2 pseudo-headers dropped and the
protocol kept in ``WARC-Protocol``, request and response linked, aborted requests kept."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from timeseal.capture.web.har_warc import read_har_zip, write_warc
from timeseal.capture.web.wacz_build import html_title

GBK_PAGE = "<title>客服</title>客户信息仅用于售后".encode("gbk")  # not UTF-8 on purpose


def _har(tmp_path: Path) -> Path:
    entries = [
        {
            "startedDateTime": "2026-11-29T15:00:00.123Z",
            "serverIPAddress": "[::1]",
            "request": {
                "method": "GET",
                "url": "https://shop.test/chat?id=1",
                "httpVersion": "h2",
                "headers": [
                    {"name": ":authority", "value": "shop.test"},
                    {"name": "accept", "value": "text/html"},
                ],
            },
            "response": {
                "status": 200,
                "statusText": "",
                "httpVersion": "h2",
                "headers": [
                    {"name": ":status", "value": "200"},
                    {"name": "content-type", "value": "text/html; charset=gbk"},
                    {"name": "content-encoding", "value": "br"},
                    {"name": "content-length", "value": "12"},
                ],
                "content": {"size": len(GBK_PAGE), "_file": "page.html"},
            },
        },
        {
            "startedDateTime": "2026-11-29T15:00:01.000Z",
            "request": {
                "method": "POST",
                "url": "https://shop.test/api",
                "httpVersion": "HTTP/1.1",
                "headers": [{"name": "Host", "value": "shop.test"}],
                "postData": {"mimeType": "application/json", "text": '{"q":"售后"}'},
            },
            "response": {
                "status": 201,
                "statusText": "Created",
                "httpVersion": "HTTP/1.1",
                "headers": [],
                "content": {
                    "size": 3,
                    "text": base64.b64encode(b"\x00\x01\x02").decode(),
                    "encoding": "base64",
                },
            },
        },
        {
            "startedDateTime": "2026-11-29T15:00:02.000Z",
            "request": {
                "method": "GET",
                "url": "https://tracker.test/pixel",
                "httpVersion": "HTTP/1.1",
                "headers": [],
            },
            "response": {"status": -1, "statusText": "", "headers": [], "content": {}},
        },
    ]
    path = tmp_path / "network.har.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("har.har", json.dumps({"log": {"entries": entries}}))
        archive.writestr("page.html", GBK_PAGE)
    return path


def test_har_to_warc(tmp_path: Path) -> None:
    exchanges = read_har_zip(_har(tmp_path))
    warc = tmp_path / "out.warc.gz"
    assert write_warc(exchanges, warc, software="test", info={}) == 2
    with warc.open("rb") as f:
        records = [
            (r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read())
            for r in ArchiveIterator(f)
        ]
    kinds = [(kind, headers.get_header("WARC-Target-URI")) for kind, headers, _, _ in records]
    assert kinds == [
        ("warcinfo", None),
        ("response", "https://shop.test/chat?id=1"),
        ("request", "https://shop.test/chat?id=1"),
        ("response", "https://shop.test/api"),
        ("request", "https://shop.test/api"),
        ("request", "https://tracker.test/pixel"),  # aborted: no response, request kept
    ]
    _, page_rec, page_http, page_body = records[1]
    assert page_body == GBK_PAGE  # not re-encoded
    assert page_rec.get_header("WARC-Protocol") == "h2"
    assert page_rec.get_header("WARC-IP-Address") == "::1"
    assert page_rec.get_header("WARC-Date") == "2026-11-29T15:00:00.123Z"
    assert page_rec.protocol == "WARC/1.1"
    assert page_http.get_header(":status") is None
    assert page_http.get_header("X-Archive-Orig-content-encoding") == "br"
    assert page_http.get_header("content-encoding") is None
    assert page_http.get_header("Content-Length") == str(len(GBK_PAGE))
    assert page_http.get_header("X-Archive-Orig-Content-Length") == "12"
    _, request_rec, request_http, _ = records[2]
    assert request_rec.get_header("WARC-Concurrent-To") == page_rec.get_header("WARC-Record-ID")
    # warcio splits a request line as protocol = method, statusline = the rest.
    assert f"{request_http.protocol} {request_http.statusline}" == "GET /chat?id=1 HTTP/1.1"
    assert request_http.get_header("Host") == "shop.test"
    assert records[3][3] == b"\x00\x01\x02"
    assert records[3][2].statusline == "201 Created"
    assert records[4][3] == '{"q":"售后"}'.encode()


def test_html_title() -> None:
    assert html_title("<TITLE>\n 优选 &amp; 小店 </TITLE>".encode()) == "优选 & 小店"
    assert html_title(b"no title") == ""
