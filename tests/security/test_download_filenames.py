"""Downloads keep their Chinese names (issue 12, point 8): every ``Content-Disposition`` carries
``filename*=UTF-8''…`` (RFC 6266 §4.3, RFC 8187) and an ASCII ``filename="…"`` fallback that
cannot break out of its quotes, for the owner and for a share link's recipient alike.

Before the fix the header was ``attachment; filename="??.jpg"``: the name was lost."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import unquote

import httpx2
from starlette.testclient import TestClient

from tests.support.accounts import FakeClock, bearer
from tests.unit.server.test_packages import fetch, seal
from tests.unit.server.test_shares import clock, server
from timeseal.core.package.layout import item_id
from timeseal.server.api.disposition import content_disposition

__all__ = ["clock", "server"]

PHOTO = b"\xff\xd8\xff\xe0 the courier's label " * 500
NAME = '快递面单 "照片" 100%;.jpg'  # a quote, a percent sign and a semicolon too


def filename_of(reply: httpx2.Response) -> tuple[str, str]:
    """(the name a browser saves the file as: ``filename*`` decoded as RFC 8187 says, the
    ASCII fallback ``filename``)."""
    header = reply.headers["content-disposition"]
    header.encode("ascii")  # a header value is ASCII: raises if not
    match = re.fullmatch(
        r"(attachment|inline); "
        r'filename="([ -~]*)"; '
        r"filename\*=UTF-8''([A-Za-z0-9%!#$&+.^_`|~-]+)",
        header,
    )
    assert match, header
    fallback = match.group(2)
    assert '"' not in fallback and "\\" not in fallback
    return unquote(match.group(3), encoding="utf-8", errors="strict"), fallback


def test_owner_and_recipient_downloads_keep_the_chinese_name(
    server: TestClient, data_dir: Path, clock: FakeClock
) -> None:
    auth = bearer(server, data_dir)
    number = seal(server, auth, PHOTO, NAME, "photo")

    owner = server.get(f"/api/v1/evidence/{number}/content", headers=auth)
    assert owner.status_code == 200
    name, fallback = filename_of(owner)
    assert name == NAME
    assert fallback.isascii() and '"' not in fallback and "\\" not in fallback
    assert fallback.endswith(".jpg")
    assert owner.headers["content-disposition"].startswith("attachment;")

    expires = (clock() + dt.timedelta(days=1)).isoformat()
    link = server.post(
        f"/api/v1/evidence/{number}/shares", json={"expires_at": expires}, headers=auth
    ).json()
    anyone = TestClient(server.app, client=("203.0.113.9", 1))
    for url in (f"/api/v1/shares/{link['token']}/content", f"{link['url']}/content"):
        reply = anyone.get(url)
        assert reply.status_code == 200, (url, reply.text)
        assert filename_of(reply)[0] == NAME, url
    # The web page's inline preview names the file too.
    preview = anyone.get(f"{link['url']}/preview")
    assert preview.status_code == 200
    assert preview.headers["content-disposition"].startswith("inline;")
    assert filename_of(preview)[0] == NAME

    # Packages and certificates: ASCII names, still in both forms.
    package = fetch(server, f"/api/v1/evidence/{number}/package", auth)
    assert package
    reply = server.get(f"/api/v1/evidence/{number}/package", headers=auth)
    assert filename_of(reply) == (f"{item_id(number)}.zip", f"{item_id(number)}.zip")
    shared = anyone.get(f"/api/v1/shares/{link['token']}/package")
    assert filename_of(shared)[0] == f"{item_id(number)}.zip"


def test_the_one_helper_cannot_be_broken_out_of() -> None:
    """Quotes, backslashes and control characters never reach the quoted fallback."""
    header = content_disposition('合同 "终稿"\\\r\n.pdf')
    assert header == (
        'attachment; filename="__ _______.pdf"; '
        "filename*=UTF-8''%E5%90%88%E5%90%8C%20%22%E7%BB%88%E7%A8%BF%22%5C%0D%0A.pdf"
    )
    assert content_disposition("Résumé.pdf", "inline").startswith('inline; filename="Resume.pdf"')
