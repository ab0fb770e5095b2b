"""Logging in with an SMS code: the happy path, expiry, reuse, brute force (the back-off), rate
limits, and the error format. Every test runs on SQLite and on PostgreSQL; time is the injected
clock."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from tests.support.accounts import (
    OTHER_PHONE,
    PHONE,
    START,
    FakeClock,
    latest_code,
    log_in,
    outbox_entries,
    send_code,
    wrong_code,
)

EN = {"Accept-Language": "en-US,en;q=0.9,zh-CN;q=0.5"}


def login(client: TestClient, code: str, phone: str = PHONE, **extra: Any) -> httpx2.Response:
    return client.post("/api/v1/auth/login", json={"phone": phone, "code": code, **extra})


def error_of(reply: httpx2.Response) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["message"]
    return error


def test_code_flow_happy_path(client: TestClient, outbox: Path, clock: FakeClock) -> None:
    reply = client.post("/api/v1/auth/sms-code", json={"phone": "138-1234-5678"})
    assert reply.status_code == 200
    assert reply.json() == {"phone": PHONE, "expires_in": 300, "resend_after": 60}
    # The dev provider's outbox: one line per code, readable by the owner only.
    [entry] = outbox_entries(outbox)
    assert entry == {"time": "2026-11-29T08:00:00Z", "phone": PHONE, "code": entry["code"]}
    assert len(entry["code"]) == 6 and entry["code"].isdigit()
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600

    clock.advance(minutes=4)
    reply = login(client, entry["code"], phone="+86 138 1234 5678")
    assert reply.status_code == 200, reply.text
    first = reply.json()
    assert first["kind"] == "session"
    assert first["account"]["phone"] == PHONE
    assert first["account"]["created_at"] == "2026-11-29T08:04:00Z"
    assert reply.headers["cache-control"] == "no-store"

    # One account per number: the next login finds the same one.
    clock.advance(minutes=2)
    second = log_in(client, outbox)
    assert second["account"]["id"] == first["account"]["id"]
    assert second["account"]["created_at"] == first["account"]["created_at"]
    assert second["account"]["last_login_at"] == "2026-11-29T08:06:00Z"
    other = log_in(client, outbox, OTHER_PHONE)
    assert other["account"]["id"] != first["account"]["id"]


def test_the_code_is_stored_only_as_a_keyed_hash(
    client: TestClient, outbox: Path, app: FastAPI
) -> None:
    from sqlalchemy import select

    from tests.support.accounts import service_of
    from timeseal.store.accounts.tables import login_codes

    send_code(client)
    code = latest_code(outbox)
    service = service_of(app)
    with service.accounts.engine.connect() as conn:
        stored = conn.execute(select(login_codes.c.code_hash)).scalar_one()
    assert stored == service.code_hash(PHONE, code)
    assert code.encode() not in stored and len(stored) == 32


def test_an_expired_code_is_refused(client: TestClient, outbox: Path, clock: FakeClock) -> None:
    send_code(client)
    clock.advance(minutes=5)
    reply = login(client, latest_code(outbox))
    assert reply.status_code == 400
    assert error_of(reply)["code"] == "code_expired"


def test_a_code_just_before_expiry_works(
    client: TestClient, outbox: Path, clock: FakeClock
) -> None:
    send_code(client)
    clock.advance(minutes=5, milliseconds=-1)
    assert login(client, latest_code(outbox)).status_code == 200


def test_a_used_code_is_refused(client: TestClient, outbox: Path) -> None:
    send_code(client)
    code = latest_code(outbox)
    assert login(client, code).status_code == 200
    reply = login(client, code, kind="token")
    assert reply.status_code == 400
    assert error_of(reply)["code"] == "code_used"


def test_without_a_code_there_is_nothing_to_redeem(client: TestClient) -> None:
    # Answered like any wrong code, without guesses left: nothing tells whether the number
    # has a code (tests/security/test_login_lockout.py: and nothing is counted).
    reply = login(client, "123456")
    assert reply.status_code == 400
    assert error_of(reply) == {
        "code": "code_invalid",
        "message": "验证码不正确或已失效。",
        "message_zh": "验证码不正确或已失效。",
        "message_en": "The code is wrong or no longer valid.",
    }


def test_a_new_code_replaces_the_previous_one(
    client: TestClient, outbox: Path, clock: FakeClock
) -> None:
    send_code(client)
    old = latest_code(outbox)
    clock.advance(seconds=61)
    send_code(client)
    new = latest_code(outbox)
    if old != new:
        assert error_of(login(client, old))["code"] == "code_invalid"
    assert login(client, new).status_code == 200


def test_each_code_allows_five_guesses(client: TestClient, outbox: Path, clock: FakeClock) -> None:
    send_code(client)
    code = latest_code(outbox)
    for left in (4, 3, 2, 1, 0):
        error = error_of(login(client, wrong_code(code)))
        assert (error["code"], error["attempts_left"]) == ("code_invalid", left)
        clock.advance(seconds=8)  # past this client's back-off (2 s after the third, then 4, 8)
    reply = login(client, code)  # right, but too late
    assert reply.status_code == 400
    assert error_of(reply)["code"] == "code_exhausted"


def test_wrong_codes_slow_that_client_down_and_never_lock_the_number(
    app: FastAPI, outbox: Path, clock: FakeClock
) -> None:
    # Three wrong codes from one client (number and IP) are free; then it waits 2 s, 4 s, 8 s
    # ... (429 with Retry-After, the try not even checked). The number is never locked: the
    # same number from another IP logs in at once.
    with (
        TestClient(app, client=("192.0.2.20", 1)) as guesser,
        TestClient(app, client=("192.0.2.21", 1)) as owner,
    ):
        send_code(owner)
        code = latest_code(outbox)
        for left in (4, 3, 2):
            assert error_of(login(guesser, wrong_code(code)))["attempts_left"] == left
        reply = login(guesser, code)  # even the right code waits: it is not checked
        assert reply.status_code == 429
        assert error_of(reply) == {
            "code": "rate_limited",
            "message": "操作过于频繁，请 2 秒后再试。",
            "message_zh": "操作过于频繁，请 2 秒后再试。",
            "message_en": "Too many requests; try again in 2 seconds.",
            "retry_after": 2,
        }
        assert reply.headers["retry-after"] == "2"
        clock.advance(seconds=2)
        assert error_of(login(guesser, wrong_code(code)))["attempts_left"] == 1
        reply = client_post_en(guesser, wrong_code(code))
        assert error_of(reply)["message"] == "Too many requests; try again in 4 seconds."
        assert reply.headers["retry-after"] == "4"
        # The code still has its last guess, and the owner is not held up at all.
        assert login(owner, code).status_code == 200


def client_post_en(client: TestClient, code: str) -> httpx2.Response:
    return client.post("/api/v1/auth/login", json={"phone": PHONE, "code": code}, headers=EN)


def test_a_success_resets_the_run_of_failures(
    client: TestClient, outbox: Path, clock: FakeClock
) -> None:
    # 3 x 2 wrong codes, each run ended by a success: the client never has to wait (without
    # the reset, the third failure in a row would make it wait before the fourth try).
    for _round in range(3):
        send_code(client)
        code = latest_code(outbox)
        for _ in range(2):
            assert error_of(login(client, wrong_code(code)))["code"] == "code_invalid"
        assert login(client, code).status_code == 200
        clock.advance(seconds=61)


def test_one_code_per_minute_and_ten_per_day_per_number(
    client: TestClient, outbox: Path, clock: FakeClock
) -> None:
    send_code(client)
    clock.advance(seconds=30)
    reply = client.post("/api/v1/auth/sms-code", json={"phone": PHONE}, headers=EN)
    assert reply.status_code == 429
    assert error_of(reply) == {
        "code": "rate_limited",
        "message": "Too many requests; try again in 30 seconds.",
        "message_zh": "操作过于频繁，请 30 秒后再试。",
        "message_en": "Too many requests; try again in 30 seconds.",
        "retry_after": 30,
    }
    assert reply.headers["retry-after"] == "30"
    clock.advance(seconds=30)
    for _ in range(9):  # codes 2..10, a minute apart
        send_code(client)
        clock.advance(seconds=60)
    # Now 8:10; the first code went out at 8:00, so the eleventh waits until 8:00 tomorrow.
    reply = client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    assert reply.status_code == 429
    error = error_of(reply)
    assert (error["code"], error["retry_after"]) == ("rate_limited", 24 * 3600 - 600)
    assert error["message"] == "操作过于频繁，请 1430 分钟后再试。"
    assert len(outbox_entries(outbox)) == 10
    clock.advance(seconds=24 * 3600 - 600)
    send_code(client)  # the window slid past the first code


def test_twenty_codes_per_hour_per_ip(app: FastAPI, outbox: Path, clock: FakeClock) -> None:
    phones = [f"+86139000000{i:02d}" for i in range(21)]
    with (
        TestClient(app, client=("192.0.2.7", 1)) as one,
        TestClient(app, client=("192.0.2.8", 1)) as other,
    ):
        for phone in phones[:20]:
            send_code(one, phone)
            clock.advance(seconds=10)
        reply = one.post("/api/v1/auth/sms-code", json={"phone": phones[20]})
        assert reply.status_code == 429
        error = error_of(reply)
        assert (error["code"], error["retry_after"]) == ("rate_limited", 3600 - 200)
        send_code(other, phones[20])  # another IP is not affected
        clock.advance(seconds=3600 - 200)
        clock.advance(seconds=61)
        send_code(one, phones[0])


def test_thirty_failed_logins_per_hour_per_ip(app: FastAPI, outbox: Path, clock: FakeClock) -> None:
    phones = [f"+86139000000{i:02d}" for i in range(10)]
    with (
        TestClient(app, client=("192.0.2.9", 1)) as attacker,
        TestClient(app, client=("192.0.2.10", 1)) as user,
    ):
        # Only guesses at live codes count: ten numbers with a code, three guesses at each
        # (the free ones of each (number, IP) pair) make 30 failures from one IP.
        for phone in phones:
            send_code(user, phone)
        send_code(user, OTHER_PHONE)
        for phone in phones:
            for _ in range(3):
                reply = login(attacker, wrong_code(latest_code(outbox, phone)), phone=phone)
                assert error_of(reply)["code"] == "code_invalid"
        # 30 failures from this IP: even a correct code is refused from it for a while...
        reply = login(attacker, latest_code(outbox, OTHER_PHONE), phone=OTHER_PHONE)
        assert reply.status_code == 429
        assert error_of(reply)["code"] == "rate_limited"
        # ...but not from elsewhere (the number itself is not locked).
        assert login(user, latest_code(outbox, OTHER_PHONE), phone=OTHER_PHONE).status_code == 200


def test_invalid_numbers_are_refused_in_the_callers_language(
    client: TestClient, outbox: Path
) -> None:
    reply = client.post("/api/v1/auth/sms-code", json={"phone": "12345"})
    assert reply.status_code == 422
    assert error_of(reply) == {
        "code": "invalid_phone",
        "message": "请输入有效的中国大陆手机号（11 位，以 13–19 开头，可带 +86）。",
        "message_zh": "请输入有效的中国大陆手机号（11 位，以 13–19 开头，可带 +86）。",
        "message_en": "Enter a valid mainland China mobile number (11 digits from 13 to 19, "
        "+86 optional).",
    }
    reply = client.post("/api/v1/auth/login", json={"phone": "12345", "code": "1"}, headers=EN)
    assert error_of(reply)["message"].startswith("Enter a valid mainland China mobile number")
    assert not outbox.exists()


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "zh"),
        ("", "zh"),
        ("en", "en"),
        ("en-GB", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR, en;q=0.5", "en"),
        ("fr-FR, de", "zh"),
        ("zh;q=0.4, en;q=0.6", "en"),
        ("en;q=0, zh", "zh"),
        ("en, zh", "en"),
        ("zh, en", "zh"),
        ("*", "zh"),
        ("en;q=abc", "zh"),
        ("english", "zh"),
    ],
)
def test_accept_language(header: str | None, language: str) -> None:
    from timeseal.server.api.errors import preferred_language

    assert preferred_language(header) == language


def test_malformed_requests(client: TestClient) -> None:
    reply = client.post("/api/v1/auth/login", json={"phone": PHONE})
    assert reply.status_code == 422
    assert error_of(reply)["code"] == "invalid_request"
    assert error_of(reply)["fields"] == ["code"]
    reply = client.post("/api/v1/auth/login", json={"phone": PHONE, "code": "1", "kind": "x"})
    assert error_of(reply)["fields"] == ["kind"]
    reply = client.post("/api/v1/auth/sms-code", json={"phone": PHONE, "extra": 1})
    assert error_of(reply)["fields"] == ["extra"]
    # A cross-site HTML form cannot post JSON: other media types are refused.
    reply = client.post(
        "/api/v1/auth/sms-code",
        content=b'{"phone": "13812345678"}',
        headers={"Content-Type": "text/plain"},
    )
    assert reply.status_code == 415
    assert error_of(reply)["code"] == "unsupported_media_type"
    reply = client.get("/api/v1/no-such-thing")
    assert (reply.status_code, error_of(reply)["code"]) == (404, "not_found")
    reply = client.get("/api/v1/auth/login")
    assert (reply.status_code, error_of(reply)["code"]) == (405, "method_not_allowed")


def test_openapi_documents_every_route_and_its_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert sorted(paths) == [
        "/api/v1/account",
        "/api/v1/account/sessions",
        "/api/v1/account/sessions/{session_id}",
        "/api/v1/account/tokens",
        "/api/v1/account/tokens/{token_id}",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/sms-code",
    ]
    assert set(spec["components"]["securitySchemes"]) == {"apiToken", "sessionCookie"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method)
            if path.startswith("/api/v1/account") or path.endswith("logout"):
                assert "401" in operation["responses"], (path, method)
                assert operation["security"] == [{"apiToken": []}, {"sessionCookie": []}]


def test_times_are_the_injected_clock(client: TestClient, outbox: Path) -> None:
    result = log_in(client, outbox)
    assert result["session"]["created_at"] == START.isoformat().replace("+00:00", "Z")
