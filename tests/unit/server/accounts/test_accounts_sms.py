"""SMS providers (the dev outbox, the webhook against a real local HTTP server), the ``sms``
section of config.json, and the server secret in the data directory."""

from __future__ import annotations

import datetime as dt
import json
import logging
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.support.accounts import PHONE, START, FakeClock, auth_app
from tests.support.server import free_port
from timeseal.server.accounts.sms import (
    DevOutbox,
    SmsDeliveryError,
    SmsMessage,
    WebhookProvider,
    sms_provider,
)
from timeseal.server.runtime import datadir, platform_keys
from timeseal.server.runtime.configuration import Config, DataDirError, SmsConfig

MESSAGE = SmsMessage(PHONE, "042137", START, START + dt.timedelta(minutes=5))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Gateway:
    """A real HTTP server on loopback standing in for an SMS gateway."""

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200


@contextmanager
def sms_gateway() -> Iterator[Gateway]:
    gateway = Gateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            headers = {k.lower(): v for k, v in self.headers.items()}
            gateway.received.append(Received(self.path, headers, body))
            self.send_response(gateway.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}/sms/send"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- webhook ----------------------------------------------------------------------------


def test_webhook_posts_the_message_as_json() -> None:
    with sms_gateway() as gateway:
        WebhookProvider(gateway.url, token="s3cret").send(MESSAGE)
    [request] = gateway.received
    assert request.path == "/sms/send"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("timeseal/")
    assert request.body == {
        "phone": PHONE,
        "code": "042137",
        "text": "【时印】您的登录验证码是 042137，5 分钟内有效。请勿将验证码告诉他人。",
        "sent_at": "2026-11-29T08:00:00Z",
        "expires_at": "2026-11-29T08:05:00Z",
    }


def test_webhook_without_a_token_sends_no_authorization() -> None:
    with sms_gateway() as gateway:
        WebhookProvider(gateway.url).send(MESSAGE)
    assert "authorization" not in gateway.received[0].headers


def test_webhook_failures_raise() -> None:
    with sms_gateway() as gateway:
        gateway.status = 503
        with pytest.raises(SmsDeliveryError, match="answered 503"):
            WebhookProvider(gateway.url).send(MESSAGE)
    closed = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(SmsDeliveryError, match="SMS webhook"):
        WebhookProvider(closed, timeout=2).send(MESSAGE)
    with pytest.raises(ValueError, match="http"):
        WebhookProvider("ftp://example.org/")


def test_login_with_the_code_the_webhook_received(
    engine: Engine, tmp_path: Path, clock: FakeClock
) -> None:
    with sms_gateway() as gateway:
        app = auth_app(engine, tmp_path / "unused", clock, sms=WebhookProvider(gateway.url))
        with TestClient(app) as client:
            assert client.post("/api/v1/auth/sms-code", json={"phone": PHONE}).status_code == 200
            code = gateway.received[-1].body["code"]
            reply = client.post("/api/v1/auth/login", json={"phone": PHONE, "code": code})
            assert reply.status_code == 200
    assert not (tmp_path / "unused").exists()


def test_an_undelivered_code_is_useless_and_still_counted(
    engine: Engine, tmp_path: Path, clock: FakeClock
) -> None:
    with sms_gateway() as gateway:
        gateway.status = 500
        app = auth_app(engine, tmp_path / "unused", clock, sms=WebhookProvider(gateway.url))
        with TestClient(app) as client:
            reply = client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
            assert reply.status_code == 502
            assert reply.json()["error"]["code"] == "sms_unavailable"
            code = gateway.received[-1].body["code"]
            reply = client.post("/api/v1/auth/login", json={"phone": PHONE, "code": code})
            assert reply.json()["error"]["code"] == "code_invalid"
            # The gateway is not hammered: the resend interval applies.
            reply = client.post("/api/v1/auth/sms-code", json={"phone": PHONE})
            assert reply.json()["error"]["code"] == "rate_limited"
            assert len(gateway.received) == 1


# --- dev outbox -------------------------------------------------------------------------


