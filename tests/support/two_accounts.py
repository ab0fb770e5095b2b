"""Two accounts on one running app, for the security suite: account A owns one of every kind of
object (a sealed item, an unfinished upload, share links to the item and to a case, a case
holding the item, a browser recording with a chunk, a session and an API token); B is a
stranger who tries to reach them. :func:`snapshot` is what A can see of all of it, so a test
can assert that nothing B did changed anything. :func:`world` is the fixture (the security
suite's ``conftest.py`` registers it): a running app with A's objects on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import PHONE, log_in, server_database_url
from tests.support.tus import TUS, create_upload, patch_upload
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.tsa.clock import LocalSource

DATA = b"isolation" * 100
A_CASE_TITLE = "甲的案件 A-case-secret"


@dataclass(frozen=True, slots=True)
class World:
    server: TestClient  # the app's own client (the one that ran its lifespan)
    browser: TestClient  # A's browser: holds A's session cookies
    a: dict[str, str]  # A's API token header
    a_csrf: str  # A's session CSRF token
    ids: dict[str, Any]  # A's objects, by the path parameter names that name them
    share_token: str  # the capability of A's item link
    expires: str

    @property
    def number(self) -> str:
        return str(self.ids["number"])


def browser(server: TestClient, ip: str) -> TestClient:
    """Another client on the running app (no ``with``: no second lifespan), over https so the
    session cookie is ``Secure`` as in production."""
    return TestClient(
        server.app,
        base_url="https://testserver",
        client=(ip, 1),
        raise_server_exceptions=False,
        follow_redirects=False,
    )


@pytest.fixture
def world(data_dir: Path, db_url: str) -> Iterator[World]:
    """A's objects on a running app (the server tests' data directory and database); the
    app's lifespan runs once, around the test."""
    settings = ServerSettings(
        database_url=server_database_url(), data_dir=data_dir, clock_source=LocalSource()
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as server:
        yield build_world(server, data_dir)


def build_world(server: TestClient, data_dir: Path) -> World:
    outbox = data_dir / "sms-outbox.log"
    a_browser = browser(server, "10.0.9.1")
    a_login = log_in(a_browser, outbox, PHONE)
    a_token = a_browser.post(
        "/api/v1/account/tokens",
        json={"name": "A's"},
        headers={"X-CSRF-Token": a_login["csrf_token"]},
    ).json()
    a = {"Authorization": f"Bearer {a_token['token']}"}
    url = create_upload(server, a, DATA)
    number = patch_upload(server, a, url, 0, DATA)[1]["timeseal-evidence-number"]
    upload = create_upload(server, a, DATA).rsplit("/", 1)[1]  # left unfinished
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    share = server.post(
        f"/api/v1/evidence/{number}/shares", json={"expires_at": expires}, headers=a
    ).json()
    case = server.post("/api/v1/cases", json={"title": A_CASE_TITLE}, headers=a).json()
    assert server.put(f"/api/v1/cases/{case['id']}/items/{number}", json={}, headers=a).is_success
    server.post(f"/api/v1/cases/{case['id']}/shares", json={"expires_at": expires}, headers=a)
    recording = server.post(
        "/api/v1/recordings",
        json={"kind": "camera_recording", "mime_type": "video/webm", "browser_environment": {}},
        headers=a,
    ).json()["id"]
    chunk = {**a, "Content-Type": "application/octet-stream"}
    assert server.put(
        f"/api/v1/recordings/{recording}/chunks/0", content=DATA, headers=chunk
    ).is_success
    # Which of A's objects each path parameter names (the API's names and the pages').
    # ``share`` is a link's id for DELETE and its token for GET; the token is a capability
    # (whoever holds it may open the link, see test_shares.py), so a stranger tries the id,
    # which must open nothing.
    ids: dict[str, Any] = {
        "session_id": a_login["session"]["id"],
        "token_id": a_token["id"],
        "upload_id": upload,
        "number": number,
        "share": str(share["id"]),
        "case_id": case["id"],
        "recording_id": recording,
        "index": 1,
        "case": case["id"],
        "session": a_login["session"]["id"],
        "token": a_token["id"],
    }
    return World(server, a_browser, a, a_login["csrf_token"], ids, share["token"], expires)


def _without_leaf_indexes(case: dict[str, Any]) -> dict[str, Any]:
    """A case as A sees it, less what the log sequencer fills in meanwhile (each item's
    ``leaf_index`` turns from null to a number within a second of sealing)."""
    items = [{k: v for k, v in item.items() if k != "leaf_index"} for item in case["items"]]
    return {**case, "items": items}


def snapshot(world: World) -> dict[str, Any]:
    """Everything A can see of A's objects (volatile fields left out)."""
    s, a, ids = world.server, world.a, world.ids
    record = s.get(f"/api/v1/evidence/{ids['number']}", headers=a).json()
    recording = s.get(f"/api/v1/recordings/{ids['recording_id']}", headers=a).json()
    upload = s.head(f"/api/v1/uploads/{ids['upload_id']}", headers={**a, **TUS})
    return {
        "evidence": [i["number"] for i in s.get("/api/v1/evidence", headers=a).json()["items"]],
        "record": {k: record.get(k) for k in ("number", "title", "filename", "size", "sha256")},
        "upload": (upload.status_code, upload.headers.get("upload-offset")),
        "cases": s.get("/api/v1/cases", headers=a).json(),
        "case": _without_leaf_indexes(s.get(f"/api/v1/cases/{ids['case_id']}", headers=a).json()),
        "item_shares": [
            (x["id"], x["active"])
            for x in s.get(f"/api/v1/evidence/{ids['number']}/shares", headers=a).json()
        ],
        "case_shares": [
            (x["id"], x["active"])
            for x in s.get(f"/api/v1/cases/{ids['case_id']}/shares", headers=a).json()
        ],
        "tokens": [t["id"] for t in s.get("/api/v1/account/tokens", headers=a).json()],
        "sessions": sorted(x["id"] for x in s.get("/api/v1/account/sessions", headers=a).json()),
        "recording": (recording["state"], recording["chunks"]),
    }
