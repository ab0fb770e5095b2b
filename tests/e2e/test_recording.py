"""Screen, camera and photo capture end to end: real ffmpeg, Xvfb and ``timeseal serve``.

These fail (never skip) when ffmpeg or Xvfb is missing: ``make test`` installs both.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import LiveServer, free_port, live_server
from timeseal.core.package.canonical import parse_canonical_json
from timeseal.core.segment_chain import parse_segment_chain

pytestmark = pytest.mark.e2e

TIMESEAL = [sys.executable, "-m", "timeseal.cli"]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private X server (Xvfb) to record from."""
    number = 90 + os.getpid() % 500
    while Path(f"/tmp/.X11-unix/X{number}").exists():
        number += 1
    process = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 20
    while not socket.exists():
        assert process.poll() is None, "Xvfb exited"
        assert time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.1)
    try:
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def capture(*args: str, server: str, out: Path) -> list[str]:
    return [*TIMESEAL, "capture", *args, "--server", server, "-o", str(out)]


def verify_json(directory: Path, server: LiveServer) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [*TIMESEAL, "verify", str(directory), "--ca", str(server.root_pem), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """The recorder in the background, its output in ``log`` (read it on failure). A killed
    recorder stays registered for ``timeseal sync``: in the test's own data directory."""
    env = {**os.environ, "XDG_DATA_HOME": str(log.parent / "share")}
    with log.open("wb") as f:
        return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env)


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return float(out.strip())


def chained(directory: Path) -> int:
    try:
        return len(parse_segment_chain((directory / "chain.jsonl").read_bytes()).segments)
    except (OSError, ValueError):
        return 0


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def capture_json(directory: Path) -> dict[str, Any]:
    value, canonical = parse_canonical_json((directory / "capture.json").read_bytes())
    assert canonical and isinstance(value, dict)
    return value


