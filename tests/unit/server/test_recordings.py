"""Live browser recordings through the real application: chunks chained and sealed as they
arrive, finish into a sealed evidence item, cut-off by the housekeeper, the chain as a ZIP that
``timeseal verify`` accepts; on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.support.accounts import bearer, log_in, server_database_url
from tests.support.races import race
from tests.support.tus import TUS, tus_metadata
from tests.unit.server.conftest import running_app
from tests.unit.server.test_packages import fetch, verified
from timeseal.cli.main import app as cli
from timeseal.core.segment_chain import end_link, segment_link, start_link
from timeseal.server.api.recordings import canonical_values
from timeseal.server.app import RECORDING_IDLE_ENV, ServerSettings, create_app
from timeseal.server.runtime import platform_keys
from timeseal.server.runtime.housekeeping import Housekeeper
from timeseal.server.tsa.clock import ClockStatus, LocalSource
from timeseal.store.blobs import LocalBlobStore
from timeseal.store.db import make_engine
from timeseal.store.recording_tables import recording_chunks

OTHER_PHONE = "+8613900002222"
OCTETS = {"Content-Type": "application/octet-stream"}
JSON = {"Content-Type": "application/json"}
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


@pytest.fixture
def app(data_dir: Path, db_url: str) -> Iterator[TestClient]:
    with running_app(data_dir) as client:
        yield client


def error(reply: Any) -> tuple[int, str]:
    return reply.status_code, reply.json()["error"]["code"]


def root_pem(data_dir: Path) -> Path:
    return platform_keys.root_certificate_path(data_dir)


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


def verify_dir(directory: Path, data_dir: Path, *, exit_code: int = 0) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["verify", str(directory), "--ca", str(root_pem(data_dir)), "--json"]
    )
    assert result.exit_code == exit_code, result.output
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
    # `timeseal verify chain.zip` reads the ZIP itself; a changed segment fails by name.
    zipped = tmp_path / "chain.zip"
    zipped.write_bytes(chain.content)
    assert verify_dir(zipped, data_dir)["finished"] is True
    tampered = tmp_path / "tampered.zip"
    with (
        zipfile.ZipFile(io.BytesIO(chain.content)) as source,
        zipfile.ZipFile(tampered, "w") as sink,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "segments/seg_000001.webm":
                data = data[:-1] + bytes([data[-1] ^ 1])
            sink.writestr(info, data)
    result = CliRunner().invoke(
        cli, ["verify", str(tampered), "--ca", str(root_pem(data_dir)), "--json"]
    )
    assert result.exit_code == 1, result.output
    assert {"subject": "seg_000001.webm", "check": "segment_sha256"} in json.loads(result.output)[
        "failed"
    ]

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


def test_every_rule_of_the_chunk_and_finish_contract(app: TestClient, data_dir: Path) -> None:
    auth = bearer(app, data_dir)
    rid = start(app, auth)["id"]
    url = f"/api/v1/recordings/{rid}"
    assert put(app, auth, rid, 0, CHUNKS[0]).status_code == 200

    # Other bytes for a chunk already chained: refused, and the chain keeps what it had.
    reply = put(app, auth, rid, 0, b"forged")
    assert error(reply) == (409, "chunk_conflict")
    assert put(app, auth, rid, 0, CHUNKS[0]).json()["size"] == len(CHUNKS[0])
    # A gap: refused, saying which chunk the server expects.
    reply = put(app, auth, rid, 2, CHUNKS[2])
    assert error(reply) == (409, "chunk_out_of_order")
    assert reply.json()["error"]["next_index"] == 1
    assert "1" in reply.json()["error"]["message"]
    # Not raw bytes, empty, too big: refused before anything is stored.
    wrong_type = app.put(f"{url}/chunks/1", content=CHUNKS[1], headers={**auth, **JSON})
    assert error(wrong_type) == (415, "unsupported_media_type")
    assert error(put(app, auth, rid, 1, b"")) == (400, "chunk_empty")
    too_big = put(app, auth, rid, 1, b"\0" * (8 * 1024 * 1024 + 1))
    assert error(too_big) == (413, "chunk_too_large")
    assert app.get(url, headers=auth).json()["chunks"] == 1
    # The largest chunk allowed is taken.
    assert put(app, auth, rid, 1, b"\1" * (8 * 1024 * 1024)).status_code == 200

    # Finish must name the number of chunks received.
    reply = app.post(f"{url}/finish", json={"chunks": 3}, headers=auth)
    assert error(reply) == (409, "chunk_count_mismatch")
    assert reply.json()["error"]["next_index"] == 2
    assert app.post(f"{url}/finish", json={"chunks": -1}, headers=auth).status_code == 422
    assert app.post(f"{url}/finish", json={"chunks": 2}, headers=auth).status_code == 200
    # Once finished it takes no chunk, not even the next one in order.
    assert error(put(app, auth, rid, 2, CHUNKS[2])) == (409, "recording_closed")
    assert put(app, auth, rid, 1, b"\1" * (8 * 1024 * 1024)).status_code == 200  # a late retry

    # A recording without chunks has nothing to finish.
    empty = start(app, auth)["id"]
    reply = app.post(f"/api/v1/recordings/{empty}/finish", json={"chunks": 0}, headers=auth)
    assert error(reply) == (409, "recording_empty")


def test_what_a_recording_may_declare(app: TestClient, data_dir: Path) -> None:
    auth = bearer(app, data_dir)
    post = "/api/v1/recordings"
    good = {
        "kind": "screen_recording",
        "mime_type": "video/mp4;codecs=avc1",
        "browser_environment": {},
    }
    assert app.post(post, json=good, headers=auth).status_code == 201
    for wrong in (
        {"kind": "photo"},
        {"mime_type": "audio/webm"},
        {"mime_type": "video/quicktime"},
        {"recording_id": "xyz"},
        {"recording_id": "00" * 15},
        {"location": {"lat": 31.2304, "lon": "121.4737"}},
        {"location": {"lat": "31.2304", "lon": "121.4737", "accuracy_m": -1}},
        {"location": {"lat": "31.2304", "lon": "121.4737", "altitude": "5"}},
        {"browser_environment": {"padding": "x" * (16 * 1024)}},
        {"title": "t" * 256},
    ):
        reply = app.post(post, json={**good, **wrong}, headers=auth)
        assert error(reply) == (422, "invalid_request"), wrong
    # A case must be the caller's.
    bob = bearer(app, data_dir, OTHER_PHONE)
    case = app.post("/api/v1/cases", json={"title": "Bob's"}, headers=bob).json()["id"]
    assert error(app.post(post, json={**good, "case_id": case}, headers=auth)) == (404, "not_found")
    # An id someone else uses is taken.
    theirs = start(app, bob)["id"]
    reply = app.post(post, json={**good, "recording_id": theirs}, headers=auth)
    assert error(reply) == (409, "recording_exists")


def test_the_cli_recorders_mpeg_ts_segments_join_into_recording_ts(
    app: TestClient, data_dir: Path, tmp_path: Path
) -> None:
    """``timeseal capture camera --upload`` streams MPEG-TS segments: named .ts, joined by
    concatenation, filed as video/mp2t, its source the CLI recorder's, not a browser's."""
    auth = bearer(app, data_dir)
    rid = start(app, auth, mime_type="video/mp2t", browser_environment={})["id"]
    segments = [b"\x47" + bytes(187) * 3, b"\x47" + b"\x01" * 375]
    for index, data in enumerate(segments):
        assert put(app, auth, rid, index, data).status_code == 200
    done = app.post(f"/api/v1/recordings/{rid}/finish", json={"chunks": 2}, headers=auth)
    assert done.status_code == 200, done.text
    item = app.get(f"/api/v1/evidence/{done.json()['evidence']}", headers=auth).json()
    assert item["media_type"] == "video/mp2t"
    assert item["capture"]["source"] == {
        "kind": "timeseal-cli",
        "description": "ffmpeg MPEG-TS segments",
    }
    directory = unzip(app.get(f"/api/v1/recordings/{rid}/chain.zip", headers=auth).content,
                      tmp_path / "ts")  # fmt: skip
    assert (directory / "recording.ts").read_bytes() == b"".join(segments)
    assert sorted(p.name for p in (directory / "segments").iterdir()) == [
        "seg_000000.ts",
        "seg_000001.ts",
    ]
    assert verify_dir(directory, data_dir)["finished"] is True


def test_a_recording_is_its_owners_alone(app: TestClient, data_dir: Path) -> None:
    alice = bearer(app, data_dir)
    bob = bearer(app, data_dir, OTHER_PHONE)
    rid = start(app, alice)["id"]
    assert put(app, alice, rid, 0, CHUNKS[0]).status_code == 200
    url = f"/api/v1/recordings/{rid}"
    unknown = f"/api/v1/recordings/{'ab' * 16}"
    for path in (url, unknown):
        assert error(app.get(path, headers=bob)) == (404, "not_found")
        assert error(app.get(f"{path}/chain.zip", headers=bob)) == (404, "not_found")
        assert error(put(app, bob, path.rsplit("/", 1)[1], 1, CHUNKS[1])) == (404, "not_found")
        finish = app.post(f"{path}/finish", json={"chunks": 1}, headers=bob)
        assert error(finish) == (404, "not_found")
    assert app.get(f"/api/v1/recordings/{'AB' * 16}", headers=alice).status_code == 404
    # Without credentials: 401, like every /api/v1 route but /time.
    assert error(app.get(url)) == (401, "unauthenticated")
    assert error(app.post("/api/v1/recordings", json={})) == (401, "unauthenticated")
    assert app.get(url, headers=alice).json()["chunks"] == 1


def test_a_session_needs_the_csrf_token(app: TestClient, data_dir: Path) -> None:
    session = log_in(app, data_dir / "sms-outbox.log")
    body = {"kind": "camera_recording", "mime_type": "video/webm", "browser_environment": {}}
    reply = app.post("/api/v1/recordings", json=body)
    assert error(reply) == (403, "csrf_failed")
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    rid = app.post("/api/v1/recordings", json=body, headers=csrf).json()["id"]
    assert error(put(app, {}, rid, 0, CHUNKS[0])) == (403, "csrf_failed")
    assert put(app, csrf, rid, 0, CHUNKS[0]).status_code == 200
    assert app.get(f"/api/v1/recordings/{rid}").json()["chunks"] == 1


def test_quota_counts_the_chunks(data_dir: Path, db_url: str) -> None:
    path = data_dir / "config.json"
    config = json.loads(path.read_text())
    config["vault"] = {"quota_bytes": len(CHUNKS[0]) + len(CHUNKS[1]) + 10}
    path.write_text(json.dumps(config))
    with running_app(data_dir) as client:
        auth = bearer(client, data_dir)
        rid = start(client, auth)["id"]
        assert put(client, auth, rid, 0, CHUNKS[0]).status_code == 200
        assert put(client, auth, rid, 1, CHUNKS[1]).status_code == 200
        reply = put(client, auth, rid, 2, CHUNKS[0])
        assert error(reply) == (413, "quota_exceeded")
        assert client.get(f"/api/v1/recordings/{rid}", headers=auth).json()["chunks"] == 2
        # Filed, the recording counts once (as its evidence item): still no room.
        done = client.post(f"/api/v1/recordings/{rid}/finish", json={"chunks": 2}, headers=auth)
        assert done.status_code == 200
        other = start(client, auth)["id"]
        assert error(put(client, auth, other, 0, CHUNKS[0])) == (413, "quota_exceeded")
        assert put(client, auth, other, 0, b"0123456789").status_code == 200


def test_a_recording_is_filed_into_its_case(app: TestClient, data_dir: Path) -> None:
    auth = bearer(app, data_dir)
    case = app.post("/api/v1/cases", json={"title": "快递面单"}, headers=auth).json()["id"]
    rid = start(app, auth, kind="screen_recording", case_id=case)["id"]
    assert put(app, auth, rid, 0, CHUNKS[0]).status_code == 200
    done = app.post(f"/api/v1/recordings/{rid}/finish", json={"chunks": 1}, headers=auth).json()
    item = app.get(f"/api/v1/evidence/{done['evidence']}", headers=auth).json()
    assert item["kind"] == "screen-recording"
    listed = app.get("/api/v1/evidence", params={"case": case}, headers=auth).json()["items"]
    assert [i["number"] for i in listed] == [done["evidence"]]


def wait_for(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_chunk_is_durable_and_chained_before_its_token_and_answer(
    data_dir: Path, db_url: str
) -> None:
    source = SwitchableSource()
    with running_app(data_dir, source) as app:
        auth = bearer(app, data_dir)
        rid = start(app, auth)["id"]
        assert put(app, auth, rid, 0, CHUNKS[0]).status_code == 200

        # The TSA stops issuing (its clock is no longer trusted): the chunk is refused with
        # 503, yet it is already in the blob store and chained, so nothing is lost.
        source.trusted = False
        wait_for(lambda: app.get("/healthz").status_code == 503, "the TSA refusing")
        reply = put(app, auth, rid, 1, CHUNKS[1])
        assert error(reply) == (503, "clock_untrusted") and int(reply.headers["retry-after"]) >= 1
        blobs = LocalBlobStore(data_dir / "blobs")
        assert blobs.exists(hashlib.sha256(CHUNKS[1]).digest())
        engine = make_engine(db_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(recording_chunks.c.chunk_index, recording_chunks.c.tsr)
                    .where(recording_chunks.c.recording_id == rid)
                    .order_by(recording_chunks.c.chunk_index)
                ).all()
        finally:
            engine.dispose()
        assert [(r.chunk_index, r.tsr is None) for r in rows] == [(0, False), (1, True)]
        state = app.get(f"/api/v1/recordings/{rid}", headers=auth).json()
        assert state["chunks"] == 2 and state["sealed_through"] == 0
        # Other bytes cannot take its place meanwhile.
        assert error(put(app, auth, rid, 1, CHUNKS[2])) == (409, "chunk_conflict")

        # The TSA is back: the retry seals the chunk it chained and answers as usual.
        source.trusted = True
        wait_for(lambda: app.get("/healthz").status_code == 200, "the TSA")
        answer = put(app, auth, rid, 1, CHUNKS[1]).json()
        assert answer["index"] == 1 and answer["sealed_through"] == 1
        state = app.get(f"/api/v1/recordings/{rid}", headers=auth).json()
        assert state["chunks"] == 2 and state["sealed_through"] == 1


@contextmanager
def idle_app(data_dir: Path, idle: dt.timedelta) -> Iterator[TestClient]:
    settings = ServerSettings(
        database_url=server_database_url(),
        data_dir=data_dir,
        clock_source=LocalSource(),
        recording_idle=idle,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_an_idle_recording_is_cut_off_sealed_and_verifies_as_cut_off(
    data_dir: Path, db_url: str, tmp_path: Path
) -> None:
    # One second of silence cuts a recording off; the housekeeper looks every second.
    with idle_app(data_dir, dt.timedelta(seconds=1)) as app:
        auth = bearer(app, data_dir)
        rid = start(app, auth, title="被挂断的通话")["id"]
        url = f"/api/v1/recordings/{rid}"
        answers = [put(app, auth, rid, i, data).json() for i, data in enumerate(CHUNKS[:2])]
        wait_for(lambda: app.get(url, headers=auth).json()["evidence"] is not None, "cut-off")
        state = app.get(url, headers=auth).json()
        assert state["state"] == "cut_off" and state["chunks"] == 2
        assert state["sealed_through"] == 1 and state["ended_at"] is not None
        assert error(put(app, auth, rid, 2, CHUNKS[2])) == (409, "recording_closed")
        finish = app.post(f"{url}/finish", json={"chunks": 2}, headers=auth)
        assert error(finish) == (409, "recording_closed")

        # Its chunks so far are a sealed item that says where the chain was cut off.
        item = app.get(f"/api/v1/evidence/{state['evidence']}", headers=auth).json()
        assert item["kind"] == "video" and item["title"] == "被挂断的通话"
        assert item["sha256"] == hashlib.sha256(CHUNKS[0] + CHUNKS[1]).hexdigest()
        capture = item["capture"]
        assert capture["stop"] == "cut_off" and capture["end_link"] is None
        assert capture["sealed_through"] == 1
        assert capture["sealed_through_time"] == answers[1]["token_time"]
        assert capture["last_token_time"] == answers[1]["token_time"]

        chain = app.get(f"{url}/chain.zip", headers=auth)
        directory = unzip(chain.content, tmp_path / "cut")
        assert not (directory / "recording.webm").exists()
        assert sorted(p.name for p in (directory / "tokens").iterdir()) == [
            "head-000000.tsr",
            "head-000001.tsr",
        ]
        result = CliRunner().invoke(
            cli, ["verify", str(directory), "--ca", str(root_pem(data_dir))]
        )
        # Cut off part-way: what was sealed verifies, and the verdict says it is incomplete.
        assert result.exit_code == 3, result.output
        assert "不完整 INCOMPLETE" in result.output
        assert "cut off: sealed through segment 1 (seg_000001.webm)" in result.output
        report = verify_dir(directory, data_dir, exit_code=3)
        assert report["verdict"] == "incomplete"
        assert report["finished"] is False and report["sealed_through"] == 1
        assert [s["sealed_by"] for s in report["segments"]] == [
            "head-000000.tsr",
            "head-000001.tsr",
        ]

        # The item's package verifies like any other.
        package = fetch(app, f"/api/v1/evidence/{state['evidence']}/package", auth)
        assert verified(data_dir, package)["items"][0]["capture"]["stop"] == "cut_off"


#: The cut-off time of the sweeps the tests run themselves: the app's own housekeeper then
#: looks only every two minutes (a fifth of it), so within a test only the direct calls sweep.
IDLE = dt.timedelta(minutes=10)


def sweeper_at(app: TestClient, now: Callable[[], dt.datetime]) -> Housekeeper:
    """A housekeeper over the app's services whose clock is ``now``, started on the server's
    event loop (where closing a recording must run); the test calls :meth:`run_once`."""
    running = app.app.app.state.timeseal_housekeeper  # type: ignore[attr-defined]
    sweeper = Housekeeper(
        app.app.app.state.timeseal_vault,  # type: ignore[attr-defined]
        running._auth,
        upload_expiry=dt.timedelta(hours=24),
        recordings=running._recordings,
        recording_idle=IDLE,
        clock=now,
    )
    sweeper.start(running._loop)
    return sweeper


def last_chunk_at(app: TestClient, rid: str) -> dt.datetime:
    """When the server saw the recording's last chunk (its start, before any chunk)."""
    running = app.app.app.state.timeseal_housekeeper  # type: ignore[attr-defined]
    recording = running._recordings.store.get(rid)
    assert recording is not None
    at: dt.datetime = recording.last_chunk_at
    return at


