"""Share links do not leak IP addresses or exact locations (issue 12, point 6).

Before the fix the package a share link handed out was the owner's own: its manifest listed
the owner's upload IP, every earlier viewer's IP (custody) and the capture's exact location.
Now what a link shares (the page ``/s/<token>``, the API ``/api/v1/shares/<token>``, and every
package downloaded through it) carries none of them unless the owner ticked
``show_ip_and_location`` when creating the link. The withheld copy is a package of its own,
sealed and timestamped like any other: it verifies offline and says in its manifest what was
withheld. The owner's own package keeps everything."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tests.support.accounts import FakeClock, bearer
from tests.unit.server.test_packages import fetch, seal, verified
from tests.unit.server.test_shares import clock, server
from tests.unit.server.web.test_web_app import browser_log_in, hidden, session
from timeseal.server.evidence.packages import WITHHELD

__all__ = ["clock", "server"]

PHOTO = b"\xff\xd8\xff\xe0 a photo of the parcel label " * 2000
OWNER_IP = "198.51.100.7"  # the server fixture's client
VIEWER_IP = "203.0.113.9"
LAT, LON = "31.230416", "121.473701"
CAPTURE = {
    "device": {"model": "Xiaomi 14"},
    "location": {"lat": LAT, "lon": LON, "accuracy_m": 8},
    "client_ip": OWNER_IP,
    "environment_check": {"verdict": "pass", "client_ip": OWNER_IP},
}
SECRETS = (OWNER_IP, VIEWER_IP, LAT, LON)


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def manifest_text(package: bytes) -> str:
    return zipfile.ZipFile(io.BytesIO(package)).read("manifest.json").decode()


def link(client: TestClient, auth: dict[str, str], url: str, clock: FakeClock, **extra: Any) -> Any:
    body = {"expires_at": (clock() + dt.timedelta(days=3)).isoformat(), **extra}
    reply = client.post(url, json=body, headers=auth)
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_an_item_link_withholds_ips_and_location(
    server: TestClient, data_dir: Path, clock: FakeClock
) -> None:
    auth = bearer(server, data_dir)
    number = seal(server, auth, PHOTO, "label.jpg", "photo", CAPTURE)
    default = link(server, auth, f"/api/v1/evidence/{number}/shares", clock)
    viewer = TestClient(server.app, raise_server_exceptions=False, client=(VIEWER_IP, 1))
    # A first viewer: their IP goes into the owner's custody trail.
    page = viewer.get(default["url"])
    assert page.status_code == 200 and not leaks(page.text)
    facts = viewer.get(default["api_url"])
    assert facts.status_code == 200 and not leaks(facts.text)

    shared = fetch(viewer, f"{default['api_url']}/package", {})
    manifest = verified(data_dir, shared)  # a package of its own, sealed and timestamped
    assert not leaks(manifest_text(shared)), leaks(manifest_text(shared))
    assert default["show_ip_and_location"] is False  # the default
    [item] = manifest["items"]
    assert item["capture"]["location"] == WITHHELD and item["capture"]["client_ip"] == WITHHELD
    assert item["capture"]["environment_check"] == {"verdict": "pass", "client_ip": WITHHELD}
    assert item["capture"]["device"] == {"model": "Xiaomi 14"}  # the rest is untouched
    assert {e["client_ip"] for e in item["custody"]} == {WITHHELD}
    assert [e["action"] for e in item["custody"]][:3] == ["uploaded", "sealed", "shared"]
    assert "share link" in item["capture"]["withheld"]["reason"]
    # The web page's download is the same withheld copy.
    assert fetch(viewer, f"{default['url']}/package", {}) == shared

    # The owner's own package keeps them all.
    own = fetch(server, f"/api/v1/evidence/{number}/package", auth)
    assert own != shared
    text = manifest_text(own)
    assert OWNER_IP in text and VIEWER_IP in text and LAT in text
    assert verified(data_dir, own)["items"][0]["capture"] == CAPTURE

    # A link whose owner opted in shares them, as the owner's package does.
    revealing = link(
        server, auth, f"/api/v1/evidence/{number}/shares", clock, show_ip_and_location=True
    )
    assert revealing["show_ip_and_location"] is True
    listed = server.get(f"/api/v1/evidence/{number}/shares", headers=auth).json()
    assert [s["show_ip_and_location"] for s in listed] == [False, True]
    assert fetch(viewer, f"{revealing['api_url']}/package", {}) == own


def test_a_case_link_withholds_them_and_the_web_form_opts_in(
    server: TestClient, data_dir: Path, clock: FakeClock
) -> None:
    web = TestClient(server.app, raise_server_exceptions=False)
    browser_log_in(web, data_dir)
    auth = session(web)
    number = seal(web, auth, PHOTO, "label.jpg", "photo", CAPTURE)
    case_id = web.post("/api/v1/cases", json={"title": "泄露"}, headers=auth).json()["id"]
    added = web.put(f"/api/v1/cases/{case_id}/items/{number}", json={}, headers=auth)
    assert added.status_code == 200, added.text
    default = link(web, auth, f"/api/v1/cases/{case_id}/shares", clock)
    viewer = TestClient(server.app, raise_server_exceptions=False, client=(VIEWER_IP, 1))
    page = viewer.get(default["url"])
    assert page.status_code == 200 and not leaks(page.text)
    shared = fetch(viewer, f"{default['api_url']}/package", {})
    assert verified(data_dir, shared)["scope"] == "case"
    assert not leaks(manifest_text(shared))

    # The case page's form has the opt-in, off unless ticked.
    form = web.get(f"/cases/{case_id}")
    assert 'name="show_ip_and_location"' in form.text
    assert 'name="show_ip_and_location" value="1" checked' not in form.text
    created = web.post(
        f"/cases/{case_id}/shares",
        data={
            "csrf_token": hidden(form.text, "csrf_token"),
            "days": "3",
            "show_ip_and_location": "1",
        },
    )
    assert created.status_code == 201, created.text
    listed = web.get(f"/api/v1/cases/{case_id}/shares").json()
    assert [s["show_ip_and_location"] for s in listed] == [False, True]
    own = fetch(web, f"/api/v1/cases/{case_id}/package", {})
    assert OWNER_IP in manifest_text(own) and LAT in manifest_text(own)
    assert json.loads(manifest_text(own))["items"][0]["capture"]["location"]["lat"] == LAT
