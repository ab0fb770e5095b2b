"""``timeseal verify DIR`` on a recording directory: detected by its chain.jsonl, reported
segment by segment with where the chain stops, exit 0 valid / 3 incomplete (cut off) /
1 invalid / 2 no trust anchor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from tests.support.recordings import PKI, make_recording, write_recording
from timeseal.cli import main
from timeseal.core.segment_chain import token_name

runner = CliRunner()


def root_pem(tmp_path: Path) -> Path:
    path = tmp_path / "root.pem"
    path.write_bytes(PKI.root.certificate.public_bytes(Encoding.PEM))
    return path


def test_a_finished_recording_verifies(tmp_path: Path) -> None:
    rec = write_recording(make_recording([b"one", b"two"]), tmp_path / "rec")
    result = runner.invoke(main.app, ["verify", str(rec), "--ca", str(root_pem(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "录像 Recording:" in result.output
    assert "片段 segment 1 seg_000001.ts 3 bytes" in result.output
    assert f"已固定 sealed by {token_name(1)}" in result.output
    assert "停止位置 where the chain stops: finished: 2 segments, recording.mp4" in result.output
    assert result.output.rstrip().endswith("结论 Result: 有效 VALID")


def test_a_cut_off_recording_says_where_it_stops(tmp_path: Path) -> None:
    made = make_recording([b"a", b"b", b"c"], sealed={0}, finished=False)
    made.segments["seg_000003.ts"] = b"unfinished"
    rec = write_recording(made, tmp_path / "rec")
    args = ["verify", str(rec), "--ca", str(root_pem(tmp_path)), "--json"]
    result = runner.invoke(main.app, args)
    assert result.exit_code == 3, result.output  # incomplete: sound, but cut off part-way
    body = json.loads(result.stdout)
    assert body["kind"] == "recording" and body["valid"] and not body["finished"]
    assert body["verdict"] == "incomplete"
    assert [(f["subject"], f["code"]) for f in body["findings"]] == [("stop", "cut_off")]
    assert body["sealed_through"] == 0
    assert body["unsealed"] == ["seg_000001.ts", "seg_000002.ts"]
    assert body["tail"] == ["seg_000003.ts"]
    text = runner.invoke(main.app, args[:-1]).output
    assert text.splitlines()[0] == (
        "结论 Result: 不完整 INCOMPLETE — stop [cut_off]: "
        "录像中途中断：只有中断前已固定的部分可以作为证据 / "
        "The recording was cut off part-way: only the part sealed before that is evidence"
    )
    assert "cut off: sealed through segment 0 (seg_000000.ts)" in text.splitlines()[1]
    assert "未固定 not sealed" in text


def test_a_tampered_segment_is_named(tmp_path: Path) -> None:
    rec = write_recording(make_recording([b"one", b"two"]), tmp_path / "rec")
    (rec / "segments" / "seg_000000.ts").write_bytes(b"One")
    args = ["verify", str(rec), "--ca", str(root_pem(tmp_path)), "--json"]
    result = runner.invoke(main.app, args)
    assert result.exit_code == 1
    failed = {(f["subject"], f["check"]) for f in json.loads(result.stdout)["failed"]}
    assert failed == {("seg_000000.ts", "segment_sha256")}


def test_a_recording_needs_a_trust_anchor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = write_recording(make_recording([b"one"]), tmp_path / "rec")
    monkeypatch.setenv("TIMESEAL_DATA_DIR", str(tmp_path / "no-data"))  # no local root.pem
    result = runner.invoke(main.app, ["verify", str(rec)])
    assert result.exit_code == 2