def test_a_cut_off_seals_a_chunk_whose_token_failed(data_dir: Path, db_url: str) -> None:
    source = SwitchableSource()
    with running_app(data_dir, source) as app:
        auth = bearer(app, data_dir)
        rid = start(app, auth)["id"]
        url = f"/api/v1/recordings/{rid}"
        assert put(app, auth, rid, 0, CHUNKS[0]).status_code == 200
        source.trusted = False
        wait_for(lambda: app.get("/healthz").status_code == 503, "the TSA refusing")
        assert error(put(app, auth, rid, 1, CHUNKS[1])) == (503, "clock_untrusted")
        silent_since = last_chunk_at(app, rid)
        sweeper = sweeper_at(app, lambda: silent_since + IDLE + dt.timedelta(seconds=1))
        try:
            # While the TSA refuses, the housekeeper closes it but cannot file it: no item
            # yet, and nothing lost (the next round completes the close).
            assert sweeper.run_once().recordings_cut_off == 0
            state = app.get(url, headers=auth).json()
            assert state["state"] == "cut_off" and state["evidence"] is None
            assert state["chunks"] == 2 and state["sealed_through"] == 0
            source.trusted = True
            wait_for(lambda: app.get("/healthz").status_code == 200, "the TSA")
            assert sweeper.run_once().recordings_cut_off == 1
        finally:
            sweeper.stop()
        state = app.get(url, headers=auth).json()
        assert state["state"] == "cut_off" and state["evidence"] is not None
        assert state["chunks"] == 2 and state["sealed_through"] == 1


