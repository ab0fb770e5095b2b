"""TSA throughput and latency benchmark.

Starts the server exactly as ``timeseal serve`` does (a fresh data directory, default worker
count = one per core), then, from a separate process, drives ``POST /tsa`` over loopback
keep-alive HTTP/1.1 connections:

1. closed loop, ``--connections`` connections as fast as they go: tokens/s, p50, p99;
2. open loop at half that rate (latency counted from each request's scheduled send time, so a
   stall is not hidden by coordinated omission): p50, p99;

and, in the same run, the raw ECDSA P-256 signing rate of one core (``cryptography``), the
physical ceiling a token cannot beat. Every reply is checked to be a granted TimeStampResp;
one in ``SAMPLE_EVERY`` is verified in full after the run (signature, chain, imprint, nonce).

CPU per token is the primary figure on a shared machine: user + system time of all the server's
processes (from /proc) and of the load generator, each divided by the tokens of the peak run.

    .venv/bin/python bench/tsa_bench.py [--duration 10] [--connections 64] [--json]
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder

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


#: Every this many replies, one is kept and verified in full after the timed run.
SAMPLE_EVERY = 512


@dataclass(frozen=True, slots=True)
class _Query:
    """One pre-built HTTP request: the message imprint and nonce it carries, and its bytes."""

    imprint: bytes
    nonce: int
    http: bytes


def _requests(count: int) -> list[_Query]:
    out = []
    for i in range(count):
        imprint = hashlib.sha256(i.to_bytes(8, "big")).digest()
        body = build_request(imprint, nonce=i).der
        head = (
            "POST /tsa HTTP/1.1\r\nHost: bench\r\n"
            "Content-Type: application/timestamp-query\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(_Query(imprint, i, head + body))
    return out


class _Connection(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection that sends one pre-built request at a time.

    Lean on purpose (no stream reader, no HTTP library): the load generator shares the two
    cores with the server. Every reply is still checked: status line ``200``, a
    Content-Length, and a body that is a granted TimeStampResp; ``sample`` replies are kept
    for full verification.
    """

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._waiter: asyncio.Future[bytes] | None = None
        self._lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionError("server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._lost)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        head = self._buffer[:end]
        if not head.startswith(b"HTTP/1.1 200 "):
            self._waiter.set_exception(RuntimeError(f"unexpected reply {head[:40]!r}"))
            return
        at = head.lower().find(b"\r\ncontent-length:")
        if at < 0:
            self._waiter.set_exception(RuntimeError("reply without Content-Length"))
            return
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end > 0 else len(head)])
        if len(self._buffer) < end + 4 + length:
            return
        body = self._buffer[end + 4 : end + 4 + length]
        self._buffer = self._buffer[end + 4 + length :]
        if GRANTED_PREFIX not in body[:12]:
            self._waiter.set_exception(RuntimeError("reply is not a granted TimeStampResp"))
            return
        self._waiter.set_result(body)

    async def exchange(self, request: bytes) -> bytes:
        if self._lost is not None:
            raise self._lost
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        body = await self._waiter
        self._waiter = None
        return body

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _connect(port: int) -> _Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(_Connection, "127.0.0.1", port)
    return protocol


