"""Spoofed ``Host``, ``X-Forwarded-Host``, ``X-Forwarded-Proto`` and ``Forwarded`` headers
(issue 12, point 9; ``X-Forwarded-For`` and the client address belong to the proxy settings'
own tests). The client chooses these headers, so nothing the server hands to other people may
be built from them: a share link created through a request with ``Host: evil.example`` used
to read ``https://evil.example/s/<token>`` (the owner copies it into a chat with the merchant,
who then opens a phishing site holding the token). Now every absolute URL (the share link
shown to the owner, the certificate's QR code and printed link) starts with the configured
public URL (``timeseal serve --public-url``), and redirects are relative paths."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import log_in, server_database_url
from tests.support.tus import TUS, create_upload, patch_upload, tus_metadata
from tests.support.two_accounts import DATA
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.certificate.render import verify_url
from timeseal.server.tsa.clock import LocalSource

PUBLIC_URL = "https://timeseal.example.cn"
EVIL = "evil.example"
SPOOFED = {
    "Host": EVIL,
    "X-Forwarded-Host": EVIL,
    "X-Forwarded-Proto": "http",
    "X-Forwarded-Port": "4443",
    "Forwarded": f"host={EVIL};proto=http",
    "X-Original-URL": f"https://{EVIL}/",
}


@pytest.fixture
def server(data_dir: Path, db_url: str) -> Iterator[TestClient]:
    settings = ServerSettings(
        database_url=server_database_url(),
        data_dir=data_dir,
        clock_source=LocalSource(),
        public_url=PUBLIC_URL,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def owner(server: TestClient, data_dir: Path) -> tuple[TestClient, str, dict[str, str], str]:
    """A logged-in browser, its CSRF token, an API token header and a sealed item's number."""
    b = TestClient(
        server.app, base_url="https://testserver", client=("10.0.8.1", 1), follow_redirects=False
    )
    csrf = log_in(b, data_dir / "sms-outbox.log")["csrf_token"]
    token = b.post(
        "/api/v1/account/tokens", json={"name": "t"}, headers={"X-CSRF-Token": csrf}
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    url = create_upload(server, auth, DATA)
    number = patch_upload(server, auth, url, 0, DATA)[1]["timeseal-evidence-number"]
    return b, csrf, auth, number


def test_a_share_link_starts_with_the_public_url_whatever_the_host_header(
    server: TestClient, data_dir: Path
) -> None:
    browser, csrf, _, number = owner(server, data_dir)
    reply = browser.post(
        f"/evidence/{number}/shares",
        data={"csrf_token": csrf, "days": "7", "label": "merchant", "access_code": ""},
        headers=SPOOFED,
    )
    assert reply.status_code == 201, reply.text[:500]
    [link] = re.findall(r'id="share-url"[^>]*value="([^"]+)"', reply.text)
    assert re.fullmatch(re.escape(PUBLIC_URL) + r"/s/[A-Za-z0-9_-]{43}", link), link
    assert EVIL not in reply.text


def test_the_certificate_points_at_the_public_url_whatever_the_host_header(
    server: TestClient, data_dir: Path, tmp_path: Path
) -> None:
    _, _, auth, number = owner(server, data_dir)
    url = f"/api/v1/evidence/{number}/certificate"
    deadline = time.monotonic() + 30
    while True:  # the certificate waits for the item to be in the log (the sequencer's thread)
        reply = server.get(url, headers={**auth, **SPOOFED})
        if reply.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert reply.status_code == 200, reply.text
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(reply.content)
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    assert verify_url(PUBLIC_URL, number) in text.replace("\n", "")
    assert EVIL not in text


def test_redirects_are_relative_whatever_the_host_header(server: TestClient) -> None:
    anonymous = TestClient(server.app, base_url="https://testserver", follow_redirects=False)
    for page in ("/evidence", "/cases/1", "/account", "/capture"):
        reply = anonymous.get(page, headers=SPOOFED)
        assert reply.status_code == 303, page
        assert reply.headers["location"].startswith("/login?next="), reply.headers["location"]
    logged_out = anonymous.post("/logout", headers=SPOOFED)
    assert logged_out.headers["location"] == "/login"


def test_api_answers_carry_no_url_built_from_the_host_header(
    server: TestClient, data_dir: Path
) -> None:
    _, _, auth, number = owner(server, data_dir)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    share = server.post(
        f"/api/v1/evidence/{number}/shares",
        json={"expires_at": expires},
        headers={**auth, **SPOOFED},
    )
    assert share.status_code == 201, share.text
    upload = server.post(
        "/api/v1/uploads",
        headers={
            **auth,
            **SPOOFED,
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": tus_metadata(filename="a.txt", sha256="0" * 64),
        },
    )
    assert upload.status_code == 201, upload.text
    for reply in (share, upload, server.get(f"/api/v1/evidence/{number}", headers=SPOOFED | auth)):
        assert EVIL not in reply.text and EVIL not in str(reply.headers), reply.url
    assert upload.headers["location"].startswith("/api/v1/uploads/")