def test_the_housekeeper_cuts_off_only_idle_recordings(data_dir: Path, db_url: str) -> None:
    with running_app(data_dir) as app:
        auth = bearer(app, data_dir)
        idle = start(app, auth)["id"]
        silent = start(app, auth)["id"]  # no chunk at all: closed, with nothing to file
        busy = start(app, auth)["id"]
        assert put(app, auth, idle, 0, CHUNKS[0]).status_code == 200
        assert put(app, auth, busy, 0, CHUNKS[0]).status_code == 200
        assert put(app, auth, busy, 1, CHUNKS[1]).status_code == 200
        running = app.app.app.state.timeseal_housekeeper  # type: ignore[attr-defined]
        assert running.run_once().recordings_cut_off == 0  # ten minutes by default
        # The sweep comes exactly IDLE after busy's last chunk: busy has been silent for
        # IDLE (not more), the two others for longer.
        busy_last = last_chunk_at(app, busy)
        assert last_chunk_at(app, silent) < last_chunk_at(app, idle) < busy_last
        sweeper = sweeper_at(app, lambda: busy_last + IDLE)
        try:
            assert sweeper.run_once().recordings_cut_off == 2
            states = {
                r: app.get(f"/api/v1/recordings/{r}", headers=auth).json()
                for r in (idle, busy, silent)
            }
            assert sweeper.run_once().recordings_cut_off == 0  # nothing idle left to close
        finally:
            sweeper.stop()
        assert states[idle]["state"] == "cut_off" and states[idle]["evidence"] is not None
        assert states[silent]["state"] == "cut_off" and states[silent]["evidence"] is None
        assert states[busy]["state"] == "recording" and states[busy]["chunks"] == 2


