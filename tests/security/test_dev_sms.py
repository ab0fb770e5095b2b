"""Issue 12, point 7: the development SMS provider is never a silent default.

Before the fix, ``timeseal serve --host 0.0.0.0`` served the ``dev`` provider to the world:
every login code went in clear text to the server log (which is shipped and kept) and to a
file, while ``/login`` told people an SMS had been sent. Now the server refuses a non-loopback
address with it unless ``--allow-dev-sms`` is given, prints a banner while it is on, ``/login``
says that no SMS is sent, and codes are written only to the private outbox file (0600)."""

from __future__ import annotations

import dataclasses
import logging
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from tests.support.accounts import (
    PHONE,
    FakeClock,
    auth_app,
    latest_code,
    send_code,
)
from tests.unit.server.conftest import running_app
from timeseal.cli.main import app as cli
from timeseal.server import app as server_app
from timeseal.server.runtime import datadir, workers
from timeseal.server.runtime.configuration import CONFIG_FILE
from timeseal.store.db import DATABASE_URL_ENV

BANNER = "DEVELOPMENT SMS PROVIDER"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The single-process server (``workers.run_single``) replaced by a recorder: a test sees
    what ``serve`` would have started (nothing listens). ``serve`` exports its settings to the
    environment for its workers; they are put back after the test."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(workers, "run_single", calls.append)
    for name, value in (
        (server_app.DATA_DIR_ENV, "timeseal-data"),
        (server_app.PUBLIC_URL_ENV, "http://127.0.0.1:8000"),
        (server_app.RECORDING_IDLE_ENV, "10"),
        (server_app.CLOCK_SOURCE_ENV, "local"),
        ("MALLOC_ARENA_MAX", "2"),
    ):
        monkeypatch.setenv(name, value)
    return calls


def serve(data_dir: Path, *args: str) -> Result:
    argv = ["serve", "--data-dir", str(data_dir), "--workers", "1", "--clock-source", "local"]
    return CliRunner().invoke(cli, [*argv, *args])


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "evidence.example.org"])
def test_dev_provider_is_refused_on_a_public_address(
    host: str, tmp_path: Path, started: list[dict[str, Any]]
) -> None:
    result = serve(tmp_path / "data", "--host", host)
    assert result.exit_code == 2, result.output
    assert started == []  # nothing was served
    message = " ".join(result.output.split())
    assert "--allow-dev-sms" in message and '"provider": "webhook"' in message
    assert "短信" in message


def test_the_flag_allows_it_with_a_banner(tmp_path: Path, started: list[dict[str, Any]]) -> None:
    data_dir = tmp_path / "data"
    result = serve(data_dir, "--host", "0.0.0.0", "--allow-dev-sms")
    assert result.exit_code == 0, result.output
    assert [call["host"] for call in started] == ["0.0.0.0"]
    assert BANNER in result.output
    assert str(data_dir.resolve() / "sms-outbox.log") in result.output


def test_loopback_needs_no_flag_but_still_shows_the_banner(
    tmp_path: Path, started: list[dict[str, Any]]
) -> None:
    result = serve(tmp_path / "data")  # --host 127.0.0.1 by default
    assert result.exit_code == 0, result.output
    assert len(started) == 1 and BANNER in result.output


def test_what_counts_as_loopback() -> None:
    from timeseal.server.accounts.sms import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.org", ""))


def _use_webhook(data_dir: Path) -> None:
    datadir.initialise(data_dir, now=FakeClock()())
    config = datadir.load_config(data_dir)
    sms = dataclasses.replace(
        config.sms, provider="webhook", webhook_url="https://sms-relay.example/send"
    )
    (data_dir / CONFIG_FILE).write_text(dataclasses.replace(config, sms=sms).to_json())


def test_a_real_gateway_serves_anywhere_without_a_banner(
    tmp_path: Path, started: list[dict[str, Any]]
) -> None:
    data_dir = tmp_path / "data"
    _use_webhook(data_dir)
    result = serve(data_dir, "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert len(started) == 1 and BANNER not in result.output


def test_no_login_code_in_the_log(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = tmp_path / "sms-outbox.log"
    with caplog.at_level(logging.DEBUG), TestClient(auth_app(engine, outbox, FakeClock())) as c:
        send_code(c)
        code = latest_code(outbox)
        reply = c.post("/api/v1/auth/login", json={"phone": PHONE, "code": code})
        assert reply.status_code == 200
    assert code not in caplog.text
    assert "138****5678" in caplog.text and str(outbox) in caplog.text  # where it went
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert match
    return match.group(1)


def test_login_page_says_no_sms_is_sent(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with running_app(data_dir) as web:
        page = web.get("/login")
        assert 'id="dev-sms-notice"' in page.text
        assert "本站不发送短信" in page.text and "sms-outbox.log" in page.text
        sent = web.post("/login/code", data={"csrf_token": _csrf(page.text), "phone": PHONE})
        assert sent.status_code == 200
        assert "未通过短信发送" in sent.text
        assert "验证码已发送至" not in sent.text  # no claim that an SMS went out
        english = web.get("/login?lang=en")
        assert "Development server:" in english.text
        assert "no text messages are sent" in english.text


def test_login_page_has_no_notice_with_a_real_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    data_dir = tmp_path / "data"
    _use_webhook(data_dir)
    with running_app(data_dir) as web:
        page = web.get("/login")
        assert page.status_code == 200
        assert 'id="dev-sms-notice"' not in page.text and "本站不发送短信" not in page.text
