"""Issue 12, point 3: SMS bombing across many numbers is bounded by a budget for the site.

The per-number and per-IP limits stop one number or one address from being flooded; before
the fix, many addresses asking for many numbers could make the server send without limit (at
the operator's cost, to people who never asked). Now ``sms.budget_per_hour`` in config.json
caps codes sent in all; past it, code requests are answered 429 with ``Retry-After``, in the
API and on ``/login`` (Chinese first)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.support.accounts import (
    FakeClock,
    auth_app,
    outbox_entries,
    send_code,
)
from tests.unit.server.conftest import running_app
from timeseal.server.runtime import datadir
from timeseal.server.runtime.configuration import CONFIG_FILE, Config, DataDirError
from timeseal.store.db import DATABASE_URL_ENV
from timeseal.store.login_policy import LoginPolicy

EN = {"Accept-Language": "en"}


def test_the_budget_caps_codes_across_numbers_and_addresses(engine: Engine, tmp_path: Path) -> None:
    outbox, clock = tmp_path / "sms-outbox.log", FakeClock()
    app = auth_app(engine, outbox, clock, login_policy=LoginPolicy(sms_budget=5))
    phones = [f"+86139000001{i:02d}" for i in range(8)]
    # Every request from its own address for its own number: no per-number or per-IP limit
    # is anywhere near.
    for i, phone in enumerate(phones[:5]):
        with TestClient(app, client=(f"198.51.100.{i + 1}", 1)) as bomber:
            send_code(bomber, phone)
        clock.advance(seconds=60)
    with TestClient(app, client=("198.51.100.99", 1)) as bomber:
        reply = bomber.post("/api/v1/auth/sms-code", json={"phone": phones[5]})
        assert reply.status_code == 429
        assert reply.json()["error"] == {
            "code": "sms_budget_exhausted",
            "message": "本站本小时的短信发送量已达上限，请 55 分钟后再试。",
            "message_zh": "本站本小时的短信发送量已达上限，请 55 分钟后再试。",
            "message_en": "This site has sent as many text messages as it may this hour; try "
            "again in 55 minutes.",
            "retry_after": 3300,
        }
        assert reply.headers["retry-after"] == "3300"
        english = bomber.post("/api/v1/auth/sms-code", json={"phone": phones[6]}, headers=EN)
        assert english.json()["error"]["message"] == (
            "This site has sent as many text messages as it may this hour; try again in 55 minutes."
        )
        assert len(outbox_entries(outbox)) == 5  # nothing more went out
        # The window slides: when the first code is an hour old, one more may go.
        clock.advance(seconds=3300)
        send_code(bomber, phones[5])
        assert bomber.post("/api/v1/auth/sms-code", json={"phone": phones[7]}).status_code == 429


def _set_budget(data_dir: Path, budget: int) -> None:
    config = datadir.load_config(data_dir)
    sms = dataclasses.replace(config.sms, budget_per_hour=budget)
    (data_dir / CONFIG_FILE).write_text(dataclasses.replace(config, sms=sms).to_json())


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert match
    return match.group(1)


def test_the_login_page_says_so_with_retry_after(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    _set_budget(data_dir, 1)
    with running_app(data_dir) as web:
        token = _csrf(web.get("/login").text)
        sent = web.post("/login/code", data={"csrf_token": token, "phone": "13900000101"})
        assert sent.status_code == 200
        refused = web.post("/login/code", data={"csrf_token": token, "phone": "13900000102"})
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        wait = int(refused.headers["retry-after"])
        assert 3500 < wait <= 3600
        assert "本站本小时的短信发送量已达上限，请 60 分钟后再试。" in refused.text
        english = web.post(
            "/login/code?lang=en", data={"csrf_token": token, "phone": "13900000103"}
        )
        assert english.status_code == 429 and "retry-after" in english.headers
        assert "This site has sent as many text messages as it may this hour" in english.text
    assert len(outbox_entries(data_dir / "sms-outbox.log")) == 1


def test_the_budget_setting(tmp_path: Path) -> None:
    config = datadir.initialise(tmp_path / "data", now=FakeClock()())
    assert config.sms.budget_per_hour == 300  # the default, written to config.json
    raw = config.to_json().replace('"budget_per_hour": 300', '"budget_per_hour": 0')
    with pytest.raises(DataDirError, match="budget_per_hour"):
        Config.from_json(raw)
