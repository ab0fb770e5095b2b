"""A service's refusal is answered as the API's JSON error, with its status from one table."""

from __future__ import annotations

import ast
from pathlib import Path

from fastapi import FastAPI
from starlette.testclient import TestClient

import timeseal.server.app  # noqa: F401  (every room registers its error messages)
from timeseal.server.api.errors import REFUSAL_STATUS, ApiError, install_error_handlers
from timeseal.server.api.messages import MESSAGES
from timeseal.server.refusal import Refusal
from timeseal.store.login_policy import CodeProblem

SERVER = Path(__file__).resolve().parents[3] / "src" / "timeseal" / "server"
HTTP_ROOMS = ("api", "web")


def _literal_refusal_codes() -> set[str]:
    """The codes of every ``Refusal("…")`` raised outside the HTTP rooms."""
    codes: set[str] = set()
    for path in SERVER.rglob("*.py"):
        if path.relative_to(SERVER).parts[0] in HTTP_ROOMS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Refusal"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(code := node.args[0].value, str)
            ):
                codes.add(code)
    return codes


def test_every_refusal_of_a_service_has_a_status_and_a_message() -> None:
    literal = _literal_refusal_codes()
    assert {"not_found", "rate_limited", "share_code_invalid", "sms_unavailable"} <= literal
    # AuthService.redeem_code refuses with the problem's value (no live code: as a wrong one).
    problems = {p.value for p in CodeProblem if p is not CodeProblem.NO_LIVE_CODE}
    assert literal | problems <= set(REFUSAL_STATUS)
    assert set(REFUSAL_STATUS) <= set(MESSAGES)


def _client(raised: Refusal) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/v1/refuse")
    async def refuse() -> None:
        raise raised

    return TestClient(app)


def test_a_refusal_is_answered_like_the_api_error_of_its_status() -> None:
    for refusal, twin in [
        (
            Refusal("rate_limited", retry_after=2.5),
            ApiError("rate_limited", 429, retry_after=2.5),
        ),
        (
            Refusal("share_code_invalid", attempts_left=2),
            ApiError("share_code_invalid", 403, attempts_left=2),
        ),
        (Refusal("share_expired"), ApiError("share_expired", 410)),
    ]:
        got, want = _client(refusal).get("/api/v1/refuse"), _client(twin).get("/api/v1/refuse")
        assert (got.status_code, got.json()) == (want.status_code, want.json())
        assert got.headers.get("retry-after") == want.headers.get("retry-after")
        assert got.headers["cache-control"] == "no-store"
    answer = _client(Refusal("rate_limited", retry_after=2.5)).get("/api/v1/refuse")
    assert answer.headers["retry-after"] == "3"
    assert answer.json()["error"]["retry_after"] == 3
