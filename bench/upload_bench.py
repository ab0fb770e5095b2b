"""Vault upload benchmark (issue 4).

Starts a plain ``timeseal serve`` (fresh data directory, default workers), logs in through the
dev SMS outbox, and uploads with the CLI's own tus client (:class:`TusUploader`, 8 MiB chunks,
per-chunk ``Upload-Checksum``), every file sealed:

1. one ``--size-mib`` file (default 1 GiB, random bytes in a temp dir): throughput from the
   start of the client's SHA-256 pass to the evidence number, as a ratio of ``sha256sum`` on
   the same file in the same run (page cache warm for both);
2. ``--concurrent`` uploads of ``--concurrent-mib`` MiB at once (default 50 × 20 MiB): all
   sealed, none lost (each record's SHA-256 checked through the API);

and the server's RSS: ``VmHWM`` from ``/proc/<pid>/status`` of the supervisor and of every
worker process, once ready (idle), after the big upload (what the target is about: it must
not grow with the file size), and through the concurrent uploads.

    .venv/bin/python bench/upload_bench.py [--size-mib 1024] [--concurrent 50] [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from timeseal.cli.server_client import make_client
from timeseal.cli.vault.tus import TusUploader

PHONE = "+8613812345678"
MIB = 1024 * 1024


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 8 * MIB)
            f.write(os.urandom(n))
            left -= n


def sha256sum_seconds(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
    return time.perf_counter() - start


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            out.extend(int(c) for c in task.read_text().split())
    return out


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _mib(peaks: dict[int, int]) -> list[float]:
    return sorted((round(k / 1024, 1) for k in peaks.values()), reverse=True)


class PeakRss:
    """Polls VmHWM of the server process tree (the kernel keeps each process's peak)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> None:
        pending = [self.root]
        while pending:
            pid = pending.pop()
            self.peaks[pid] = max(self.peaks.get(pid, 0), _hwm_kib(pid))
            pending.extend(_children(pid))

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()


def log_in(url: str, data_dir: Path) -> str:
    assert httpx.post(f"{url}/api/v1/auth/sms-code", json={"phone": PHONE}).status_code == 200
    lines = (data_dir / "sms-outbox.log").read_text().splitlines()
    code = [json.loads(x)["code"] for x in lines if json.loads(x)["phone"] == PHONE][-1]
    body = {"phone": PHONE, "code": code, "kind": "token", "token_name": "bench"}
    reply = httpx.post(f"{url}/api/v1/auth/login", json=body)
    reply.raise_for_status()
    token: str = reply.json()["token"]["token"]
    return token


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--concurrent-mib", type=int, default=20)
    parser.add_argument("--workers", type=int, default=0, help="serve --workers (0: default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="timeseal-upload-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["XDG_CONFIG_HOME"] = str(tmp / "xdg")
        big = tmp / "big.bin"
        write_random(big, args.size_mib * MIB)
        sha256sum_seconds(big)  # warm the page cache
        baseline = sha256sum_seconds(big)

        data_dir = tmp / "data"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "timeseal.cli", "serve", "--port", str(port)]
        argv += ["--data-dir", str(data_dir), "--clock-source", "local"]
        if args.workers:
            argv += ["--workers", str(args.workers)]
        server = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            wait_ready(url, server)
            rss = PeakRss(server.pid)
            rss.sample()
            idle = dict(rss.peaks)
            token = log_in(url, data_dir)
            with make_client(url, token) as client:
                start = time.perf_counter()
                number = TusUploader(client, url).upload(big, kind="video")
                upload_seconds = time.perf_counter() - start
                record = client.get(f"/api/v1/evidence/{number}").json()
            big_sha = hashlib.sha256()
            with big.open("rb") as f:
                while piece := f.read(MIB):
                    big_sha.update(piece)
            assert record["sha256"] == big_sha.hexdigest(), "the sealed SHA-256 differs"
            big.unlink()
            rss.sample()
            single = dict(rss.peaks)  # the peaks up to here: the 1 GiB upload alone

            files = []
            for i in range(args.concurrent):
                path = tmp / f"c{i:02d}.bin"
                write_random(path, args.concurrent_mib * MIB)
                files.append(path)

            def one(path: Path) -> tuple[Path, str]:
                with make_client(url, token) as c:
                    return path, TusUploader(c, url).upload(path, kind="video")

            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrent) as pool:
                done = list(pool.map(one, files))
            concurrent_seconds = time.perf_counter() - start
            with make_client(url, token) as client:
                listed = client.get("/api/v1/evidence", params={"limit": 500}).json()["items"]
            by_number = {item["number"]: item for item in listed}
            sealed = 0
            for path, n in done:
                want = hashlib.sha256(path.read_bytes()).hexdigest()
                sealed += by_number.get(n, {}).get("sha256") == want
            rss.stop()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    size = args.size_mib * MIB
    result: dict[str, Any] = {
        "size_mib": args.size_mib,
        "sha256sum_mib_s": size / MIB / baseline,
        "upload_mib_s": size / MIB / upload_seconds,
        "ratio": baseline / upload_seconds,
        "idle_rss_mib_per_process": _mib(idle),
        "peak_rss_mib_per_process_single_upload": _mib(single),
        "peak_rss_mib_per_process": _mib(rss.peaks),
        "peak_rss_mib_max": round(max(rss.peaks.values()) / 1024, 1),
        "peak_rss_mib_sum": round(sum(rss.peaks.values()) / 1024, 1),
        "concurrent": args.concurrent,
        "concurrent_mib": args.concurrent_mib,
        "concurrent_sealed": sealed,
        "concurrent_seconds": round(concurrent_seconds, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"sha256sum:   {result['sha256sum_mib_s']:.0f} MiB/s ({args.size_mib} MiB)")
    print(f"upload:      {result['upload_mib_s']:.0f} MiB/s, hash + send + seal")
    print(f"ratio:       {result['ratio']:.2f} x sha256sum")
    print(f"idle RSS:    {result['idle_rss_mib_per_process']} MiB per process, once ready")
    print(
        f"peak RSS:    {result['peak_rss_mib_per_process_single_upload']} MiB per process "
        f"during the {args.size_mib} MiB upload"
    )
    print(
        f"peak RSS:    {result['peak_rss_mib_per_process']} MiB per process, "
        "also through the concurrent uploads"
    )
    print(
        f"concurrent:  {sealed}/{args.concurrent} x {args.concurrent_mib} MiB sealed "
        f"in {concurrent_seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
