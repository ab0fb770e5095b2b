"""Malformed input on every endpoint (issue 12, point 9): schemathesis against /openapi.json of
the real application. Every ``/api/v1`` operation (the test fails if one is left out or
cannot be read), authenticated with an API token from a real login (dev SMS outbox), gets
generated requests twice: once as generated, once with its path parameters replaced by the
ids of real objects of the account (a sealed item, an unfinished upload, a case holding the
item, share links, a recording), so that the generated headers, queries and bodies reach the
code behind the ownership check. No answer may be a server error (5xx), and answers must use
documented status codes, content types and schemas. Examples are derandomized and bounded
(:data:`MAX_EXAMPLES` per operation and pass): under a minute of CPU.

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

from tests.security.test_cross_account import ACCESS
from tests.support.accounts import log_in, server_database_url
from tests.support.tus import TUS
from tests.support.two_accounts import World, build_world
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.runtime import datadir
from timeseal.server.tsa.clock import LocalSource
from timeseal.store.db import DATABASE_URL_ENV

MAX_EXAMPLES = 15
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
    def __init__(self, client: TestClient, outbox: Path, world: World) -> None:
        self.client = client
        self.outbox = outbox
        self.headers: dict[str, str] = dict(world.a)
        self.real_ids = world.ids
        self.share_token = world.share_token
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
    app = create_app(
        ServerSettings(
            database_url=server_database_url(), data_dir=data_dir, clock_source=LocalSource()
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Fuzzed(client, data_dir / "sms-outbox.log", build_world(client, data_dir))


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
    documented = {(m, p) for m, p in ACCESS if m != "OPTIONS"}  # OPTIONS: hidden tus discovery
    assert {(o.method.upper(), o.path) for o in operations} == documented
    # First the account's own objects, while its token lives: deletions last, and the one
    # that revokes the token itself the very last.
    with_ids = [o for o in operations if {p.name for p in o.path_parameters} & set(fuzzed.real_ids)]
    with_ids.sort(key=lambda o: (o.method.upper() == "DELETE", "/account/" in o.path))
    for operation in with_ids:
        fuzz_operation(fuzzed, operation, real=True)
    for operation in operations:
        fuzz_operation(fuzzed, operation, real=False)


def fuzz_operation(fuzzed: Fuzzed, operation: Any, *, real: bool) -> None:
    """Generated requests to ``operation``; with ``real``, its path names the account's own
    objects."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case: Any) -> None:
        if real:
            ids = dict(fuzzed.real_ids)
            if operation.path.startswith("/api/v1/shares/") and operation.method.upper() == "GET":
                ids["share"] = fuzzed.share_token  # a link opens by its token, not its id
            case.path_parameters = {k: ids.get(k, v) for k, v in case.path_parameters.items()}
        # Tus-Resumable too, so that generated tus requests get past the version check.
        headers = {**TUS, **(case.headers or {}), **fuzzed.ensure_auth()}
        # A certificate is issued on first request: fonts cut, a frame taken (seconds).
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=120)

    fuzz()
