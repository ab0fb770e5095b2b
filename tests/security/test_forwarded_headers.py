"""Header spoofing: ``X-Forwarded-For`` and ``X-Forwarded-Proto`` from a peer the operator did
not list are ignored (issue 12, point 4).

They used to be believed from 127.0.0.1 (uvicorn's default, widened by its
``FORWARDED_ALLOW_IPS`` environment variable): anyone on the machine, or any proxy that passes
the header through, could name the address that per-IP limits count and that the custody trail
— which goes into court packages — records. Tried on the application (a peer of 127.0.0.1) and
on a real ``timeseal serve`` with two workers, where uvicorn's configuration decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests.support.accounts import PHONE, latest_code, server_database_url
from tests.support.live_args import live_server_with
from tests.support.tus import TUS, tus_metadata
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.runtime import configuration, datadir
from timeseal.server.runtime.http import HttpConfig, parse_forwarded_allow_ips, resolve
from timeseal.server.tsa.clock import LocalSource
from timeseal.store.login_policy import LoginPolicy

PEER = ("127.0.0.1", 50000)
FORGED = "6.6.6.6"
DATA = b"evidence bytes " * 100


@contextmanager
def app_client(data_dir: Path, *trusted: str) -> Iterator[TestClient]:
    settings = ServerSettings(
        database_url=server_database_url(),
        data_dir=data_dir,
        clock_source=LocalSource(),
        http=HttpConfig(forwarded_allow_ips=trusted),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False, client=PEER) as c:
        yield c


def log_in(
    client: TestClient | httpx.Client, outbox: Path, headers: dict[str, str], phone: str = PHONE
) -> Any:
    sent = client.post("/api/v1/auth/sms-code", json={"phone": phone}, headers=headers)
    assert sent.status_code == 200, sent.text
    body = {"phone": phone, "code": latest_code(outbox, phone), "kind": "session"}
    reply = client.post("/api/v1/auth/login", json=body, headers=headers)
    assert reply.status_code == 200, reply.text
    return reply


def session_ips(client: TestClient | httpx.Client) -> list[str]:
    sessions = client.get("/api/v1/account/sessions")
    assert sessions.status_code == 200, sessions.text
    return [s["ip"] for s in sessions.json()]


def custody_ips(client: TestClient, headers: dict[str, str]) -> list[str]:
    """Upload and seal one file with ``headers``, view it; the IPs of its custody trail."""
    meta = tus_metadata(filename="chat.png", kind="photo", sha256=hashlib.sha256(DATA).hexdigest())
    csrf = {"X-CSRF-Token": client.cookies["ts_csrf"]}
    created = client.post(
        "/api/v1/uploads",
        headers={
            **headers,
            **TUS,
            **csrf,
            "Upload-Length": str(len(DATA)),
            "Upload-Metadata": meta,
        },
    )
    assert created.status_code == 201, created.text
    done = client.patch(
        created.headers["location"],
        content=DATA,
        headers={
            **headers,
            **TUS,
            **csrf,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "0",
        },
    )
    assert done.status_code == 204, done.text
    number = done.headers["timeseal-evidence-number"]
    detail = client.get(f"/api/v1/evidence/{number}", headers=headers)
    assert detail.status_code == 200, detail.text
    return [e["client_ip"] for e in detail.json()["custody"]]


def test_forwarded_for_from_an_unlisted_peer_is_ignored(data_dir: Path, db_url: str) -> None:
    forged = {"X-Forwarded-For": FORGED}
    with app_client(data_dir) as client:
        log_in(client, data_dir / "sms-outbox.log", forged)
        assert session_ips(client) == ["127.0.0.1"]
        ips = custody_ips(client, forged)
    assert ips and set(ips) == {"127.0.0.1"}


def test_forwarded_for_from_a_listed_proxy_is_the_client(data_dir: Path, db_url: str) -> None:
    via_proxy = {"X-Forwarded-For": f"{FORGED}, 10.1.2.3"}  # client, then an inner proxy
    with app_client(data_dir, "127.0.0.1", "10.0.0.0/8") as client:
        log_in(client, data_dir / "sms-outbox.log", via_proxy)
        assert session_ips(client) == [FORGED]
        ips = custody_ips(client, via_proxy)
    assert ips and set(ips) == {FORGED}


def test_a_listed_network_that_does_not_hold_the_peer_trusts_nothing(data_dir: Path) -> None:
    with app_client(data_dir, "10.0.0.0/8", "::1") as client:
        log_in(client, data_dir / "sms-outbox.log", {"X-Forwarded-For": FORGED})
        assert session_ips(client) == ["127.0.0.1"]


def test_per_ip_code_limit_cannot_be_dodged_by_rotating_forwarded_for(data_dir: Path) -> None:
    limit = LoginPolicy().codes_per_ip
    statuses = []
    with app_client(data_dir) as client:
        for i in range(limit + 1):
            reply = client.post(
                "/api/v1/auth/sms-code",
                json={"phone": f"+86138{i:08d}"},
                headers={"X-Forwarded-For": f"6.6.{i // 250}.{i % 250 + 1}"},
            )
            statuses.append(reply.status_code)
    assert statuses[:limit] == [200] * limit
    assert statuses[limit] == 429


@pytest.mark.parametrize(("trusted", "secure"), [((), False), (("127.0.0.1",), True)])
def test_forwarded_proto_decides_secure_cookies_only_from_a_listed_proxy(
    data_dir: Path, trusted: tuple[str, ...], secure: bool
) -> None:
    with app_client(data_dir, *trusted) as client:
        reply = log_in(client, data_dir / "sms-outbox.log", {"X-Forwarded-Proto": "https"})
    cookies = reply.headers.get_list("set-cookie")
    assert cookies and all(("; secure" in c.lower()) is secure for c in cookies)


@pytest.mark.parametrize("bad", ["*", "10.0.0.1/8", "proxy.example.com", "127.0.0.1,,x"])
def test_only_addresses_and_networks_can_be_trusted(bad: str) -> None:
    with pytest.raises(ValueError, match="forwarded_allow_ips"):
        parse_forwarded_allow_ips(bad)
    with pytest.raises(ValueError, match="forwarded_allow_ips"):
        HttpConfig(forwarded_allow_ips=(bad,))


def test_config_json_lists_proxies_and_the_flag_overrides_it(data_dir: Path) -> None:
    config = datadir.load_config(data_dir)
    assert config.http.forwarded_allow_ips == ()  # off by default
    listed = configuration.Config.from_json(
        config.to_json().replace('"forwarded_allow_ips": []', '"forwarded_allow_ips": ["::1"]')
    )
    assert listed.http.forwarded_allow_ips == ("::1",)
    assert resolve(listed.http).forwarded_allow_ips == ("::1",)
    flagged = resolve(listed.http, forwarded_allow_ips="127.0.0.1, 192.168.0.0/16")
    assert flagged.forwarded_allow_ips == ("127.0.0.1", "192.168.0.0/16")


# --- a real `timeseal serve`: uvicorn's configuration in every worker --------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "expected_ip", "secure"),
    [
        ((), "127.0.0.1", False),
        (("--forwarded-allow-ips", "127.0.0.1"), FORGED, True),
    ],
    ids=["default", "listed"],
)
def test_serve_trusts_forwarded_headers_only_from_listed_peers(
    tmp_path: Path, args: tuple[str, ...], expected_ip: str, secure: bool
) -> None:
    # uvicorn's own variable, which once widened trust, must change nothing.
    env = {"FORWARDED_ALLOW_IPS": "*"}
    data_dir = tmp_path / "data"
    headers = {"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"}
    with live_server_with(data_dir, list(args), workers=2, env=env) as live:
        # Several connections, so that more than one worker is likely to answer.
        for i in range(3):
            with httpx.Client(base_url=live.url, timeout=30) as client:
                phone = f"+861390000000{i}"
                reply = log_in(client, data_dir / "sms-outbox.log", headers, phone)
                cookies = reply.headers.get_list("set-cookie")
                assert cookies and all(("; secure" in c.lower()) is secure for c in cookies)
                jar = SimpleCookie("\n".join(cookies))
                client.cookies.clear()  # (a Secure cookie would not go back over http)
                client.headers["Cookie"] = f"ts_session={jar['ts_session'].value}"
                ips = session_ips(client)
                assert ips and set(ips) == {expected_ip}