def test_kill_9_leaves_every_closed_segment_sealed(
    display: str, server: LiveServer, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    argv = capture(
        "screen", "--display", display, "--segment-seconds", "1", "--seal-every", "1",
        server=server.url, out=out,
    )  # fmt: skip
    log = tmp_path / "recorder.log"
    recorder = start(argv, log)
    deadline = time.monotonic() + 60
    while chained(out) < 4 or len(list((out / "tokens").glob("*.tsr"))) < 2:
        assert recorder.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the recorder chained too little"
        time.sleep(0.1)
    recorder.send_signal(signal.SIGKILL)
    recorder.wait()
    # ffmpeg dies with its parent (PR_SET_PDEATHSIG): nothing records on, unwatched.
    deadline = time.monotonic() + 15
    while processes_mentioning(str(out)):
        assert time.monotonic() < deadline, "ffmpeg outlived the recorder"
        time.sleep(0.1)

    assert not (out / "recording.mp4").exists()
    code, body = verify_json(out, server)
    assert code == 3, body["failed"]  # incomplete: sound, but cut off part-way
    assert body["valid"] and not body["finished"] and body["verdict"] == "incomplete"
    n = chained(out)
    sealed = body["sealed_through"]
    assert sealed is not None and sealed >= 1
    # Every chained segment up to the last token is sealed; at most the last one or two (closed
    # in the instant before the kill) wait for a token, and are reported, not failed.
    assert [s["sealed_by"] is not None for s in body["segments"]] == [i <= sealed for i in range(n)]
    assert len(body["unsealed"]) == n - 1 - sealed <= 2
    stop = next(s for s in body["sections"] if s["subject"] == "stop")
    assert stop["checks"][0]["detail"].startswith(f"cut off: sealed through segment {sealed}")
    # Who/where/how was sealed as the recording started, though capture.json never was.
    opened = next(s for s in body["sections"] if s["subject"] == "capture-start.json")
    assert opened["valid"] and not (out / "capture.json.tsr").exists()
    start_meta = parse_canonical_json((out / "capture-start.json").read_bytes())[0]
    assert isinstance(start_meta, dict) and start_meta["source"]["kind"] == "display"
    # Each sealed segment plays on its own.
    first = out / "segments" / body["segments"][0]["name"]
    assert probe_duration(first) == pytest.approx(1.0, abs=0.5)

    text = subprocess.run(
        [*TIMESEAL, "verify", str(out), "--ca", str(server.root_pem)],
        capture_output=True, text=True, timeout=120, check=False,
    ).stdout  # fmt: skip
    assert "停止位置 where the chain stops: cut off" in text
    assert text.startswith("结论 Result: 不完整 INCOMPLETE — stop [cut_off]: ")
    assert text.rstrip().endswith("结论 Result: 不完整 INCOMPLETE")


def test_sync_seals_the_newest_head_a_killed_recording_left_pending(
    display: str, server: LiveServer, tmp_path: Path
) -> None:
    """The kill -9 set-up with heads sealed only every 30 s: the recorder dies with its newest
    head pending; ``timeseal sync`` finds the recording (where the recorder registered it)
    and seals that head, so the chain is sealed through its last chained segment, by a token
    honestly later than the others."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share")}
    registry = tmp_path / "share" / "timeseal" / "queue" / "recordings"
    out = tmp_path / "rec"
    argv = capture(
        "screen", "--display", display, "--segment-seconds", "1", "--seal-every", "30",
        server=server.url, out=out,
    )  # fmt: skip
    recorder = start(argv, tmp_path / "recorder.log")
    log = tmp_path / "recorder.log"
    deadline = time.monotonic() + 60
    while chained(out) < 4 or not list((out / "tokens").glob("*.tsr")):
        assert recorder.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the recorder chained too little"
        time.sleep(0.1)
    assert len(list(registry.glob("*.json"))) == 1  # registered while it records
    recorder.send_signal(signal.SIGKILL)
    recorder.wait()
    deadline = time.monotonic() + 15
    while processes_mentioning(str(out)):
        assert time.monotonic() < deadline, "ffmpeg outlived the recorder"
        time.sleep(0.1)

    code, before = verify_json(out, server)
    assert code == 3 and before["verdict"] == "incomplete", before["failed"]  # cut off
    n = chained(out)
    assert before["sealed_through"] == 0 and len(before["unsealed"]) == n - 1

    done = subprocess.run(
        [*TIMESEAL, "sync", "--server", server.url],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"link[{n - 1}]" in done.stdout and "fetched now, at sync" in done.stdout
    assert list(registry.glob("*.json")) == []
    code, after = verify_json(out, server)
    assert code == 3 and after["verdict"] == "incomplete", after["failed"]  # still cut off
    assert after["sealed_through"] == n - 1 and after["unsealed"] == [] and not after["finished"]
    times = {t["head_index"]: t["gen_time"] for t in after["tokens"]}
    assert times[n - 1] > times[0]  # the late token says it is late
    assert all(s["sealed_by"] == f"head-{n - 1:06d}.tsr" for s in after["segments"][1:])
    # A second sync has nothing left to do for it.
    again = subprocess.run(
        [*TIMESEAL, "sync", "--server", server.url],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert again.returncode == 0 and "⏱" not in again.stdout


def test_a_finished_screen_recording_plays_and_verifies(
    display: str, server: LiveServer, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    started = time.monotonic()
    done = subprocess.run(
        capture("screen", "--display", display, "--duration", "6", server=server.url, out=out),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 6
    assert probe_duration(out / "recording.mp4") == pytest.approx(6.0, abs=1.0)
    code, body = verify_json(out, server)
    assert code == 0, body["failed"]
    assert body["finished"] and body["unsealed"] == [] and body["tail"] == []
    assert len(body["segments"]) == 3
    # --seal-every 30 on a 6 s recording: the first head, then the end link.
    assert [t["head_index"] for t in body["tokens"]] == [0, 3]
    assert {s["subject"] for s in body["sections"]} >= {
        "end",
        "capture-start.json",
        "capture.json",
        "stop",
    }
    meta = capture_json(out)
    assert meta["kind"] == "screen_recording"
    assert meta["source"] == {"kind": "display", "description": f"x11grab {display}"}
    assert meta["started_at"] < meta["ended_at"]
    assert meta["started_at"].endswith("Z") and meta["ended_at"].endswith("Z")
    assert meta["software"]["ffmpeg"].startswith("ffmpeg version")
    assert meta["segments"] == 3 and meta["location"] is None
    # Tampering with the joined file is caught by name.
    with (out / "recording.mp4").open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    code, body = verify_json(out, server)
    assert code == 1
    assert {"subject": "end", "check": "file_sha256"} in body["failed"]


def test_camera_from_lavfi_is_sealed_playable_and_located(
    server: LiveServer, tmp_path: Path
) -> None:
    out = tmp_path / "cam"
    done = subprocess.run(
        capture(
            "camera", "--lavfi", "testsrc", "--location", "31.2304,121.4737",
            "--duration", "4", "--seal-every", "2", server=server.url, out=out,
        ),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert probe_duration(out / "recording.mp4") == pytest.approx(4.0, abs=0.6)
    code, body = verify_json(out, server)
    assert code == 0, body["failed"]
    assert body["finished"] and all(s["sealed_by"] for s in body["segments"])
    meta = capture_json(out)
    assert meta["kind"] == "camera_recording"
    assert meta["location"] == {"lat": "31.2304", "lon": "121.4737"}
    assert meta["source"]["kind"] == "lavfi"
    # The environment check ran first; its report is in the metadata sealed at the start.
    assert "环境检查 Environment check:" in done.stdout
    report = meta["environment_check"]
    start_meta = parse_canonical_json((out / "capture-start.json").read_bytes())[0]
    assert isinstance(start_meta, dict) and start_meta["environment_check"] == report
    assert report["format"] == "timeseal-environment-report/1" and report["forced"] is False
    statuses = {f["name"]: f["status"] for f in report["findings"]}
    assert statuses["clock_offset"] == "pass"
    assert report["skipped"] == ["hosts_entries", "dns_answers", "tls_chain", "browser_profile"]
    assert {"subject": "capture-start.json", "valid": True}.items() <= next(
        s for s in body["sections"] if s["subject"] == "capture-start.json"
    ).items()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_cleanly(server: LiveServer, tmp_path: Path, signum: int) -> None:
    """Ctrl-C or SIGTERM: the current segment is finished, chained and sealed, then joined."""
    out = tmp_path / "cam"
    log = tmp_path / "recorder.log"
    recorder = start(capture("camera", "--lavfi", "testsrc", server=server.url, out=out), log)
    deadline = time.monotonic() + 60
    while chained(out) < 2:
        assert recorder.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.1)
    recorder.send_signal(signum)
    assert recorder.wait(timeout=60) == 0, log.read_text()
    code, body = verify_json(out, server)
    assert code == 0, body["failed"]
    assert body["finished"] and body["tail"] == []
    assert probe_duration(out / "recording.mp4") >= 3.0


def test_photo_from_lavfi(server: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "photo"
    argv = capture(
        "photo", "--lavfi", "testsrc", "--location", "上海市人民广场", server=server.url, out=out
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert (out / "photo.jpg").read_bytes()[:2] == b"\xff\xd8"  # JPEG
    for name in ("photo.jpg", "capture.json"):
        checked = subprocess.run(
            [*TIMESEAL, "verify", str(out / name), "--ca", str(server.root_pem)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout
    meta = capture_json(out)
    assert meta["kind"] == "photo" and meta["location"] == {"address": "上海市人民广场"}
    assert meta["environment_check"]["forced"] is False
    assert {f["name"] for f in meta["environment_check"]["findings"]} >= {"clock_offset"}


def test_offline_start_then_the_server_comes_up(tmp_path: Path) -> None:
    """No TSA at the start: the recording goes on, the head waits, and is timestamped as soon
    as the server answers; the finished recording then verifies."""
    port = free_port()
    out = tmp_path / "cam"
    log = tmp_path / "recorder.log"
    argv = capture(
        "camera", "--lavfi", "testsrc", "--duration", "14", "--seal-every", "1",
        server=f"http://127.0.0.1:{port}", out=out,
    )  # fmt: skip
    recorder = start(argv, log)
    deadline = time.monotonic() + 30
    while chained(out) < 2:
        assert recorder.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert list((out / "tokens").glob("*.tsr")) == []  # offline: nothing sealed yet
    data_dir = tmp_path / "server-data"
    data_dir.mkdir()
    with live_server(data_dir, port=port) as server:
        deadline = time.monotonic() + 60
        while not list((out / "tokens").glob("*.tsr")):
            assert recorder.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the pending head was never sealed"
            time.sleep(0.1)
        assert recorder.wait(timeout=120) == 0, log.read_text()
        code, body = verify_json(out, server)
    assert code == 0, body["failed"]
    assert body["finished"] and all(s["sealed_by"] for s in body["segments"])
    # The first token came late and covers every segment closed while offline.
    assert body["tokens"][0]["head_index"] >= 1
    assert not (out / "certs" / "tsa-chain.pem").exists()
    # Offline at the start, the clock could not be checked: the report says so; no stop.
    clock = next(f for f in capture_json(out)["environment_check"]["findings"])
    assert clock["name"] == "clock_offset" and clock["status"] == "warn"
    assert clock["summary_en"].startswith("not checked: the TSA could not be reached")
