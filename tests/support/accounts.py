"""Helpers for the accounts tests: an injected clock, the dev SMS outbox, an app with only the
accounts API on a real database (SQLite or a scratch PostgreSQL), a real HTTP server thread."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import typer
import typer.testing
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from tests.support.postgres import postgres_url_or_skip, scratch_database
from tests.support.server import free_port
from timeseal.server.accounts.service import AuthService, SessionPolicy
from timeseal.server.accounts.sms import DevOutbox, SmsProvider
from timeseal.server.api.auth import include_auth
from timeseal.store.db import DATABASE_URL_ENV, create_schema, make_engine
from timeseal.store.login_policy import LoginPolicy

SECRET = bytes(range(32))
START = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)
PHONE = "+8613812345678"
OTHER_PHONE = "+8613987654321"
DATABASES = ("sqlite", "postgresql")


class FakeClock:
    """The time the server sees; tests move it forward instead of sleeping."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self.now += dt.timedelta(**delta)


@contextmanager
def database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'timeseal.db'}"
        return
    with scratch_database(postgres_url_or_skip()) as url:
        yield url


@contextmanager
def migrated_engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    create_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def outbox_entries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def latest_code(outbox: Path, phone: str = PHONE) -> str:
    codes = [e["code"] for e in outbox_entries(outbox) if e["phone"] == phone]
    assert codes, f"no code for {phone} in {outbox}"
    code: str = codes[-1]
    return code


def wrong_code(code: str) -> str:
    """A code that is certainly not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def auth_app(
    engine: Engine,
    outbox: Path,
    clock: FakeClock,
    *,
    sms: SmsProvider | None = None,
    login_policy: LoginPolicy | None = None,
    session_policy: SessionPolicy | None = None,
) -> FastAPI:
    app = FastAPI(title="TimeSeal accounts (test)")
    include_auth(
        app,
        engine=engine,
        secret=SECRET,
        sms=sms or DevOutbox(outbox),
        clock=clock,
        login_policy=login_policy,
        session_policy=session_policy,
    )
    return app


def service_of(app: FastAPI) -> AuthService:
    service = app.state.timeseal_auth
    assert isinstance(service, AuthService)
    return service


def send_code(client: TestClient, phone: str = PHONE) -> None:
    reply = client.post("/api/v1/auth/sms-code", json={"phone": phone})
    assert reply.status_code == 200, reply.text


def log_in(
    client: TestClient,
    outbox: Path,
    phone: str = PHONE,
    *,
    kind: str = "session",
    token_name: str | None = None,
) -> dict[str, Any]:
    """Request a code, read it from the outbox, log in; the JSON answer."""
    send_code(client, phone)
    body: dict[str, Any] = {"phone": phone, "code": latest_code(outbox, phone), "kind": kind}
    if token_name is not None:
        body["token_name"] = token_name
    reply = client.post("/api/v1/auth/login", json=body)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """``app`` on a real HTTP server (uvicorn, loopback, free port) in a thread."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


Answer = str | Callable[[str], str]


class _LazyAnswers(io.RawIOBase):
    """Lines made when they are read: each answer is a function of the newest code in the
    outbox for ``phone`` at that moment (the prompt comes after the server sent it)."""

    def __init__(self, outbox: Path, phone: str, answers: list[Answer]) -> None:
        self._outbox = outbox
        self._phone = phone
        self._answers = list(answers)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            if not self._answers:
                return 0
            answer = self._answers.pop(0)
            if not isinstance(answer, str):
                answer = answer(latest_code(self._outbox, self._phone))
            self._pending = (answer + "\n").encode()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def code_prompt_input(
    outbox: Path, phone: str = PHONE, answers: list[Answer] | None = None
) -> io.BufferedReader:
    """stdin for CliRunner that answers prompts: a string as it is, a function with what it
    makes of the newest code in the outbox. By default one line, the right code."""
    return io.BufferedReader(_LazyAnswers(outbox, phone, answers or [lambda code: code]))


def invoke_answering(
    runner: CliRunner, app: typer.Typer, args: list[str], stdin: io.BufferedReader
) -> Result:
    """``runner.invoke(app, args)`` with ``stdin`` read lazily, line by line, as prompts ask.
    Typer's CliRunner only takes its input as a string fixed before the command runs, but the
    login code does not exist until the command has asked the server for it."""
    with mock.patch.object(typer.testing, "make_input_stream", return_value=stdin):
        return runner.invoke(app, args)


def server_database_url() -> str | None:
    """The database URL the ``db_url`` fixtures export (``$TIMESEAL_DATABASE_URL``), for a
    test's :class:`~timeseal.server.app.ServerSettings`: the server itself reads it only in
    its settings reader."""
    return os.environ.get(DATABASE_URL_ENV) or None


def bearer(client: TestClient, data_dir: Path, phone: str = PHONE) -> dict[str, str]:
    """Log ``phone`` in on ``client`` (the dev SMS outbox in ``data_dir``) and return the
    ``Authorization`` header of a new API token."""
    answer = log_in(client, data_dir / "sms-outbox.log", phone, kind="token", token_name="t")
    return {"Authorization": f"Bearer {answer['token']['token']}"}
