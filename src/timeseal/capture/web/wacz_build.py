"""Packing the WARC into a WACZ (``capture.wacz``) with the ``wacz`` package.

The ``wacz`` package (webrecorder's reference implementation) writes what ``wacz validate``
and replay tools expect: ``archive/`` with the WARC and ``indexes/index.cdx.gz`` stored
uncompressed in the ZIP (random access), ``index.idx``, ``pages/pages.jsonl``,
``datapackage.json`` (every file's SHA-256) and ``datapackage-digest.json`` (the SHA-256 of
``datapackage.json``). We call it in-process (its ``main`` takes an argv list) and keep its
chatter out of our output.

WACZ 1.2.0 and the validator disagree, so the package speaks both: 1.2.0 adds ``home``
(``{url, ts}``, which we add, then rewrite ``datapackage-digest.json``) and drops
``mainPageURL`` (we never set it), but it also drops ``wacz_version`` and sets ``profile`` to
``"wacz"`` — and ``wacz validate`` (py-wacz 0.6.0, the newest) fails a package without
``wacz_version``, while its frictionless check cannot resolve the profile ``"wacz"``. So
``profile`` stays ``"data-package"`` and ``wacz_version`` ``"1.1.1"``; a 1.2.0 reader ignores
both (custom properties are allowed), a 1.1.1 reader and the validator accept the package.

The pages list is ours: the main-frame pages in the order they loaded, matched by URL to the
response records (``wacz`` fills in their timestamps).
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import zipfile
from collections.abc import Sequence
from hashlib import sha256
from pathlib import Path

from timeseal.capture.web.errors import WebCaptureError
from timeseal.core.files import replacing

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def html_title(body: bytes) -> str:
    """The ``<title>`` of an HTML page as served (for the pages list; best effort)."""
    found = _TITLE.search(body[:65536])
    if found is None:
        return ""
    return " ".join(html.unescape(found.group(1).decode("utf-8", "replace")).split())[:200]


def write_pages_jsonl(path: Path, pages: Sequence[tuple[str, str]]) -> None:
    """``pages.jsonl`` (WACZ 1.2 §pages): a header line, then ``{"url", "title"}`` per page."""
    lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Pages"})]
    seen: set[str] = set()
    for url, title in pages:
        if url in seen:
            continue
        seen.add(url)
        lines.append(json.dumps({"url": url, "title": title}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _add_home(wacz: Path, main_url: str) -> None:
    """Add WACZ 1.2.0's ``home`` to ``datapackage.json`` and re-digest it (ZIP rewritten,
    every other entry copied with its compression kept)."""
    with zipfile.ZipFile(wacz) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    contents = {info.filename: data for info, data in entries}
    # No pages list when no page loaded at all (a refused certificate): home without ts.
    pages = contents.get("pages/pages.jsonl", b"")
    ts = None
    for line in pages.decode("utf-8").splitlines()[1:]:
        page = json.loads(line)
        if page.get("url") == main_url:
            ts = page.get("ts")
            break
    package = json.loads(contents["datapackage.json"])
    package["home"] = {"url": main_url, "ts": ts} if ts else {"url": main_url}
    package_bytes = json.dumps(package, indent=2).encode("utf-8")
    digest = {"path": "datapackage.json", "hash": "sha256:" + sha256(package_bytes).hexdigest()}
    replaced = {
        "datapackage.json": package_bytes,
        "datapackage-digest.json": json.dumps(digest, indent=2).encode("utf-8"),
    }
    with replacing(wacz) as f, zipfile.ZipFile(f, "w") as target:
        for info, data in entries:
            target.writestr(info, replaced.get(info.filename, data))


def build_wacz(
    warc: Path, pages_jsonl: Path, out: Path, *, main_url: str, title: str, description: str
) -> None:
    from wacz.main import main as wacz_main  # heavy import (frictionless): only when used

    argv = [
        "create",
        "-o",
        str(out),
        "-p",
        str(pages_jsonl),
        "--title",
        title,
        "--desc",
        description,
        str(warc),
    ]
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            status = wacz_main(argv)
    except Exception as exc:  # a third-party tool's failure, wrapped at our boundary
        raise WebCaptureError(f"WACZ 打包失败 cannot build the WACZ: {exc}") from exc
    if status not in (0, None) or not out.is_file():
        raise WebCaptureError(f"WACZ 打包失败 cannot build the WACZ: {chatter.getvalue()[-2000:]}")
    _add_home(out, main_url)
