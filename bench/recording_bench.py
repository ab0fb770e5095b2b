"""CPU overhead of live sealing over plain ffmpeg (issue 6, part 4; target ≤ 5%).

Records the same input for the same duration with the same encoder settings, alternately:

1. plain ffmpeg into one MPEG-TS file (``ffmpeg_cmd.plain_argv``), the baseline;
2. the recorder (``timeseal.capture.recording.recorder.Recorder``, in this process): one ffmpeg
   encode written both as segments (segment muxer) and as recording.mp4 (tee muxer), every closed
   segment hashed into the fsync'd chain, the head timestamped by a real ``timeseal serve`` (started
   here, its CPU not counted: it is the server's), then the end link (over recording.mp4) and
   capture.json timestamped.

CPU time is user + system from ``getrusage``: for the baseline, of the ffmpeg child; for the
recorder, of this process's own threads (the watcher and the sealer) plus its ffmpeg children
(the recording one, and a concat only if the recording ffmpeg did not close its MP4).
Interpreter start-up and imports are excluded (once per recording, not per second). The modes
alternate, ``--rounds`` times; the A/B figure is the median of the per-round ratios (each
sealed run against the plain run just before it, so slow drifts of the machine's load cancel).

On a shared, busy machine the A/B difference is noisy (two runs of the same ffmpeg differ by a
few per cent), so a second figure is taken within each sealed run, where the noise is the same
for both sides: everything the recorder adds besides its recording ffmpeg (its threads, any
other ffmpeg run) divided by the CPU of that ffmpeg (reaped with ``wait4``). It does not see
what the second output costs inside the recording ffmpeg; the A/B figure does.

With ``--upload`` the sealed runs also stream every segment to the server's live recording
API (``capture … --upload``, logged in): the sender thread's CPU is then part of the
recorder's, and each run prints how many segments the server had and the evidence number.

    .venv/bin/python bench/recording_bench.py [--duration 60] [--rounds 2] [--seal-every 30]
        [--display :99]   # x11grab instead of lavfi testsrc 1280x720
        [--upload]        # stream to the vault as well
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from tests.support.accounts import latest_code

from timeseal.capture.recording.ffmpeg import Source, camera_source, plain_argv, screen_source
from timeseal.capture.recording.options import RecordingOptions
from timeseal.capture.recording.recorder import Recorder

FPS = 10
SEGMENT_SECONDS = 2


def cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "timeseal.cli", "serve", "--port", str(port), "--data-dir",
         str(data_dir), "--workers", "1", "--clock-source", "local"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("timeseal serve did not start")


def plain(source: Source, out: Path, duration: int) -> float:
    before = cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    argv = plain_argv(source, out, fps=FPS, segment_seconds=SEGMENT_SECONDS, duration=duration)
    subprocess.run(argv, check=True)
    return cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - before


PHONE = "+8613812345678"


def log_in(url: str, data_dir: Path) -> str:
    """An API token for ``--upload``, through the dev SMS outbox."""
    httpx.post(f"{url}/api/v1/auth/sms-code", json={"phone": PHONE}).raise_for_status()
    code = latest_code(data_dir / "sms-outbox.log", PHONE)
    body = {"phone": PHONE, "code": code, "kind": "token", "token_name": "bench"}
    reply = httpx.post(f"{url}/api/v1/auth/login", json=body)
    reply.raise_for_status()
    token: str = reply.json()["token"]["token"]
    return token


def sealed(
    source: Source,
    out: Path,
    duration: int,
    server: str,
    seal_every: int,
    upload_token: str | None = None,
) -> tuple[float, float, float]:
    """CPU of (this process's recorder threads, all its ffmpeg children, the recording
    ffmpeg alone)."""
    options = RecordingOptions(
        source=source,
        output_dir=out,
        server=server,
        segment_seconds=SEGMENT_SECONDS,
        seal_every=seal_every,
        fps=FPS,
        duration=duration,
        state_base=out.parent / "queue",
        upload_server=server if upload_token else None,
        upload_token=upload_token,
    )
    self0 = cpu(resource.getrusage(resource.RUSAGE_SELF))
    children0 = cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    recorder = Recorder(options)
    result = recorder.run(threading.Event())
    self1 = cpu(resource.getrusage(resource.RUSAGE_SELF))
    children1 = cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    assert result.unsealed_head is None and result.recording is not None
    if upload_token:
        print(
            f"  uploaded: server has {result.upload_sent} of {result.segments} segments, "
            f"evidence {result.evidence}"
        )
    return self1 - self0, children1 - children0, recorder.ffmpeg_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seal-every", type=int, default=30)
    parser.add_argument("--display", help="record this X display (x11grab) instead of lavfi")
    parser.add_argument("--upload", action="store_true", help="stream to the vault as well")
    args = parser.parse_args()
    if args.display:
        source = screen_source(args.display, None, FPS)
    else:
        source = camera_source(None, f"testsrc=size=1280x720:rate={FPS}", FPS)
    port = 20000 + os.getpid() % 20000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_server(root / "server-data", port)
        server_url = f"http://127.0.0.1:{port}"
        try:
            token = log_in(server_url, root / "server-data") if args.upload else None
            base: list[float] = []
            live: list[float] = []
            ratios: list[float] = []  # sealed ÷ plain, round by round
            extra: list[float] = []  # sealing work ÷ the recording ffmpeg, in the same run
            for n in range(args.rounds):
                base.append(plain(source, root / f"plain-{n}.ts", args.duration))
                own, children, recording = sealed(
                    source, root / f"rec-{n}", args.duration, server_url, args.seal_every, token
                )
                live.append(own + children)
                ratios.append(live[-1] / base[-1])
                extra.append((own + children - recording) / recording)
                print(
                    f"round {n}: plain {base[-1]:.2f} s CPU, sealed {live[-1]:.2f} s CPU "
                    f"({100 * (ratios[-1] - 1):+.1f}%) "
                    f"(recording ffmpeg {recording:.2f}, recorder threads {own:.2f}, "
                    f"other ffmpeg runs {children - recording:.2f})"
                )
        finally:
            server.terminate()
            server.wait()
    b, s = statistics.median(base), statistics.median(live)
    print(
        f"source: {source.description}, {args.duration} s, seal every {args.seal_every} s"
        + (", streamed to the vault" if args.upload else "")
    )
    print(f"plain ffmpeg: {b:.2f} s CPU; live sealing: {s:.2f} s CPU")
    print(
        f"overhead, A/B: median of per-round ratios {100 * (statistics.median(ratios) - 1):+.1f}%"
        f", of medians {100 * (s - b) / b:+.1f}% (target ≤ 5%)"
    )
    print(
        f"overhead, same run (recorder threads + other ffmpeg runs, ÷ the recording ffmpeg): "
        f"{100 * statistics.median(extra):+.1f}%"
    )


if __name__ == "__main__":
    main()
