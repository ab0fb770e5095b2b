"""``/api/v1/public/evidence``: a sealed record's public facts by number and by content hash,
without logging in; never the title, file name, media type, capture data or owner."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import PHONE
from tests.unit.server.web.conftest import DATA, Sealed, seal, wait_sequenced
from timeseal.core.evidence.number import new_evidence_number
from timeseal.core.tsp.response import parse_response

FACT_FIELDS = {
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
PRIVATE = ("合同", "secret", "私密", "private title", "application/pdf", PHONE, "owner")


def loose_forms(number: str) -> list[str]:
    return [number, number.lower(), number.replace("-", ""), f" {number.lower()} "]


def test_public_facts_of_a_sealed_record(anonymous: TestClient, sealed: Sealed) -> None:
    wait_sequenced(anonymous, sealed.number)
    answers = [anonymous.get(f"/api/v1/public/evidence/{n}") for n in loose_forms(sealed.number)]
    assert [a.status_code for a in answers] == [200] * 4
    facts = answers[0].json()
    assert all(a.json() == facts for a in answers)
    assert set(facts) == FACT_FIELDS
    tst = parse_response(sealed.tsr).token
    assert tst is not None
    assert facts["number"] == sealed.number
    assert facts["kind"] == "document"
    assert facts["size"] == len(DATA)
    assert facts["sha256"] == sealed.sha256
    assert facts["timestamp"]["serial_number"] == format(tst.tst_info.serial_number, "x")
    assert facts["timestamp"]["gen_time"].startswith(tst.tst_info.gen_time.strftime("%Y-%m-%dT"))
    assert facts["timestamp"]["policy"] == tst.tst_info.policy
    assert facts["timestamp"]["hash_algorithm"] == "sha256"
    assert facts["timestamp"]["token_sha256"] == hashlib.sha256(tst.der).hexdigest()
    assert facts["log"]["sequenced"] is True and isinstance(facts["log"]["leaf_index"], int)
    assert facts["status"] == "sealed" and facts["superseded_by"] == []
    assert facts["supersedes"] is None
    for text in PRIVATE:
        assert text not in answers[0].text, text


def test_a_superseded_record_says_by_which(
    app_client: TestClient, anonymous: TestClient, sealed: Sealed
) -> None:
    newer, _ = seal(app_client, sealed.auth, DATA + b"corrected", supersedes=sealed.number)
    old = anonymous.get(f"/api/v1/public/evidence/{sealed.number}").json()
    assert old["status"] == "superseded" and old["superseded_by"] == [newer]
    new = anonymous.get(f"/api/v1/public/evidence/{newer}").json()
    assert new["status"] == "sealed" and new["supersedes"] == sealed.number


def test_lookup_by_content_hash(
    app_client: TestClient, anonymous: TestClient, sealed: Sealed
) -> None:
    again, _ = seal(app_client, sealed.auth, DATA)  # the same bytes sealed twice
    for query in (sealed.sha256, sealed.sha256.upper()):
        reply = anonymous.get("/api/v1/public/evidence", params={"sha256": query})
        assert reply.status_code == 200
        body = reply.json()
        assert body["sha256"] == sealed.sha256
        assert [i["number"] for i in body["items"]] == [sealed.number, again]
        assert all(set(i) == FACT_FIELDS for i in body["items"])
        for text in PRIVATE:
            assert text not in reply.text, text
    one_byte_off = bytearray(DATA)
    one_byte_off[7] ^= 1
    other = hashlib.sha256(bytes(one_byte_off)).hexdigest()
    reply = anonymous.get("/api/v1/public/evidence", params={"sha256": other})
    assert reply.json() == {"sha256": other, "items": []}


@pytest.mark.parametrize(
    ("language", "message"),
    [(None, "请求格式不正确：query.sha256"), ("en", "The request is malformed: query.sha256")],
)
@pytest.mark.parametrize("bad", ["", "zz", "a" * 63, "a" * 65, "g" * 64])
def test_lookup_rejects_what_is_not_a_sha256(
    anonymous: TestClient, bad: str, language: str | None, message: str
) -> None:
    headers = {"Accept-Language": language} if language else {}
    reply = anonymous.get("/api/v1/public/evidence", params={"sha256": bad}, headers=headers)
    assert reply.status_code == 422
    assert reply.json()["error"] == {
        "code": "invalid_request",
        "message": message,
        "message_zh": "请求格式不正确：query.sha256",
        "message_en": "The request is malformed: query.sha256",
        "fields": ["query.sha256"],
    }


@pytest.mark.parametrize(
    ("language", "message"),
    [(None, "找不到该资源。"), ("zh-CN,en;q=0.5", "找不到该资源。"), ("en-US", "Not found.")],
)
def test_unknown_and_malformed_numbers_are_404(
    anonymous: TestClient, sealed: Sealed, language: str | None, message: str
) -> None:
    unknown = new_evidence_number(dt.date(2026, 11, 29), "7Q4KM2X")
    headers = {"Accept-Language": language} if language else {}
    for number in (unknown, "nonsense", "TS-" + "9" * 60):
        reply = anonymous.get(f"/api/v1/public/evidence/{number}", headers=headers)
        assert reply.status_code == 404, number
        assert reply.json() == {
            "error": {
                "code": "not_found",
                "message": message,
                "message_zh": "找不到该资源。",
                "message_en": "Not found.",
            }
        }


def test_a_missing_or_wrong_check_character_is_named(anonymous: TestClient, sealed: Sealed) -> None:
    number = sealed.number
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    cases = [
        (number[:-1], "evidence_number_check_missing", "the last character is a check character"),
        (number[:-1].lower().replace("-", ""), "evidence_number_check_missing", "check character"),
        (wrong, "evidence_number_check_mismatch", "a typo?"),
    ]
    for typed, code, words in cases:
        reply = anonymous.get(f"/api/v1/public/evidence/{typed}")
        assert reply.status_code == 400, typed
        error = reply.json()["error"]
        assert error["code"] == code
        assert words in error["message_en"]
        assert "校验字符" in error["message_zh"]
    # found however it is typed: lowercase, no dashes
    typed = number.lower().replace("-", "")
    assert anonymous.get(f"/api/v1/public/evidence/{typed}").json()["number"] == number


def test_openapi_documents_the_public_routes(anonymous: TestClient) -> None:
    spec = anonymous.get("/openapi.json").json()
    one = spec["paths"]["/api/v1/public/evidence/{number}"]["get"]
    assert one["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PublicEvidence"
    }
    assert "404" in one["responses"]
    assert "security" not in one
    many = spec["paths"]["/api/v1/public/evidence"]["get"]
    assert many["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PublicEvidenceMatches"
    }
    assert set(spec["components"]["schemas"]["PublicEvidence"]["properties"]) == FACT_FIELDS
    assert not any(p.startswith(("/verify", "/static")) for p in spec["paths"])


def test_the_vault_api_names_a_missing_check_character(
    anonymous: TestClient, sealed: Sealed
) -> None:
    cut = sealed.number[:-1]
    reply = anonymous.get(f"/api/v1/evidence/{cut.lower()}", headers=sealed.auth)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "evidence_number_check_missing"
    whole = anonymous.get(f"/api/v1/evidence/{sealed.number.lower()}", headers=sealed.auth)
    assert whole.status_code == 200
