"""Isolation over the whole application: for every ``/api/v1`` operation in /openapi.json whose
path takes an id, a second account gets 404 ``not_found`` for the first account's object, and
the object is still there afterwards. Table-driven: a route added later is covered by itself,
and fails here until this file says which of A's objects its path parameter names."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import OTHER_PHONE, PHONE, log_in
from tests.unit.server.test_vault import TUS, bearer, create, patch
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.clock import LocalSource

DATA = b"isolation" * 100

#: Routes whose ids name nothing an account owns, and why. Keep this list short.
PUBLIC = {
    "/api/v1/log/leaf-index/{leaf_hash}": "the transparency log is public by design",
}
#: Routes public by design that do take the id of an account's object: anyone may read the
#: record's public facts (the verify page). They answer B, but must never leak A's data:
#: ``check_every_route`` asserts the answer holds only these fields and none of A's.
PUBLIC_FACTS = {
    "/api/v1/public/evidence/{number}": "public facts of a sealed record, for the verify page",
}
PUBLIC_FACT_FIELDS = {
    "number",
    "kind",
    "size",
    "sha256",
    "sealed_at",
    "timestamp",
    "log",
    "status",
    "superseded_by",
    "supersedes",
}


@pytest.fixture
def server(data_dir: Path, db_url: str) -> Iterator[TestClient]:
    settings = ServerSettings(data_dir=data_dir, clock_source=LocalSource())
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("b_via", ["token", "session"])
def test_another_accounts_ids_are_404_on_every_api_route(
    server: TestClient, data_dir: Path, b_via: str
) -> None:
    outbox = data_dir / "sms-outbox.log"
    # Extra clients on the running app: no ``with``, so no second lifespan.
    browser = TestClient(server.app, base_url="https://testserver", client=("10.0.9.1", 1))
    a_login = log_in(browser, outbox, PHONE)
    a_token = browser.post(
        "/api/v1/account/tokens",
        json={"name": "A's"},
        headers={"X-CSRF-Token": a_login["csrf_token"]},
    ).json()
    a = {"Authorization": f"Bearer {a_token['token']}"}
    a_number = patch(server, a, create(server, a, DATA), 0, DATA)[1]["timeseal-evidence-number"]
    a_upload = create(server, a, DATA).rsplit("/", 1)[1]  # left unfinished
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    a_share = server.post(
        f"/api/v1/evidence/{a_number}/shares", json={"expires_at": expires}, headers=a
    ).json()
    a_case = server.post("/api/v1/cases", json={"title": "A's case"}, headers=a).json()
    assert server.put(
        f"/api/v1/cases/{a_case['id']}/items/{a_number}", json={}, headers=a
    ).is_success
    server.post(f"/api/v1/cases/{a_case['id']}/shares", json={"expires_at": expires}, headers=a)
    a_recording = server.post(
        "/api/v1/recordings",
        json={"kind": "camera_recording", "mime_type": "video/webm", "browser_environment": {}},
        headers=a,
    ).json()["id"]
    chunk = {**a, "Content-Type": "application/octet-stream"}
    assert server.put(
        f"/api/v1/recordings/{a_recording}/chunks/0", content=DATA, headers=chunk
    ).is_success
    # Which of A's objects each path parameter names. ``share`` is a link's id for DELETE and
    # its token for GET; the token is a capability (whoever holds it may open the link, see
    # test_shares.py), so here B tries the id, which must open nothing.
    a_ids = {
        "session_id": a_login["session"]["id"],
        "token_id": a_token["id"],
        "upload_id": a_upload,
        "number": a_number,
        "share": str(a_share["id"]),
        "case_id": a_case["id"],
        "recording_id": a_recording,
        "index": 1,
    }

    if b_via == "token":
        b_headers = bearer(server, data_dir, OTHER_PHONE)
        b = server
    else:
        b = TestClient(server.app, base_url="https://testserver", client=("10.0.9.2", 1))
        b_headers = {"X-CSRF-Token": log_in(b, outbox, OTHER_PHONE)["csrf_token"]}
    b_headers = {**b_headers, **TUS}  # so tus routes get as far as the ownership check

    check_every_route(server, b, b_headers, a, a_ids, expires)
    assert server.get(f"/api/v1/shares/{a_share['token']}").status_code == 200


def check_no_owner_data(reply: Any, a_number: str) -> None:
    assert reply.status_code == 200, reply.text
    check_no_owner_data_in(reply.json(), reply.text, a_number)


def check_no_owner_data_in(facts: dict[str, Any], text: str, a_number: str) -> None:
    """Only public facts: no title, file name, media type, capture data, owner or phone."""
    assert facts["number"] == a_number
    assert set(facts) == PUBLIC_FACT_FIELDS, set(facts) ^ PUBLIC_FACT_FIELDS
    for secret in ("clip.mp4", "证据", "\\u8bc1", "video/mp4", "owner", "phone", PHONE):
        assert secret not in text, secret


def check_every_route(
    server: TestClient,
    b: TestClient,
    b_headers: dict[str, str],
    a: dict[str, str],
    a_ids: dict[str, Any],
    expires: str,
) -> None:
    a_number, a_upload = a_ids["number"], a_ids["upload_id"]
    spec = server.get("/openapi.json").json()
    checked = []
    for path, operations in spec["paths"].items():
        names = re.findall(r"\{(\w+)\}", path)
        if not names or not path.startswith("/api/v1/") or path in PUBLIC:
            continue
        if path in PUBLIC_FACTS:
            assert list(operations) == ["get"], (path, list(operations))
            check_no_owner_data(b.get(path.format(**a_ids), headers=b_headers), a_number)
            checked.append(("get", path))
            continue
        for method in operations:
            unknown = set(names) - set(a_ids)
            assert not unknown, f"{method.upper()} {path}: say which of A's objects {unknown} is"
            url = path.format(**a_ids)
            body: dict[str, Any] | None = (
                {"expires_at": expires} if method in ("post", "put", "patch") else None
            )
            if path.endswith("/finish"):
                body = {"chunks": 1}  # well-formed, so that only the owner check can refuse
            reply = b.request(method.upper(), url, headers=b_headers, json=body)
            assert reply.status_code == 404, (method, url, reply.status_code, reply.text)
            if method != "head":
                assert reply.json()["error"]["code"] == "not_found", (method, url)
            checked.append((method, path))
    # The lookup by content hash takes no id, but answers with A's record: no owner data either.
    by_hash = b.get(f"/api/v1/public/evidence?sha256={hashlib.sha256(DATA).hexdigest()}")
    assert by_hash.status_code == 200
    [item] = by_hash.json()["items"]
    check_no_owner_data_in(item, by_hash.text, a_number)
    assert len(checked) >= 10, checked
    assert {p for _, p in checked} >= {
        "/api/v1/account/sessions/{session_id}",
        "/api/v1/uploads/{upload_id}",
        "/api/v1/evidence/{number}",
        "/api/v1/evidence/{number}/shares",
        "/api/v1/shares/{share}",
        "/api/v1/public/evidence/{number}",
        "/api/v1/cases/{case_id}",
        "/api/v1/cases/{case_id}/items/{number}",
        "/api/v1/cases/{case_id}/shares",
        "/api/v1/recordings/{recording_id}",
        "/api/v1/recordings/{recording_id}/chunks/{index}",
        "/api/v1/recordings/{recording_id}/finish",
        "/api/v1/recordings/{recording_id}/chain.zip",
    }
    # A's objects are untouched.
    assert server.get(f"/api/v1/evidence/{a_number}", headers=a).status_code == 200
    assert server.head(f"/api/v1/uploads/{a_upload}", headers={**a, **TUS}).status_code == 200
    shares = server.get(f"/api/v1/evidence/{a_number}/shares", headers=a).json()
    assert [s["active"] for s in shares] == [True]
    assert [t["id"] for t in server.get("/api/v1/account/tokens", headers=a).json()] == [
        a_ids["token_id"]
    ]
    a_case = server.get(f"/api/v1/cases/{a_ids['case_id']}", headers=a).json()
    assert [i["number"] for i in a_case["items"]] == [a_number]
    assert len(server.get(f"/api/v1/cases/{a_ids['case_id']}/shares", headers=a).json()) == 1
    recording = server.get(f"/api/v1/recordings/{a_ids['recording_id']}", headers=a).json()
    assert (recording["state"], recording["chunks"]) == ("recording", 1)
    # And B's lists show none of them.
    assert b.get("/api/v1/evidence", headers=b_headers).json() == {"items": []}
    assert b.get("/api/v1/cases", headers=b_headers).json() == []
    filtered = b.get(f"/api/v1/evidence?case={a_ids['case_id']}", headers=b_headers)
    assert filtered.status_code == 404
