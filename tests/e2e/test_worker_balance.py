"""``timeseal serve`` with several workers spreads a burst of new connections over all of them,
and replaces them on SIGHUP (each worker issues serials from its own epoch, so the serials show
which worker answered)."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.server import live_server
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import PKIStatus, parse_response
from timeseal.store.issuance import EPOCH_SHIFT

pytestmark = pytest.mark.e2e

CONNECTIONS = 32


async def _epoch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, i: int) -> int:
    """Ask for one token on this connection: the epoch of its serial (which worker answered)."""
    body = build_request(hashlib.sha256(i.to_bytes(4, "big")).digest(), nonce=i).der
    writer.write(
        b"POST /tsa HTTP/1.1\r\nHost: t\r\nContent-Type: application/timestamp-query\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    response = parse_response(await reader.readexactly(length))
    assert response.status is PKIStatus.GRANTED and response.token is not None
    return response.token.tst_info.serial_number >> EPOCH_SHIFT


async def _both_workers_up(port: int) -> None:
    """/healthz answers once the first worker listens; wait until both answer tokens."""
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while len(seen) < 2:
        assert time.monotonic() < deadline, "the second worker never answered"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        seen.add(await _epoch(reader, writer, len(seen)))
        writer.close()
        await asyncio.sleep(0.05)


async def _one_token_per_connection(port: int) -> list[int]:
    """Open every connection first, then send one request on each: the epochs of the serials."""
    await _both_workers_up(port)
    connections = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in range(CONNECTIONS))
    )
    epochs = []
    for i, (reader, writer) in enumerate(connections):
        epochs.append(await _epoch(reader, writer, i))
        writer.close()
    return epochs


def test_a_burst_of_connections_reaches_both_workers(tmp_path: Path) -> None:
    with live_server(tmp_path / "data", workers=2) as server:
        port = int(server.url.rsplit(":", 1)[1])
        epochs = asyncio.run(_one_token_per_connection(port))
    assert len(epochs) == CONNECTIONS
    # Two workers, two epochs; neither took (almost) every connection.
    counts = sorted(epochs.count(e) for e in set(epochs))
    assert len(counts) == 2, counts
    assert counts[0] >= CONNECTIONS // 8, counts


async def _epoch_on_new_connection(port: int, i: int) -> int | None:
    """One token on a fresh connection; None if the connection failed (a worker stopping)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await _epoch(reader, writer, i)
        finally:
            writer.close()
    except (ConnectionError, asyncio.IncompleteReadError):
        return None


async def _epochs_until(port: int, done: Callable[[set[int]], bool]) -> set[int]:
    seen: set[int] = set()
    deadline = time.monotonic() + 90
    i = 0
    while not done(seen):
        assert time.monotonic() < deadline, f"epochs seen: {sorted(seen)}"
        epoch = await _epoch_on_new_connection(port, i)
        if epoch is not None:
            seen.add(epoch)
        i += 1
        await asyncio.sleep(0.05)
    return seen


def test_sighup_replaces_every_worker(tmp_path: Path) -> None:
    """SIGHUP to the supervisor replaces the workers one by one (as uvicorn's reload does):
    new processes take new serial epochs, and the server answers throughout."""
    with live_server(tmp_path / "data", workers=2) as server:
        port = int(server.url.rsplit(":", 1)[1])
        before = asyncio.run(_epochs_until(port, lambda seen: len(seen) >= 2))
        server.process.send_signal(signal.SIGHUP)
        newest = max(before)
        after = asyncio.run(
            _epochs_until(port, lambda seen: len({e for e in seen if e > newest}) >= 2)
        )
        assert server.process.poll() is None  # the supervisor is still running
    assert len({e for e in after if e > newest}) == 2
