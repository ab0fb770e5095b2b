"""The live upload of a CLI recording against the real server app (in process): the sender
keeps chain order, retries through network failures, never makes ``offer`` wait, and
``send_rest`` resumes at the server's ``next_index`` but sends no segment that changed."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from starlette.testclient import TestClient

from tests.support.accounts import bearer
from tests.unit.server.conftest import running_app
from timeseal.capture.clients.recordings import RecordingApi, RecordingApiError, api_location
from timeseal.capture.recording import live_upload
from timeseal.capture.recording.chain_journal import ChainJournal
from timeseal.capture.recording.live_upload import LiveUpload, LiveUploader, send_rest
from timeseal.core.segment_chain import parse_segment_chain
from timeseal.server.runtime import datadir

RID = bytes.fromhex("0123456789abcdef0123456789abcdef")


class _Handler(Protocol):
    """The test client's transport (starlette's, typed against its own httpx)."""

    def handle_request(self, request: Any) -> Any: ...


class FlakyNetwork(httpx.BaseTransport):
    """The real app behind a network that drops the first ``drops`` requests and holds every
    request while ``gate`` is clear."""

    def __init__(self, inner: _Handler, drops: int = 0) -> None:
        self.inner = inner
        self.drops = drops
        self.gate = threading.Event()
        self.gate.set()
        self.seen = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.gate.wait(30)
        self.seen += 1
        if self.drops > 0:
            self.drops -= 1
            raise httpx.ConnectError("network down (test)", request=request)
        reply = self.inner.handle_request(request)
        reply.read()  # the test client's stream is its own; hand on the bytes
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=dt.datetime.now(dt.UTC))
    with running_app(data_dir) as client:
        yield client, bearer(client, data_dir)


def api(client: TestClient, auth: dict[str, str], network: FlakyNetwork) -> RecordingApi:
    token = auth["Authorization"].removeprefix("Bearer ")
    return RecordingApi(str(client.base_url), token, transport=network)


def network(client: TestClient, drops: int = 0) -> FlakyNetwork:
    return FlakyNetwork(client._transport, drops)  # the app, in process


def recording(directory: Path, sizes: list[int]) -> tuple[LiveUpload, list[Path], ChainJournal]:
    """A recording directory with its segments chained as the recorder chains them."""
    (directory / "segments").mkdir(parents=True)
    journal = ChainJournal(directory / "chain.jsonl", RID)
    segments = []
    for index, size in enumerate(sizes):
        segment = directory / "segments" / f"seg_{index:06d}.ts"
        segment.write_bytes(b"\x47" + bytes([index]) * (size - 1))
        journal.add_segment(segment)
        segments.append(segment)
    upload = LiveUpload(RID.hex(), directory, "http://testserver", "camera_recording")
    return upload, segments, journal


def server_links(client: TestClient, auth: dict[str, str]) -> list[str]:
    """The segment links of the server's chain (its chain.zip's chain.jsonl)."""
    reply = client.get(f"/api/v1/recordings/{RID.hex()}/chain.zip", headers=auth)
    assert reply.status_code == 200, reply.text
    with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
        return local_links_of(archive.read("chain.jsonl"))


def local_links_of(chain: bytes) -> list[str]:
    return [r.link.hex() for r in parse_segment_chain(chain).segments]


def local_links(journal_path: Path) -> list[str]:
    return local_links_of(journal_path.read_bytes())


def test_the_sender_retries_through_a_dropped_network_and_finishes(
    server: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, auth = server
    upload, segments, journal = recording(tmp_path / "rec", [300, 500, 700])
    journal.close()
    net = network(client, drops=3)
    sender = LiveUploader(api(client, auth, net), upload, first_backoff=0.05)
    for segment in segments:
        sender.offer(segment)
    evidence = sender.finish(3, wait=30)
    assert evidence is not None, sender.errors
    assert sender.sent == 3 and len(sender.errors) == 3
    assert all("network down" in e for e in sender.errors)
    state = client.get(f"/api/v1/recordings/{RID.hex()}", headers=auth).json()
    assert state["state"] == "finished" and state["evidence"] == evidence
    assert server_links(client, auth) == local_links(journal.path)  # finished: answers alike


def test_offer_never_waits_for_the_network(
    server: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, auth = server
    upload, segments, journal = recording(tmp_path / "rec", [300, 400])
    journal.close()
    net = network(client)
    net.gate.clear()  # every request hangs
    sender = LiveUploader(api(client, auth, net), upload)
    started = time.monotonic()
    for segment in segments:
        sender.offer(segment)
    assert time.monotonic() - started < 0.1
    assert sender.finish(2, wait=0.3) is None  # nothing got through in time
    assert sender.sent == 0
    net.gate.set()  # the request in flight ends, and with it the sender, before the app does
    sender.stop(timeout=30)


def test_a_refusal_stops_the_sender_for_sync(
    server: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, _auth = server
    upload, segments, journal = recording(tmp_path / "rec", [300])
    journal.close()
    wrong = RecordingApi(str(client.base_url), "ts_not_a_token", transport=network(client))
    sender = LiveUploader(wrong, upload, first_backoff=0.05)
    sender.offer(segments[0])
    assert sender.finish(1, wait=10) is None
    assert sender.failed is not None and "401" in sender.failed


def test_sync_resumes_at_next_index_and_sends_no_changed_segment(
    server: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, auth = server
    upload, segments, journal = recording(tmp_path / "rec", [300, 500, 700, 900])
    with api(client, auth, network(client)) as first:
        assert first.create(RID.hex(), "camera_recording") == 0
        first.put_chunk(RID.hex(), 0, segments[0].read_bytes())
    # Segment 2 changed on disk: segment 1 is sent, then nothing more.
    original = segments[2].read_bytes()
    segments[2].write_bytes(original[:-1] + b"\xff")
    with (
        api(client, auth, network(client)) as second,
        pytest.raises(ValueError, match="seg_000002"),
    ):
        send_rest(second, upload)
    assert client.get(f"/api/v1/recordings/{RID.hex()}", headers=auth).json()["chunks"] == 2
    segments[2].write_bytes(original)
    journal.end(segments[3])  # a normal stop: the chain has its end link
    journal.close()
    with api(client, auth, network(client)) as third:
        sent = send_rest(third, upload)
    assert sent.sent == 4 and sent.evidence is not None
    assert server_links(client, auth) == local_links(journal.path)


def test_the_list_for_sync(tmp_path: Path) -> None:
    upload = LiveUpload(
        RID.hex(), tmp_path / "rec", "http://127.0.0.1:8000", "screen_recording", "标题",
        {"lat": "31.2304", "lon": "121.4737"},
    )  # fmt: skip
    live_upload.register(upload, tmp_path)
    (tmp_path / live_upload.SUBDIR / "bad.json").write_text('{"format": "other"}')
    found, problems = live_upload.registered(tmp_path)
    assert found == [upload]
    assert len(problems) == 1 and "bad.json" in problems[0]
    live_upload.unregister(RID.hex(), tmp_path)
    assert live_upload.registered(tmp_path)[0] == []


def test_only_decimal_coordinates_go_to_the_api() -> None:
    assert api_location({"lat": "+31.2304", "lon": "121.4737"}) == {
        "lat": "31.2304",
        "lon": "121.4737",
    }
    assert api_location({"address": "上海市人民广场"}) is None
    assert api_location(None) is None


def test_api_errors_say_whether_to_retry(server: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = server
    with api(client, auth, network(client)) as recordings:
        recordings.create(RID.hex(), "camera_recording")
        with pytest.raises(RecordingApiError) as gap:
            recordings.put_chunk(RID.hex(), 3, b"\x47")
    assert gap.value.code == "chunk_out_of_order" and gap.value.next_index == 0
    assert not gap.value.retryable


def test_an_offline_stop_does_not_wait_the_whole_while(
    server: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, auth = server
    upload, segments, journal = recording(tmp_path / "rec", [300])
    journal.close()
    net = network(client, drops=1_000_000)  # the server is gone for good
    sender = LiveUploader(api(client, auth, net), upload, first_backoff=0.05)
    sender.offer(segments[0])
    started = time.monotonic()
    assert sender.finish(1, wait=60) is None
    assert time.monotonic() - started < live_upload.GIVE_UP_FAILING + 3
    assert sender.failed is None and sender.errors  # retryable: left to `timeseal sync`