class _Run:
    """Latencies and the sampled replies of one run."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.samples: list[tuple[_Query, bytes]] = []
        self.started = time.perf_counter()
        self.elapsed = 0.0

    def done(self, query: _Query, reply: bytes, latency: float) -> None:
        self.latencies.append(latency)
        if len(self.latencies) % SAMPLE_EVERY == 0:
            self.samples.append((query, reply))


async def _closed_loop(
    requests: list[_Query], port: int, connections: int, duration: float
) -> _Run:
    run = _Run()
    deadline = time.perf_counter() + duration
    clock = time.perf_counter

    async def conn(k: int) -> None:
        connection = await _connect(port)
        i = k
        while (t0 := clock()) < deadline:
            query = requests[i % len(requests)]
            reply = await connection.exchange(query.http)
            run.done(query, reply, clock() - t0)
            i += connections
        connection.close()

    await asyncio.gather(*(conn(k) for k in range(connections)))
    run.elapsed = time.perf_counter() - run.started
    return run


async def _open_loop(
    requests: list[_Query], port: int, connections: int, rate: float, duration: float
) -> _Run:
    """Each connection sends on a fixed schedule (rate/connections per second); latency is
    measured from the scheduled time, so queueing behind a slow reply counts."""
    run = _Run()
    interval = connections / rate
    start = run.started = time.perf_counter() + 0.05

    async def conn(k: int) -> None:
        connection = await _connect(port)
        scheduled = start + k * interval / connections
        i = k
        while scheduled < start + duration:
            now = time.perf_counter()
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            query = requests[i % len(requests)]
            reply = await connection.exchange(query.http)
            run.done(query, reply, time.perf_counter() - scheduled)
            scheduled += interval
            i += connections
        connection.close()

    await asyncio.gather(*(conn(k) for k in range(connections)))
    run.elapsed = time.perf_counter() - run.started
    return run


def _verify_samples(port: int, samples: list[tuple[_Query, bytes]]) -> int:
    """Verify the sampled tokens in full (signature, ESS binding, chain to the server's root,
    EKU, imprint, nonce); raise on the first that fails. Returns how many were checked."""
    chain = x509.load_pem_x509_certificates(
        httpx.get(f"http://127.0.0.1:{port}/tsa/certs", timeout=10).content
    )
    for query, reply in samples:
        verifier = TimestampVerifierBuilder().add_root(chain[-1]).nonce(query.nonce).build()
        result = verifier.verify(parse_response(reply), query.imprint)
        if not result.ok:
            raise RuntimeError(f"sampled token (nonce {query.nonce}) fails: {result.failed}")
    return len(samples)


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
    requests = _requests(4096)  # before the CPU count: building them is not load generation
    cpu_start = time.process_time()
    if mode == "closed":
        run = asyncio.run(_closed_loop(requests, port, connections, duration))
    else:
        run = asyncio.run(_open_loop(requests, port, connections, rate, duration))
    result = _summary(run.latencies, run.elapsed)
    result["client_cpu_s"] = time.process_time() - cpu_start
    result["verified_samples"] = _verify_samples(port, run.samples)  # after the CPU count
    out.send(result)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc), e.g. uvicorn's supervisor and workers."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def server_cpu_seconds(root: int) -> float:
    """user + system CPU seconds of the server's processes so far (/proc/<pid>/stat)."""
    total = 0
    for pid in _process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / _CLOCK_TICKS


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
    # A closed-loop connection waits for its token, and a token for its group commit: 64
    # connections (32 per worker on two cores) keep every stage busy; 32 leave gaps.
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="default: as timeseal serve")
    parser.add_argument("--port", type=int, default=8771)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    sign_rate = ecdsa_sign_rate()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", args.port, args.workers)
        try:
            run_client("closed", args.port, args.connections, 0, 2.0)  # warm-up
            cpu_before = server_cpu_seconds(server.pid)
            peak = run_client("closed", args.port, args.connections, 0, args.duration)
            peak["server_cpu_s"] = server_cpu_seconds(server.pid) - cpu_before
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
        "server_cpu_us_per_token": 1e6 * peak["server_cpu_s"] / peak["tokens"],
        "client_cpu_us_per_token": 1e6 * peak["client_cpu_s"] / peak["tokens"],
    }
    # The same CPU in units of one ECDSA signature measured in this run: on a shared (virtual)
    # machine both slow down together, so this ratio moves less than the microseconds do.
    report["server_cpu_in_signatures"] = report["server_cpu_us_per_token"] * sign_rate / 1e6
    report["client_cpu_in_signatures"] = report["client_cpu_us_per_token"] * sign_rate / 1e6
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
    print(f"sampled tokens verified in full: {peak['verified_samples'] + half['verified_samples']}")
    print(
        f"CPU per token at peak: server {report['server_cpu_us_per_token']:.0f} µs "
        f"(all its processes, user + system), client {report['client_cpu_us_per_token']:.0f} µs"
    )
    print(
        f"the same in one-core ECDSA signatures: server {report['server_cpu_in_signatures']:.1f}, "
        f"client {report['client_cpu_in_signatures']:.1f}"
    )


if __name__ == "__main__":
    main()
