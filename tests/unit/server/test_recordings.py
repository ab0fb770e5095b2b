"""Live browser recordings through the real application: chunks chained and sealed as they
arrive, finish into a sealed evidence item, cut-off by the housekeeper, the chain as a ZIP that
``timeseal verify`` accepts; on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.support.accounts import database_url
from tests.unit.server.conftest import running_app
from tests.unit.server.test_packages import fetch, verified
from tests.unit.server.test_vault import bearer
from timeseal.cli.main import app as cli
from timeseal.core.segment_chain import end_link, segment_link, start_link
from timeseal.server import datadir
from timeseal.server.clock import ClockStatus
from timeseal.store.db import DATABASE_URL_ENV

OTHER_PHONE = "+8613900002222"
OCTETS = {"Content-Type": "application/octet-stream"}
#: Three MediaRecorder-like chunks (any bytes: the server never parses the media).
CHUNKS = [b"\x1a\x45\xdf\xa3webm-header" + bytes(range(256)) * 40, b"cluster-1" * 3000, b"c2" * 77]
ENVIRONMENT = {
    "user_agent": "Mozilla/5.0 (Linux; Android 15) Chrome/131",
    "language": "zh-CN",
    "timezone": "Asia/Shanghai",
    "screen": {"width": 412, "height": 915, "device_pixel_ratio": 2.625},
    "clock_offset_ms": -12.0,
}


class SwitchableSource:
    """A clock source the test can distrust (the TSA then refuses: timeNotAvailable)."""

    name = "switchable"

    def __init__(self) -> None:
        self.trusted = True

    def status(self) -> ClockStatus:
        detail = "test: trusted" if self.trusted else "test: distrusted"
        return ClockStatus(self.trusted, self.name, None, detail, dt.datetime.now(dt.UTC))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    with database_url(request.param, data_dir) as url:
        if request.param == "postgresql":
            monkeypatch.setenv(DATABASE_URL_ENV, url)
        else:
            monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        yield url


@pytest.fixture
def app(data_dir: Path, db_url: str) -> Iterator[TestClient]:
    with running_app(data_dir) as client:
        yield client


def error(reply: Any) -> tuple[int, str]:
    return reply.status_code, reply.json()["error"]["code"]


def root_pem(data_dir: Path) -> Path:
    return datadir.root_certificate_path(data_dir)


def start(client: TestClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("kind", "camera_recording")
    body.setdefault("mime_type", "video/webm;codecs=vp8,opus")
    body.setdefault("browser_environment", ENVIRONMENT)
    reply = client.post("/api/v1/recordings", json=body, headers=auth)
    assert reply.status_code == 201, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def put(client: TestClient, auth: dict[str, str], rid: str, index: int, data: bytes) -> Any:
    return client.put(
        f"/api/v1/recordings/{rid}/chunks/{index}", content=data, headers={**auth, **OCTETS}
    )


def unzip(data: bytes, into: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(into)
    return into


def verify_dir(directory: Path, data_dir: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["verify", str(directory), "--ca", str(root_pem(data_dir)), "--json"]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


def test_time_is_the_server_clock_uncached(app: TestClient) -> None:
    before = dt.datetime.now(dt.UTC)
    reply = app.get("/api/v1/time")
    after = dt.datetime.now(dt.UTC)
    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "no-store"
    now = reply.json()["now"]
    assert now.endswith("Z") and len(now) == len("2026-11-29T17:20:00.123Z")
    parsed = dt.datetime.fromisoformat(now)
    assert before - dt.timedelta(milliseconds=1) <= parsed <= after


def test_a_recording_chains_seals_finishes_and_verifies(
    app: TestClient, data_dir: Path, db_url: str, tmp_path: Path
) -> None:
    auth = bearer(app, data_dir)
    rid = "00112233445566778899aabbccddeeff"
    created = start(
        app,
        auth,
        title="客服通话",
        recording_id=rid.upper(),
        location={"lat": "31.230400", "lon": "121.473700", "accuracy_m": 25},
    )
    chain_start = start_link(bytes.fromhex(rid))
    assert created == {
        "id": rid,
        "chain_start": chain_start.hex(),
        "next_index": 0,
        "chunk_max_bytes": 8388608,
        "seal_every": 30,
        "state": "recording",
    }
    # Creating again with the same id (a lost answer) is the same recording.
    assert start(app, auth, recording_id=rid)["next_index"] == 0

    head = chain_start
    answers = []
    for index, data in enumerate(CHUNKS):
        reply = put(app, auth, rid, index, data)
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        head = segment_link(head, index, len(data), hashlib.sha256(data).digest())
        assert answer["index"] == index and answer["sealed_through"] == index
        assert answer["size"] == len(data)
        assert answer["sha256"] == hashlib.sha256(data).hexdigest()
        assert answer["link"] == head.hex()
        assert answer["token_time"].endswith("Z")
        answers.append(answer)
        state = app.get(f"/api/v1/recordings/{rid}", headers=auth).json()
        assert state["chunks"] == index + 1 and state["sealed_through"] == index
        assert state["last_token_time"] == answer["token_time"]

    # A retry of an answered chunk gets the same answer and chains nothing new.
    again = put(app, auth, rid, 1, CHUNKS[1])
    assert again.status_code == 200 and again.json() == answers[1]

    done = app.post(f"/api/v1/recordings/{rid}/finish", json={"chunks": 3}, headers=auth)
    assert done.status_code == 200, done.text
    number = done.json()["evidence"]
    assert done.json() == {"state": "finished", "evidence": number}
    repeat = app.post(f"/api/v1/recordings/{rid}/finish", json={"chunks": 3}, headers=auth)
    assert repeat.status_code == 200 and repeat.json() == done.json()
    state = app.get(f"/api/v1/recordings/{rid}", headers=auth).json()
    assert state["state"] == "finished" and state["evidence"] == number
    assert state["ended_at"] is not None and state["chunks"] == 3

    # The evidence item: the joined file, of kind video, with the recording's metadata.
    joined = b"".join(CHUNKS)
    item = app.get(f"/api/v1/evidence/{number}", headers=auth).json()
    assert item["kind"] == "video" and item["title"] == "客服通话"
    assert item["sha256"] == hashlib.sha256(joined).hexdigest() and item["size"] == len(joined)
    assert item["media_type"] == "video/webm"
    capture = item["capture"]
    assert capture["recording_id"] == rid and capture["chunks"] == 3
    assert capture["stop"] == "finished"
    assert capture["location"] == {"lat": "31.230400", "lon": "121.473700", "accuracy_m": 25}
    assert capture["browser_environment"]["screen"]["device_pixel_ratio"] == "2.625"
    assert capture["browser_environment"]["clock_offset_ms"] == -12
    assert capture["first_token_time"] == answers[0]["token_time"]
    assert capture["last_token_time"] >= answers[2]["token_time"]
    content = app.get(f"/api/v1/evidence/{number}/content", headers=auth)
    assert content.content == joined

    # The chain ZIP is the recording directory; `timeseal verify DIR` says finished.
    chain = app.get(f"/api/v1/recordings/{rid}/chain.zip", headers=auth)
    assert chain.status_code == 200 and chain.headers["content-type"] == "application/zip"
    directory = unzip(chain.content, tmp_path / "rec")
    names = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    assert names == [
        "capture.json",
        "certs/tsa-chain.pem",
        "chain.jsonl",
        "recording.webm",
        "segments/seg_000000.webm",
        "segments/seg_000001.webm",
        "segments/seg_000002.webm",
        "tokens/head-000000.tsr",
        "tokens/head-000001.tsr",
        "tokens/head-000002.tsr",
        "tokens/head-000003.tsr",
    ]
    assert (directory / "recording.webm").read_bytes() == joined
    last = json.loads((directory / "chain.jsonl").read_text().splitlines()[-1])
    want_end = end_link(head, 3, len(joined), hashlib.sha256(joined).digest())
    assert last["link"] == want_end.hex() and last["end"] == "recording.webm"
    report = verify_dir(directory, data_dir)
    assert report["finished"] is True

    # The filed item's package verifies as any other (and with `timeseal verify PACKAGE`).
    package = fetch(app, f"/api/v1/evidence/{number}/package", auth)
    manifest = verified(data_dir, package)
    assert manifest["items"][0]["capture"]["recording_id"] == rid
    path = tmp_path / "package.zip"
    path.write_bytes(package)
    vkey = str(data_dir / "log" / "log.vkey")
    result = CliRunner().invoke(
        cli, ["verify", str(path), "--ca", str(root_pem(data_dir)), "--log-key", vkey]
    )
    assert result.exit_code == 0, result.output
