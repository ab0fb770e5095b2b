"""The recorder's small parts: segment list tailing, the chain journal, the head sealer
(offline, then back online), capture metadata, and the ffmpeg command lines."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.pki import NOW, make_pki
from timeseal.capture.clients.tsa import StampResult, TSAClientError
from timeseal.capture.recording.capture_json import format_capture, parse_location, rfc3339
from timeseal.capture.recording.chain_journal import ChainJournal
from timeseal.capture.recording.ffmpeg import (
    camera_source,
    concat_argv,
    screen_source,
    segment_argv,
)
from timeseal.capture.recording.head_sealer import HeadSealer
from timeseal.capture.recording.mp4_boxes import is_finished_mp4
from timeseal.capture.recording.segment_list import SegmentListReader
from timeseal.core.digest import HashAlgorithm
from timeseal.core.package.canonical import parse_canonical_json
from timeseal.core.segment_chain import parse_segment_chain, segment_link, start_link
from timeseal.core.segment_verify import verify_segment_chain
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import parse_response

PKI = make_pki()


def test_segment_list_returns_only_complete_lines(tmp_path: Path) -> None:
    listing = tmp_path / "segments.csv"
    reader = SegmentListReader(listing)
    assert reader.poll() == []
    listing.write_bytes(b"seg_000000.ts,0.000000,2.000000\nseg_0000")
    assert reader.poll() == ["seg_000000.ts"]
    assert reader.poll() == []
    with listing.open("ab") as f:
        f.write(b"01.ts,2.0,4.0\nseg_000002.ts,4.0,5.0\n")
    assert reader.poll() == ["seg_000001.ts", "seg_000002.ts"]


def test_journal_appends_verifiable_lines(tmp_path: Path) -> None:
    rid = bytes(16)
    journal = ChainJournal(tmp_path / "chain.jsonl", rid)
    (tmp_path / "seg_000000.ts").write_bytes(b"one")
    (tmp_path / "seg_000001.ts").write_bytes(b"two!")
    first = journal.add_segment(tmp_path / "seg_000000.ts")
    second = journal.add_segment(tmp_path / "seg_000001.ts")
    assert first.link == segment_link(start_link(rid), 0, 3, hashlib.sha256(b"one").digest())
    assert journal.head == second.link and journal.count == 2
    (tmp_path / "all.mp4").write_bytes(b"onetwo!")
    end = journal.end(tmp_path / "all.mp4")
    journal.close()
    chain = parse_segment_chain((tmp_path / "chain.jsonl").read_bytes())
    assert chain.segments == (first, second) and chain.end == end
    with pytest.raises(FileExistsError):
        ChainJournal(tmp_path / "chain.jsonl", rid)  # a chain file is never reused


class FlakyTSA:
    """Refuses while ``online`` is clear, then issues real tokens with the test PKI."""

    def __init__(self) -> None:
        self.online = threading.Event()
        self.calls: list[bytes] = []
        self.serial = 0

    def __call__(self, digest: bytes) -> StampResult:
        self.calls.append(digest)
        if not self.online.is_set():
            raise TSAClientError("cannot reach http://tsa.invalid/tsa: connection refused")
        self.serial += 1
        request = build_request(digest, HashAlgorithm.SHA256, nonce=self.serial, cert_req=True)
        issued = PKI.authority().issue(request, gen_time=NOW, serial_number=self.serial)
        return StampResult(request=request, response=parse_response(issued.response_der))


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_offline_heads_wait_then_the_newest_is_sealed(tmp_path: Path) -> None:
    tsa = FlakyTSA()
    sealer = HeadSealer(tsa, tmp_path, retry_seconds=0.05)
    try:
        sealer.offer(0, b"\x00" * 32)
        _wait_for(lambda: len(tsa.calls) >= 2)  # retried while offline
        sealer.offer(1, b"\x01" * 32)
        assert sealer.pending == 1 and sealer.sealed == []
        tsa.online.set()
        _wait_for(lambda: sealer.pending is None)
    finally:
        sealer.stop()
    assert [s.head_index for s in sealer.sealed] == [1]  # the newest head covers both
    assert (tmp_path / "head-000001.tsr").is_file()
    assert sealer.errors and "connection refused" in sealer.errors[0]


def test_sealer_output_verifies_with_the_chain(tmp_path: Path) -> None:
    tsa = FlakyTSA()
    tsa.online.set()
    journal = ChainJournal(tmp_path / "chain.jsonl", bytes(range(16)))
    (tmp_path / "seg_000000.ts").write_bytes(b"frame")
    record = journal.add_segment(tmp_path / "seg_000000.ts")
    journal.close()
    sealer = HeadSealer(tsa, tmp_path)
    sealer.offer(record.index, record.link)
    _wait_for(lambda: sealer.pending is None)
    sealer.stop()
    result = verify_segment_chain(
        {"seg_000000.ts": b"frame"},
        (tmp_path / "chain.jsonl").read_bytes(),
        {"head-000000.tsr": (tmp_path / "head-000000.tsr").read_bytes()},
        [PKI.root.certificate],
    )
    assert result.ok and result.sealed_through == 0


def test_location_is_kept_as_typed() -> None:
    assert parse_location("31.2304,121.4737") == {"lat": "31.2304", "lon": "121.4737"}
    assert parse_location(" -33.9 , 18.4 ") == {"lat": "-33.9", "lon": "18.4"}
    assert parse_location("上海市黄浦区人民大道 200 号") == {
        "address": "上海市黄浦区人民大道 200 号"
    }
    with pytest.raises(ValueError, match="range"):
        parse_location("91,0")
    with pytest.raises(ValueError, match="empty"):
        parse_location("  ")


def test_capture_json_is_canonical_and_refuses_floats() -> None:
    data = format_capture({"started_at": rfc3339(NOW), "location": {"lat": "1", "lon": "2"}})
    value, canonical = parse_canonical_json(data)
    assert canonical
    assert isinstance(value, dict) and value["started_at"] == "2026-11-29T11:00:00.000Z"
    assert json.loads(data)["format"] == "timeseal-capture/1"
    with pytest.raises(TypeError):
        format_capture({"lat": 31.2})  # type: ignore[dict-item]


def test_sources_per_platform() -> None:
    linux = screen_source(":99", None, 10, platform="linux")
    assert linux.args == ("-f", "x11grab", "-framerate", "10", "-i", ":99")
    window = screen_source(":99", "0x1c00007", 10, platform="linux")
    assert window.kind == "window" and "-window_id" in window.args
    assert screen_source(None, None, 5, platform="win32").args[:2] == ("-f", "gdigrab")
    assert screen_source(None, None, 5, platform="darwin").args[-1] == "1:none"
    with pytest.raises(ValueError, match="not supported"):
        screen_source(None, None, 5, platform="plan9")
    assert camera_source("/dev/video2", None, 15).args[-1] == "/dev/video2"
    lavfi = camera_source(None, "testsrc", 15)
    assert lavfi.args == ("-re", "-f", "lavfi", "-i", "testsrc=size=640x480:rate=15")


def test_segment_and_concat_command_lines(tmp_path: Path) -> None:
    source = camera_source(None, "testsrc", 10)
    argv = segment_argv(source, tmp_path, tmp_path / "l.csv", fps=10, segment_seconds=2, duration=5)
    joined = " ".join(argv)
    assert "-f segment -segment_time 2 -segment_format mpegts -reset_timestamps 1" in joined
    assert "-segment_list_type csv" in joined and "expr:gte(t,n_forced*2)" in joined
    assert argv[-1].endswith("seg_%06d.ts")
    concat = concat_argv(tmp_path / "c.txt", tmp_path / "out.mp4")
    assert "-f concat" in " ".join(concat) and "-c copy" in " ".join(concat)


def test_one_encode_writes_the_segments_and_the_whole_mp4(tmp_path: Path) -> None:
    """The tee command line, run for real, in a directory whose name holds every character
    the tee muxer treats specially: both outputs land where they were asked to."""
    where = tmp_path / "a:b|c [d]=e'f\\g"
    segments = where / "segments"
    segments.mkdir(parents=True)
    source = camera_source(None, "testsrc=size=160x120:rate=10", 10)
    argv = segment_argv(
        source,
        segments,
        where / "segments.csv",
        fps=10,
        segment_seconds=1,
        duration=3,
        whole=where / "recording.mp4.part",
    )
    argv = [a for a in argv if a != "-re"]  # as fast as it goes: the timing is not tested
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    names = sorted(p.name for p in segments.iterdir())
    assert names == ["seg_000000.ts", "seg_000001.ts", "seg_000002.ts"]
    listed = (where / "segments.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in listed] == names
    assert is_finished_mp4(where / "recording.mp4.part")
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
         str(where / "recording.mp4.part")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert float(probe.stdout) == pytest.approx(3.0, abs=0.2)


def test_an_mp4_cut_off_is_not_finished(tmp_path: Path) -> None:
    def box(kind: bytes, body: bytes) -> bytes:
        return (8 + len(body)).to_bytes(4, "big") + kind + body

    whole = box(b"ftyp", b"isom" * 3) + box(b"mdat", b"\0" * 100) + box(b"moov", b"m" * 40)
    path = tmp_path / "r.mp4"
    path.write_bytes(whole)
    assert is_finished_mp4(path)
    path.write_bytes(whole[:-10])  # the index cut off
    assert not is_finished_mp4(path)
    path.write_bytes(whole[: 20 + 108])  # killed before the index was written
    assert not is_finished_mp4(path)
    large = b"\0\0\0\1mdat" + (16 + 4).to_bytes(8, "big") + b"data"
    path.write_bytes(box(b"ftyp", b"isom") + large + box(b"moov", b""))
    assert is_finished_mp4(path)
    assert not is_finished_mp4(tmp_path / "missing.mp4")
