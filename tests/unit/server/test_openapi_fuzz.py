"""schemathesis against /openapi.json: every ``/api/v1`` operation of the real application,
authenticated with an API token from a real login (dev SMS outbox), gets generated requests;
no answer may be a server error (5xx), and answers must use documented status codes, content
types and schemas. The number of examples per operation is bounded to keep this under a minute.

Fuzzing may revoke the token it runs with (``POST /auth/logout``, ``DELETE
/account/tokens/{id}``), so each case checks its credentials first and, when they are gone,
logs in again as a new phone number from a new address (the login rate limits are per number
and per address)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support.accounts import log_in
from timeseal.server import datadir
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.clock import LocalSource
from timeseal.store.db import DATABASE_URL_ENV

MAX_EXAMPLES = 30
_numbers = itertools.count(1)


class _NoLifespan:
    """The app without its lifespan: the fixture's TestClient runs that, once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.app(scope, receive, send)


class Fuzzed:
    def __init__(self, client: TestClient, outbox: Path) -> None:
        self.client = client
        self.outbox = outbox
        self.headers: dict[str, str] = {}
        self.ensure_auth()

    def ensure_auth(self) -> dict[str, str]:
        if self.headers and self.client.get("/api/v1/account", headers=self.headers).is_success:
            return self.headers
        n = next(_numbers)
        fresh = TestClient(self.client.app, client=(f"10.77.{n // 250}.{n % 250 + 1}", 1))
        answer = log_in(fresh, self.outbox, f"+861390000{n:04d}", kind="token")
        self.headers = {"Authorization": f"Bearer {answer['token']['token']}"}
        return self.headers


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[Fuzzed]:
    monkeypatch_module.delenv(DATABASE_URL_ENV, raising=False)
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    datadir.initialise(data_dir, now=dt.datetime.now(dt.UTC))
    app = create_app(ServerSettings(data_dir=data_dir, clock_source=LocalSource()))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Fuzzed(client, data_dir / "sms-outbox.log")


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_server_errors_and_documented_answers(fuzzed: Fuzzed) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", _NoLifespan(fuzzed.client.app))
    results = list(schema.include(path_regex=r"^/api/v1/").get_all_operations())
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) == len(results), "the schema has operations schemathesis cannot read"
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: Any) -> None:
            headers = {**(case.headers or {}), **fuzzed.ensure_auth()}
            case.call_and_validate(headers=headers, checks=CHECKS)

        fuzz()
