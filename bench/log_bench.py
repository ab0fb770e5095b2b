"""Merkle log benchmark: sustained appends with a checkpoint every second, proof latency and
proof sizes.

1. Baseline: the same entries INSERTed into the same SQLite database (WAL, synchronous=FULL,
   group commits of ``--batch``), with no sequencing: the storage ceiling.
2. Sustained appends: writers insert entries in group commits while the sequencer thread
   integrates them and signs a checkpoint every second (the production ``LogStore`` code).
   Counted: entries that are *sequenced* (in a signed checkpoint) per second.
3. Inclusion proofs computed from the stored tiles for random leaves: p50/p99 latency.
4. Inclusion-proof sizes at 10^6 and 10^9 leaves (worst case over leaf positions).

    .venv/bin/python bench/log_bench.py [--seconds 10] [--batch 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from timeseal.core.tlog import Node, generate_signer_key, inclusion_proof, leaf_hash
from timeseal.store.db import create_schema, make_engine
from timeseal.store.log.store import LogStore

ORIGIN = "bench.example/log"


def _entries(n: int, start: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(start, start + n):
        data = b"timeseal/tsa-token/v1\nserial %x\n" % i + os.urandom(120)
        out.append((data, leaf_hash(data)))
    return out


def _insert(store: LogStore, rows: list[tuple[bytes, bytes]]) -> None:
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.executemany(store.insert_entries_sql(), rows)
        raw.commit()
    finally:
        raw.close()


def baseline(path: Path, seconds: float, batch: int) -> float:
    store = LogStore(make_engine(f"sqlite:///{path}"))
    create_schema(store.engine)
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        _insert(store, _entries(batch, n))
        n += batch
    return n / (time.perf_counter() - start)


def sustained(path: Path, seconds: float, batch: int) -> tuple[float, LogStore]:
    store = LogStore(make_engine(f"sqlite:///{path}"))
    create_schema(store.engine)
    key = generate_signer_key(ORIGIN)
    now = dt.datetime.now(dt.UTC)
    store.initialise(key, ORIGIN, now)
    stop = threading.Event()

    def sequencer() -> None:
        while not stop.is_set():
            tick = time.perf_counter()
            store.sequence(key, ORIGIN, dt.datetime.now(dt.UTC))
            stop.wait(max(0.0, 1.0 - (time.perf_counter() - tick)))

    thread = threading.Thread(target=sequencer)
    thread.start()
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        _insert(store, _entries(batch, n))
        n += batch
    stop.set()
    thread.join()
    while store.sequence(key, ORIGIN, dt.datetime.now(dt.UTC)) is not None:
        pass
    elapsed = time.perf_counter() - start
    head = store.head()
    assert head is not None and head.size == n
    return n / elapsed, store


def proof_latency(store: LogStore, samples: int = 500) -> tuple[float, float, int]:
    head = store.head()
    assert head is not None
    size = head.size
    for index in range(0, size, 256):  # warm the tile cache, as a running server's is
        store.inclusion_proof(index, size)
    times = []
    for _ in range(samples):
        index = random.randrange(size)
        t0 = time.perf_counter()
        store.inclusion_proof(index, size)
        times.append(time.perf_counter() - t0)
    times.sort()
    return 1000 * statistics.median(times), 1000 * times[int(0.99 * len(times))], size


class _ZeroReader:
    """A hash reader that answers zeros: enough to count a proof's hashes."""

    def read_hashes(self, nodes: Sequence[Node], /) -> list[bytes]:
        return [bytes(32)] * len(nodes)


def proof_size(tree_size: int) -> int:
    """Most hashes in an RFC 9162 inclusion proof for a tree of ``tree_size`` leaves."""
    candidates = {0, tree_size - 1, tree_size // 2, (1 << (tree_size.bit_length() - 1)) - 1}
    return max(
        len(inclusion_proof(_ZeroReader(), leaf_index=i, tree_size=tree_size))
        for i in candidates
        if i < tree_size
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline(Path(tmp) / "baseline.db", args.seconds, args.batch)
        rate, store = sustained(Path(tmp) / "log.db", args.seconds, args.batch)
        p50, p99, size = proof_latency(store)
    print(f"baseline: SQLite INSERT, group commits of {args.batch}, fsync: {base:,.0f} rows/s")
    print(f"sustained appends, checkpoint every second, fsync: {rate:,.0f} entries/s")
    print(f"sustained / baseline: {rate / base:.2f}")
    print(f"inclusion proof from tiles (tree of {size:,}): p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    for n in (10**6, 10**9):
        hashes = proof_size(n)
        print(f"inclusion proof at {n:.0e} leaves: {hashes} hashes = {hashes * 32} bytes")


if __name__ == "__main__":
    main()
