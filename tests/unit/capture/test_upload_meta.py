"""The vault capture metadata from each kind of ``capture.json``: the keys the certificate
reads are there, the result is canonical integers-only JSON, and a bulky web capture (a long
PEM chain, a large operation log) is shortened under 64 KiB with every omission listed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.capture_docs import PEM, environment, web_capture_json
from timeseal.capture.offline.items import capture_items
from timeseal.capture.offline.upload_meta import (
    SERVER_LIMIT,
    CaptureMetadataError,
    capture_metadata,
    encoded,
)
from timeseal.core.package.canonical import JSONValue, format_canonical_json, parse_canonical_json


def check_vault_safe(meta: Mapping[str, JSONValue]) -> None:
    """What the server's ``_capture_metadata`` accepts: canonical JSON, an object, ≤ 64 KiB."""
    data = encoded(meta).encode()
    assert len(data) <= SERVER_LIMIT
    value, canonical = parse_canonical_json(data)
    assert canonical and value == meta


def test_a_web_capture_maps_to_the_keys_the_certificate_reads() -> None:
    data = web_capture_json()
    meta = capture_metadata(data)
    check_vault_safe(meta)
    assert meta["started_at"] == "2026-11-29T07:00:01.000Z"
    assert meta["ended_at"] == "2026-11-29T07:00:09.500Z"
    env = meta["environment_check"]
    assert isinstance(env, dict)
    assert env["overall"] == "warn" and env["forced"] is False
    assert env["verdict"] == "有警告 WARN"
    assert "tls_chain=warn" in str(env["summary"])
    target = meta["target_verification"]
    assert isinstance(target, dict) and target["status"] == "unverified"
    assert meta["operation_log_summary"] == json.loads(data)["operations"]
    assert meta["source"] == {
        "type": "web",
        "mode": "scripted",
        "url": "https://shop.example/chat",
        "final_url": "https://shop.example/chat#promise",
        "final_title": "客服对话 客户信息仅用于售后",
    }
    assert meta["capture_json_sha256"] == hashlib.sha256(data).hexdigest()
    assert "omitted" not in meta  # small enough as it is


def test_a_forced_capture_says_so_in_the_verdict() -> None:
    meta = capture_metadata(web_capture_json(forced=True))
    env = meta["environment_check"]
    assert isinstance(env, dict) and env["forced"] is True
    assert env["verdict"] == "未通过 FAIL（已强制继续 forced）"


def test_a_bulky_web_capture_is_shortened_under_64_kib_and_says_what_went() -> None:
    data = web_capture_json(steps=300, certs=25)
    assert len(data) > SERVER_LIMIT
    meta = capture_metadata(data)
    check_vault_safe(meta)
    omitted = meta["omitted"]
    assert isinstance(omitted, list) and omitted
    paths = {o["path"] for o in omitted if isinstance(o, dict)}
    assert "environment_check.findings[1].evidence.chain[0]" in paths
    assert "target_verification.tls.chain[0]" in paths
    # Each omission names the bytes it stands for, so it can be matched with capture.json.
    first = next(o for o in omitted if isinstance(o, dict))
    assert first["sha256"] == hashlib.sha256(format_canonical_json(PEM)).hexdigest()
    # The certificate's keys survive any shortening.
    env = meta["environment_check"]
    assert isinstance(env, dict) and env["verdict"] == "有警告 WARN"
    assert meta["started_at"] == "2026-11-29T07:00:01.000Z"


