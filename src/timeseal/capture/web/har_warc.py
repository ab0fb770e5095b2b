"""The browser's network exchanges, from Playwright's HAR to a WARC (ISO 28500, WARC/1.1).

Why HAR first: Playwright records it inside the browser's own network stack (Chromium's
DevTools events), so the exchanges are the ones the page really made over the connection
Chromium validated — a proxy or a route handler would have fetched them a second time, from
Python. We ask for ``record_har_content="attach"`` into a ``.har.zip``: every body is kept as
its own file, byte for byte (an embedded HAR would have decoded text bodies as UTF-8 and
mangled, say, a GBK page).

Faithfulness and its limits, written into the ``warcinfo`` record too:

- Bodies are the bytes after HTTP content decoding (Chromium hands Playwright decoded bodies).
  So a response that was sent with ``Content-Encoding: gzip`` keeps that header renamed to
  ``X-Archive-Orig-Content-Encoding`` (the convention pywb and webrecorder replay with), and
  ``Content-Length`` is set to the stored body's length, its original value kept as
  ``X-Archive-Orig-Content-Length``. ``Transfer-Encoding`` is treated the same way.
- Header names and values are as Chromium reported them; HTTP/2 pseudo-headers are dropped
  and the protocol is kept in ``WARC-Protocol`` (WARC/1.1 §5.18) instead.
- An exchange that got no response (aborted, blocked) keeps only its request record.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from timeseal.capture.web.errors import WebCaptureError

HAR_NAME = "har.har"
WARC_VERSION = "WARC/1.1"
_RENAMED = ("content-encoding", "transfer-encoding")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HAR entry, reduced to what the WARC keeps."""

    started: str  # RFC 3339 from the HAR (milliseconds)
    method: str
    url: str
    http_version: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    status_text: str
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes
    server_ip: str | None


def read_har_zip(path: Path) -> list[Exchange]:
    try:
        with zipfile.ZipFile(path) as archive:
            har = json.loads(archive.read(HAR_NAME))
            entries = har["log"]["entries"]
            return [_exchange(entry, archive) for entry in entries]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise WebCaptureError(f"cannot read the browser's network record {path}: {exc}") from exc


def _body(content: Mapping[str, Any], archive: zipfile.ZipFile) -> bytes:
    if "_file" in content:
        return archive.read(str(content["_file"]))
    text = content.get("text")
    if text is None:
        return b""
    if content.get("encoding") == "base64":
        return base64.b64decode(str(text))
    return str(text).encode("utf-8")


def _headers(items: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (str(h["name"]), str(h["value"])) for h in items if not str(h["name"]).startswith(":")
    )


def _exchange(entry: Mapping[str, Any], archive: zipfile.ZipFile) -> Exchange:
    request = entry["request"]
    response = entry["response"]
    post = request.get("postData") or {}
    return Exchange(
        started=str(entry["startedDateTime"]),
        method=str(request["method"]),
        url=str(request["url"]),
        http_version=str(response.get("httpVersion") or request.get("httpVersion") or ""),
        request_headers=_headers(request.get("headers", [])),
        request_body=_body(post, archive) if post else b"",
        status=int(response.get("status") or 0),
        status_text=str(response.get("statusText") or ""),
        response_headers=_headers(response.get("headers", [])),
        response_body=_body(response.get("content") or {}, archive),
        server_ip=cast("str | None", entry.get("serverIPAddress")) or None,
    )


def _protocol(version: str) -> str:
    v = version.lower()
    if v in ("h2", "http/2", "http/2.0"):
        return "h2"
    if v in ("h3", "http/3"):
        return "h3"
    return v or "http/1.1"


def _response_headers(ex: Exchange) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    declared_length: str | None = None
    for name, value in ex.response_headers:
        lower = name.lower()
        if lower in _RENAMED:
            out.append((f"X-Archive-Orig-{name}", value))
        elif lower == "content-length":
            declared_length = value
        else:
            out.append((name, value))
    actual = str(len(ex.response_body))
    if declared_length is not None and declared_length != actual:
        out.append(("X-Archive-Orig-Content-Length", declared_length))
    out.append(("Content-Length", actual))
    return out


def _request_headers(ex: Exchange) -> list[tuple[str, str]]:
    headers = list(ex.request_headers)
    if not any(n.lower() == "host" for n, _ in headers):
        headers.insert(0, ("Host", urlsplit(ex.url).netloc))
    return headers


def write_warc(
    exchanges: Sequence[Exchange], out: Path, *, software: str, info: Mapping[str, str]
) -> int:
    """Write ``out`` (gzip per record, as WACZ readers expect); returns the number of
    response records."""
    responses = 0
    with out.open("wb") as f:
        writer = WARCWriter(f, gzip=True, warc_version=WARC_VERSION)
        fields = {"software": software, "format": "WARC File Format 1.1", **info}
        writer.write_record(writer.create_warcinfo_record(out.name, fields))
        for ex in exchanges:
            for record in _records(writer, ex):
                writer.write_record(record)
                if record.rec_type == "response":
                    responses += 1
    return responses


def _records(writer: WARCWriter, ex: Exchange) -> Iterator[Any]:
    base = {"WARC-Date": ex.started, "WARC-Protocol": _protocol(ex.http_version)}
    response = None
    if ex.status > 0:
        response_headers = {**base}
        if ex.server_ip:
            response_headers["WARC-IP-Address"] = ex.server_ip.strip("[]")
        http = StatusAndHeaders(
            f"{ex.status} {ex.status_text}".strip(),
            _response_headers(ex),
            protocol="HTTP/1.1",
        )
        response = writer.create_warc_record(
            ex.url,
            "response",
            payload=io.BytesIO(ex.response_body),
            length=len(ex.response_body),
            http_headers=http,
            warc_headers_dict=response_headers,
        )
        yield response
    parts = urlsplit(ex.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = writer.create_warc_record(
        ex.url,
        "request",
        payload=io.BytesIO(ex.request_body),
        length=len(ex.request_body),
        http_headers=StatusAndHeaders(
            f"{ex.method} {target} HTTP/1.1", _request_headers(ex), is_http_request=True
        ),
        warc_headers_dict=dict(base),
    )
    if response is not None:
        request.rec_headers.add_header(
            "WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID")
        )
    yield request
