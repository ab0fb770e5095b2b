"""Cases through the real application: assembling items into a chain, notes and order, the
evidence-list filters, sharing a case, and deleting one; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import OTHER_PHONE, FakeClock, bearer
from tests.unit.server import test_shares
from tests.unit.server.test_shares import custody, error, seal
from timeseal.core.evidence.number import parse_evidence_number
from timeseal.store import cases as case_store

# The share tests' fixtures: one server per test on SQLite and on PostgreSQL, and its clock.
clock = test_shares.clock
server = test_shares.server


def new_case(client: TestClient, auth: dict[str, str], title: str = "泄露个人信息") -> int:
    reply = client.post(
        "/api/v1/cases", json={"title": title, "description": "某店铺"}, headers=auth
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["item_count"] == 0
    case_id: int = reply.json()["id"]
    return case_id


def put_item(
    client: TestClient, auth: dict[str, str], case_id: int, number: str, **body: Any
) -> dict[str, Any]:
    reply = client.put(f"/api/v1/cases/{case_id}/items/{number}", json=body, headers=auth)
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def test_assemble_a_case(server: TestClient, data_dir: Path) -> None:
    auth = bearer(server, data_dir)
    chat, video, later = (seal(server, auth, f"item {i}".encode() * 500) for i in range(3))
    case_id = new_case(server, auth)

    put_item(server, auth, case_id, video, note="快递员念出地址")
    detail = put_item(server, auth, case_id, chat.lower().replace("-", ""), note="客服聊天")
    assert [(i["number"], i["position"], i["note"]) for i in detail["items"]] == [
        (video, 1, "快递员念出地址"),
        (chat, 2, "客服聊天"),
    ]
    # Putting an item again changes its note (or keeps it) and never duplicates it.
    put_item(server, auth, case_id, video)
    detail = put_item(server, auth, case_id, video, note="快递员念出完整地址")
    assert [(i["number"], i["note"]) for i in detail["items"]] == [
        (video, "快递员念出完整地址"),
        (chat, "客服聊天"),
    ]
    assert detail["item_count"] == 2 and detail["items"][0]["sha256"]

    renamed = server.patch(f"/api/v1/cases/{case_id}", json={"title": "个人信息泄露"}, headers=auth)
    assert renamed.status_code == 200
    assert (renamed.json()["title"], renamed.json()["description"]) == ("个人信息泄露", "某店铺")
    listing = server.get("/api/v1/cases", headers=auth).json()
    assert [(c["id"], c["item_count"]) for c in listing] == [(case_id, 2)]

    # The evidence list filters by case, kind, time and text.
    def numbers(query: str) -> set[str]:
        reply = server.get(f"/api/v1/evidence?{query}", headers=auth)
        assert reply.status_code == 200, reply.text
        return {i["number"] for i in reply.json()["items"]}

    assert numbers(f"case={case_id}") == {chat, video}
    assert numbers("kind=video") == {chat, video, later}  # test_vault uploads as "video"
    assert numbers("kind=photo") == set()
    assert numbers(f"q={later[-4:]}") == {later}
    assert numbers("q=clip.MP4") == {chat, video, later}  # the file name, any case
    assert numbers("q=50%25") == set()  # "%" is matched literally
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert numbers(f"sealed_from={future.replace('+', '%2B')}") == set()
    assert numbers(f"sealed_before={future.replace('+', '%2B')}") == {chat, video, later}
    assert error(server.get("/api/v1/evidence?case=999999", headers=auth)) == (404, "not_found")

    # Taking an item out leaves the record itself alone.
    assert server.delete(f"/api/v1/cases/{case_id}/items/{video}", headers=auth).status_code == 204
    missing = server.delete(f"/api/v1/cases/{case_id}/items/{video}", headers=auth)
    assert error(missing) == (404, "not_found")
    assert server.get(f"/api/v1/evidence/{video}", headers=auth).status_code == 200
    assert numbers(f"case={case_id}") == {chat}


def test_only_own_items_and_bad_input(server: TestClient, data_dir: Path) -> None:
    auth = bearer(server, data_dir)
    other = bearer(server, data_dir, OTHER_PHONE)
    theirs = seal(server, other)
    case_id = new_case(server, auth)
    assert error(server.put(f"/api/v1/cases/{case_id}/items/{theirs}", json={}, headers=auth)) == (
        404,
        "not_found",
    )
    bad = server.put(f"/api/v1/cases/{case_id}/items/TS-nonsense", json={}, headers=auth)
    assert error(bad) == (404, "not_found")
    assert server.post("/api/v1/cases", json={"title": ""}, headers=auth).status_code == 422
    assert server.get("/api/v1/cases/0", headers=auth).status_code == 422
    assert server.get(f"/api/v1/cases/{2**63}", headers=auth).status_code == 422
    assert server.get("/api/v1/cases", headers=other).json() == []


def test_a_full_case_says_so(
    server: TestClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(case_store, "MAX_CASE_ITEMS", 2)
    auth = bearer(server, data_dir)
    numbers = [seal(server, auth, f"n{i}".encode() * 100) for i in range(3)]
    case_id = new_case(server, auth)
    for number in numbers[:2]:
        put_item(server, auth, case_id, number)
    full = server.put(f"/api/v1/cases/{case_id}/items/{numbers[2]}", json={}, headers=auth)
    assert error(full) == (409, "case_full")
    assert server.get(f"/api/v1/cases/{case_id}", headers=auth).json()["item_count"] == 2


def test_share_a_case_then_delete_it(server: TestClient, data_dir: Path, clock: FakeClock) -> None:
    auth = bearer(server, data_dir)
    first = seal(server, auth, b"first" * 400)
    second = seal(server, auth, b"second" * 400)
    case_id = new_case(server, auth)
    put_item(server, auth, case_id, first, note="one")
    expires = (clock() + dt.timedelta(days=3)).isoformat()
    created = server.post(
        f"/api/v1/cases/{case_id}/shares",
        json={"expires_at": expires, "label": "律师", "access_code": "246810"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    link = created.json()
    assert (link["scope"], link["case_id"], link["evidence_number"]) == ("case", case_id, None)
    assert [
        (s["id"], s["active"])
        for s in server.get(f"/api/v1/cases/{case_id}/shares", headers=auth).json()
    ] == [(link["id"], True)]
    # An item added after the link was made is shown too: the link shares the case as it is.
    put_item(server, auth, case_id, second, note="two")

    anyone = TestClient(server.app, client=("203.0.113.9", 1))
    code = {"TimeSeal-Share-Code": "246810"}
    assert error(anyone.get(link["api_url"])) == (403, "share_code_required")
    opened = anyone.get(link["api_url"], headers=code)
    assert opened.status_code == 200, opened.text
    shared = opened.json()
    assert shared["scope"] == "case" and shared["title"] == "泄露个人信息"
    assert [(i["number"], i["note"]) for i in shared["items"]] == [(first, "one"), (second, "two")]
    assert all(i["timestamp_response"] and i["log_entry"] for i in shared["items"])
    content = anyone.get(shared["items"][1]["content_url"], headers={**code, "Range": "bytes=0-5"})
    assert (content.status_code, content.content) == (206, b"second")
    # Only the case's items, and not through the single-item path.
    outsider = seal(server, auth, b"not in the case")
    item_url = f"/api/v1/shares/{link['token']}/items/{outsider}/content"
    assert error(anyone.get(item_url, headers=code)) == (404, "not_found")
    whole = f"/api/v1/shares/{link['token']}/content"
    assert error(anyone.get(whole, headers=code)) == (404, "not_found")
    # Sharing, and adding an item to a shared case, are in each item's custody trail.
    assert custody(server, auth, first).count(("shared", "198.51.100.7")) == 1
    assert custody(server, auth, second).count(("shared", "198.51.100.7")) == 1
    # Two opens by one client on one day: one aggregated custody row (its count is checked in
    # tests/security/test_custody_growth.py).
    assert custody(server, auth, second).count(("share_opened", "203.0.113.9")) == 1

    # Deleting the case keeps its items and ends its links.
    assert server.delete(f"/api/v1/cases/{case_id}", headers=auth).status_code == 204
    assert error(server.get(f"/api/v1/cases/{case_id}", headers=auth)) == (404, "not_found")
    assert error(anyone.get(link["api_url"], headers=code)) == (404, "not_found")
    assert server.get(f"/api/v1/evidence/{first}", headers=auth).status_code == 200
    assert server.get("/api/v1/cases", headers=auth).json() == []


def test_the_cases_holding_an_item(server: TestClient, data_dir: Path) -> None:
    """``CaseStore.holding`` (an item's page lists its cases): the owner's live cases that hold
    the record, last changed first; not deleted ones, not another record's."""
    auth = bearer(server, data_dir)
    item, other = (seal(server, auth, f"held {i}".encode() * 500) for i in range(2))
    first, second, gone, unrelated = (new_case(server, auth, f"案件{i}") for i in range(4))
    for case_id in (first, second, gone):
        put_item(server, auth, case_id, item)
    put_item(server, auth, unrelated, other)
    time.sleep(0.01)  # times are kept in milliseconds: make "last changed" unambiguous
    put_item(server, auth, first, item, note="changed last")
    assert server.delete(f"/api/v1/cases/{gone}", headers=auth).status_code == 204
    vault = server.app.app.state.timeseal_vault  # type: ignore[attr-defined]
    record = vault.store.get(parse_evidence_number(item))
    held = vault.cases.holding(record.owner_id, record.id)
    assert [c.id for c in held] == [first, second]
    assert vault.cases.holding(record.owner_id + 1, record.id) == []