def test_dev_outbox_appends_lines_readable_by_the_owner_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = DevOutbox(tmp_path / "sms-outbox.log")
    with caplog.at_level(logging.DEBUG):
        outbox.send(MESSAGE)
        outbox.send(SmsMessage("+8613900000000", "999999", START, START))
    lines = [json.loads(line) for line in outbox.path.read_text().splitlines()]
    assert lines == [
        {"time": "2026-11-29T08:00:00Z", "phone": PHONE, "code": "042137"},
        {"time": "2026-11-29T08:00:00Z", "phone": "+8613900000000", "code": "999999"},
    ]
    assert stat.S_IMODE(outbox.path.stat().st_mode) == 0o600
    # The server log says where the code went, never the code (issue 12).
    assert "042137" not in caplog.text and "+86 138****5678" in caplog.text


def test_dev_outbox_that_cannot_be_written_fails_delivery(tmp_path: Path) -> None:
    with pytest.raises(SmsDeliveryError):
        DevOutbox(tmp_path / "missing-dir" / "sms-outbox.log").send(MESSAGE)


# --- configuration and the server secret ------------------------------------------------


def test_sms_provider_from_config(tmp_path: Path) -> None:
    dev = sms_provider(SmsConfig(), tmp_path)
    assert isinstance(dev, DevOutbox) and dev.path == tmp_path / "sms-outbox.log"
    with sms_gateway() as gateway:
        # The token is the secret named by webhook_token_env (the settings read it from the
        # environment: ServerSettings.from_env).
        hook = sms_provider(
            SmsConfig(provider="webhook", webhook_url=gateway.url, webhook_token_env="SMS_TOKEN"),
            tmp_path,
            {"SMS_TOKEN": "t0k", "OTHER": "x"},
        )
        hook.send(MESSAGE)
    assert gateway.received[0].headers["authorization"] == "Bearer t0k"
    with pytest.raises(DataDirError, match="webhook_url is empty"):
        sms_provider(SmsConfig(provider="webhook"), tmp_path)
    with pytest.raises(DataDirError, match="webhook_url"):
        sms_provider(SmsConfig(provider="webhook", webhook_url="mailto:x"), tmp_path)
    with pytest.raises(DataDirError, match=r"unknown sms\.provider 'carrier-pigeon'"):
        sms_provider(SmsConfig(provider="carrier-pigeon"), tmp_path)


def test_config_without_an_sms_section_still_loads(tmp_path: Path) -> None:
    config = datadir.initialise(tmp_path / "data", now=START)
    raw = json.loads(config.to_json())
    assert raw["sms"] == {
        "provider": "dev",
        "webhook_url": "",
        "webhook_token_env": "TIMESEAL_SMS_WEBHOOK_TOKEN",
        "timeout_ms": 5000,
        "budget_per_hour": 300,
    }
    del raw["sms"]
    old = Config.from_json(json.dumps(raw))
    assert old.sms == SmsConfig()
    raw["sms"] = {"provider": "webhook", "webhook_url": "https://sms.example/send"}
    new = Config.from_json(json.dumps(raw))
    assert (new.sms.provider, new.sms.webhook_url, new.sms.timeout_ms) == (
        "webhook",
        "https://sms.example/send",
        5000,
    )
    assert Config.from_json(new.to_json()) == new
    raw["sms"] = {"provider": "dev", "colour": "blue"}
    with pytest.raises(DataDirError, match="colour"):
        Config.from_json(json.dumps(raw))


def test_the_server_secret_is_minted_once_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    datadir.initialise(data, now=START)
    path = data / "auth.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = platform_keys.load_auth_secret(data)
    assert len(secret) == 32
    datadir.initialise(data, now=START)
    assert platform_keys.load_auth_secret(data) == secret
    # A data directory from before accounts existed gets one on the next start.
    path.unlink()
    datadir.initialise(data, now=START)
    assert platform_keys.load_auth_secret(data) != secret
    path.chmod(0o640)
    with pytest.raises(DataDirError, match="chmod 600"):
        platform_keys.load_auth_secret(data)
    path.write_text("abcd\n")
    path.chmod(0o600)
    with pytest.raises(DataDirError, match="32 bytes"):
        platform_keys.load_auth_secret(data)