def test_the_idle_time_is_a_serve_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for wrong in ("0", "-5", "1441"):
        result = CliRunner().invoke(
            cli,
            ["serve", "--data-dir", str(tmp_path / "d"), "--recording-idle-minutes", wrong],
        )
        assert result.exit_code == 2, result.output
        assert "--recording-idle-minutes" in result.output
    # A server run by uvicorn directly reads it in its settings reader.
    assert ServerSettings.from_env({RECORDING_IDLE_ENV: "2.5"}).recording_idle == dt.timedelta(
        minutes=2.5
    )
    assert ServerSettings.from_env({}).recording_idle == dt.timedelta(minutes=10)


def test_racing_requests_chain_a_chunk_once(app: TestClient, data_dir: Path) -> None:
    auth = bearer(app, data_dir)
    rid = start(app, auth)["id"]
    # The same chunk sent four times at once (a page retrying while the first is in flight):
    # one request chains it, every one gets the same answer.
    same = race(4, lambda _: put(app, auth, rid, 0, CHUNKS[0]))
    assert [r.status_code for r in same] == [200] * 4
    assert len({json.dumps(r.json(), sort_keys=True) for r in same}) == 1
    # Different bytes for the same index at once: one wins, the others conflict with it.
    rivals = race(4, lambda i: put(app, auth, rid, 1, CHUNKS[1] + bytes([i])))
    codes = sorted(r.status_code for r in rivals)
    assert codes == [200, 409, 409, 409], [r.text for r in rivals]
    [winner] = [r.json() for r in rivals if r.status_code == 200]
    assert {error(r) for r in rivals if r.status_code == 409} == {(409, "chunk_conflict")}
    state = app.get(f"/api/v1/recordings/{rid}", headers=auth).json()
    assert state["chunks"] == 2 and state["sealed_through"] == 1
    chain = app.get(f"/api/v1/recordings/{rid}/chain.zip", headers=auth)
    lines = zipfile.ZipFile(io.BytesIO(chain.content)).read("chain.jsonl").splitlines()
    assert json.loads(lines[-1])["sha256"] == winner["sha256"]