def test_a_recording_and_a_file_capture() -> None:
    recording = format_canonical_json(
        {
            "format": "timeseal-capture/1",
            "kind": "camera_recording",
            "recording_id": "00" * 16,
            "started_at": "2026-11-29T07:00:00.000Z",
            "ended_at": "2026-11-29T07:01:00.000Z",
            "source": {"kind": "lavfi", "description": "testsrc"},
            "device": {"hostname": "pc"},
            "software": {"timeseal": "0.1.0", "ffmpeg": "6.1"},
            "location": {"lat": "31.2304", "lon": "121.4737"},
            "segments": 30,
        }
    )
    meta = capture_metadata(recording)
    check_vault_safe(meta)
    assert meta["source"] == {"type": "camera_recording", "kind": "lavfi", "description": "testsrc"}
    assert meta["location"] == {"lat": "31.2304", "lon": "121.4737"}
    env, target = meta["environment_check"], meta["target_verification"]
    assert isinstance(env, dict) and env["status"] == "not_recorded"
    assert isinstance(target, dict) and target["status"] == "not_recorded"

    file_doc: dict[str, JSONValue] = {
        "format": "timeseal-file-capture/1",
        "kind": "file",
        "semantics": "existed_no_later_than",
        "statement": {"zh": "现有文件", "en": "Existing file"},
        "file": {"name": "chat.txt", "size": 3, "sha256": "00" * 32, "media_type": None},
        "captured_at": "2026-11-29T07:00:00.000Z",
        "tsa_reachable_at_capture": False,
        "environment_check": environment(),
    }
    meta = capture_metadata(format_canonical_json(file_doc))
    check_vault_safe(meta)
    assert "started_at" not in meta and "ended_at" not in meta  # no capture period is claimed
    assert meta["semantics"] == "existed_no_later_than"
    target = meta["target_verification"]
    assert target == {"status": "not_applicable", "summary": "现有文件 Existing file"}
    env = meta["environment_check"]
    assert isinstance(env, dict) and env["overall"] == "warn"
    # A capture.json written before the key was renamed (``environment``) reads the same.
    legacy = {k: v for k, v in file_doc.items() if k != "environment_check"}
    legacy["environment"] = environment()
    old = capture_metadata(format_canonical_json(legacy))
    assert old["environment_check"] == env and old.keys() == meta.keys()


def test_what_is_not_a_capture_is_refused() -> None:
    with pytest.raises(CaptureMetadataError, match="unknown format"):
        capture_metadata(b'{"format":"other"}')
    with pytest.raises(CaptureMetadataError):
        capture_metadata(b'{"format":"timeseal-web-capture/1","x":1.5}')  # a float
    with pytest.raises(CaptureMetadataError):
        capture_metadata(b"[]")


def test_which_files_of_a_web_capture_become_items(tmp_path: Path) -> None:
    data = web_capture_json(steps=2)
    (tmp_path / "capture.json").write_bytes(data)
    for entry in json.loads(data)["files"]:
        (tmp_path / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / entry["path"]).write_bytes(b"x")
    kinds = {i.path.relative_to(tmp_path).as_posix(): i.kind for i in capture_items(tmp_path)}
    assert kinds == {
        "video.webm": "screen-recording",
        "screenshots/00-step.png": "screenshot",
        "screenshots/01-step.png": "screenshot",
        "page.pdf": "document",
        "page.html": "document",
        "capture.wacz": "web-capture",
        "operations.jsonl": "document",
        "capture.json": "document",
    }
    (tmp_path / "page.pdf").unlink()
    with pytest.raises(CaptureMetadataError, match=r"missing: .*page\.pdf"):
        capture_items(tmp_path)


def test_which_files_of_a_recording_become_items(tmp_path: Path) -> None:
    doc = {"format": "timeseal-capture/1", "kind": "screen_recording", "started_at": "t"}
    (tmp_path / "capture.json").write_bytes(format_canonical_json(doc))
    (tmp_path / "chain.jsonl").write_bytes(b"{}\n")
    (tmp_path / "segments").mkdir()
    for name in ("seg_00001.ts", "seg_00000.ts"):
        (tmp_path / "segments" / name).write_bytes(b"ts")
    # Cut off before the join: the closed segments, in order, stand in for recording.mp4.
    items = [(i.path.relative_to(tmp_path).as_posix(), i.kind) for i in capture_items(tmp_path)]
    assert items == [
        ("segments/seg_00000.ts", "screen-recording"),
        ("segments/seg_00001.ts", "screen-recording"),
        ("chain.jsonl", "document"),
        ("capture.json", "document"),
    ]
    (tmp_path / "recording.mp4").write_bytes(b"mp4")
    items = [(i.path.relative_to(tmp_path).as_posix(), i.kind) for i in capture_items(tmp_path)]
    assert items[0] == ("recording.mp4", "screen-recording") and len(items) == 3
