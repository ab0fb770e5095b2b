"""TSA throughput and latency benchmark.

Starts the server exactly as ``timeseal serve`` does (a fresh data directory, default worker
count = one per core), then, from a separate process, drives ``POST /tsa`` over loopback
keep-alive HTTP/1.1 connections:

1. closed loop, ``--connections`` connections as fast as they go: tokens/s, p50, p99;
2. open loop at half that rate (latency counted from each request's scheduled send time, so a
   stall is not hidden by coordinated omission): p50, p99;

and, in the same run, the raw ECDSA P-256 signing rate of one core (``cryptography``), the
physical ceiling a token cannot beat. Every reply is checked to be a granted TimeStampResp.

    .venv/bin/python bench/tsa_bench.py [--duration 10] [--connections 32] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from timeseal.core.tsp.request import build_request

GRANTED_PREFIX = bytes.fromhex("3003020100")  # PKIStatusInfo { status granted }


def ecdsa_sign_rate(seconds: float = 3.0) -> float:
    """Signatures per second of ECDSA P-256 / SHA-256 on one core (a 200-byte message)."""
    key = ec.generate_private_key(ec.SECP256R1())
    data = os.urandom(200)
    algorithm = ec.ECDSA(hashes.SHA256())
    n = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            key.sign(data, algorithm)
        n += 200
    return n / elapsed


def _requests(count: int) -> list[bytes]:
    out = []
    for i in range(count):
        body = build_request(hashlib.sha256(i.to_bytes(8, "big")).digest(), nonce=i).der
        head = (
            "POST /tsa HTTP/1.1\r\nHost: bench\r\n"
            "Content-Type: application/timestamp-query\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> None:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected reply {head[:40]!r}")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    if GRANTED_PREFIX not in body[:12]:
        raise RuntimeError("reply is not a granted TimeStampResp")


async def _closed_loop(port: int, connections: int, duration: float) -> dict[str, Any]:
    requests = _requests(4096)
    latencies: list[float] = []
    deadline = time.perf_counter() + duration

    async def conn(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await _exchange(reader, writer, requests[i % len(requests)])
            latencies.append(time.perf_counter() - t0)
            i += connections
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(conn(k) for k in range(connections)))
    elapsed = time.perf_counter() - start
    return _summary(latencies, elapsed)


async def _open_loop(port: int, connections: int, rate: float, duration: float) -> dict[str, Any]:
    """Each connection sends on a fixed schedule (rate/connections per second); latency is
    measured from the scheduled time, so queueing behind a slow reply counts."""
    requests = _requests(4096)
    latencies: list[float] = []
    interval = connections / rate
    start = time.perf_counter() + 0.05

    async def conn(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        scheduled = start + k * interval / connections
        i = k
        while scheduled < start + duration:
            now = time.perf_counter()
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            await _exchange(reader, writer, requests[i % len(requests)])
            latencies.append(time.perf_counter() - scheduled)
            scheduled += interval
            i += connections
        writer.close()

    await asyncio.gather(*(conn(k) for k in range(connections)))
    elapsed = time.perf_counter() - start
    return _summary(latencies, elapsed)


def _summary(latencies: list[float], elapsed: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "tokens": len(ordered),
        "tokens_per_s": len(ordered) / elapsed,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "mean_ms": 1000 * statistics.fmean(ordered),
    }


def _client(mode: str, port: int, connections: int, rate: float, duration: float, out: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if mode == "closed":
        result = asyncio.run(_closed_loop(port, connections, duration))
    else:
        result = asyncio.run(_open_loop(port, connections, rate, duration))
    out.send(result)


def run_client(mode: str, port: int, connections: int, rate: float, duration: float) -> Any:
    """The load generator runs in its own process, as the issue asks."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_client, args=(mode, port, connections, rate, duration, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def start_server(data_dir: Path, port: int, workers: int | None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "timeseal.cli", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir), "--clock-source", "local"]
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="default: as timeseal serve")
    parser.add_argument("--port", type=int, default=8771)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    sign_rate = ecdsa_sign_rate()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", args.port, args.workers)
        try:
            run_client("closed", args.port, args.connections, 0, 2.0)  # warm-up
            peak = run_client("closed", args.port, args.connections, 0, args.duration)
            half = run_client(
                "open", args.port, args.connections, peak["tokens_per_s"] / 2, args.duration
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    report = {
        "cores": os.cpu_count(),
        "ecdsa_p256_signs_per_s_one_core": sign_rate,
        "peak": peak,
        "half_rate": {"target_per_s": peak["tokens_per_s"] / 2, **half},
        "peak_vs_one_core_signing": peak["tokens_per_s"] / sign_rate,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"cores: {report['cores']}")
    print(f"raw ECDSA P-256 signing, one core: {sign_rate:,.0f} signatures/s")
    print(
        f"peak ({args.connections} connections): {peak['tokens_per_s']:,.0f} tokens/s, "
        f"p50 {peak['p50_ms']:.2f} ms, p99 {peak['p99_ms']:.2f} ms"
    )
    print(
        f"half rate ({peak['tokens_per_s'] / 2:,.0f}/s open loop): {half['tokens_per_s']:,.0f} "
        f"tokens/s, p50 {half['p50_ms']:.2f} ms, p99 {half['p99_ms']:.2f} ms"
    )
    print(f"peak / one-core signing rate: {report['peak_vs_one_core_signing']:.2f}")


if __name__ == "__main__":
    main()