def test_an_open_recording_counts_against_uploads_too(data_dir: Path, db_url: str) -> None:
    path = data_dir / "config.json"
    config = json.loads(path.read_text())
    config["vault"] = {"quota_bytes": len(CHUNKS[0]) + 100}
    path.write_text(json.dumps(config))
    with running_app(data_dir) as client:
        auth = bearer(client, data_dir)
        rid = start(client, auth)["id"]
        assert put(client, auth, rid, 0, CHUNKS[0]).status_code == 200
        tus = {**TUS, "Upload-Metadata": tus_metadata(filename="b.jpg", sha256="0" * 64)}
        over = client.post("/api/v1/uploads", headers={**auth, **tus, "Upload-Length": "101"})
        assert error(over) == (413, "quota_exceeded")
        fits = client.post("/api/v1/uploads", headers={**auth, **tus, "Upload-Length": "100"})
        assert fits.status_code == 201, fits.text


def test_browser_numbers_become_canonical_json_values() -> None:
    environment = {
        "dpr": 2.625,
        "offset": -12.0,
        "big": 2**60,
        "ok": [1, True, None, "x"],
        "nested": {"downlink": 1.45},
    }
    assert canonical_values(environment) == {
        "dpr": "2.625",
        "offset": -12,
        "big": str(2**60),
        "ok": [1, True, None, "x"],
        "nested": {"downlink": "1.45"},
    }
    assert canonical_values(float("inf")) == "inf"  # kept as text, never a JSON float
