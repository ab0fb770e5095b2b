"""kill -9 during a stream of appends, many times: nothing acknowledged is lost and every
checkpoint ever served is consistent with the final one."""

from __future__ import annotations

import hashlib
import random
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import postgres_url_or_skip, scratch_database
from tests.support.server import TIMESEAL, free_port, kill_hard, start_detached, wait_ready
from timeseal.cli.data_dir import utc_now
from timeseal.core.log_entry import format_entry, tsa_token_entry
from timeseal.core.tlog import (
    leaf_hash,
    parse_signed_checkpoint,
    parse_verifier_key,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import PKIStatus, parse_response
from timeseal.server.runtime import datadir
from timeseal.store.db import make_engine
from timeseal.store.log.store import LogStore

pytestmark = pytest.mark.e2e

QUERY = {"Content-Type": "application/timestamp-query"}


class Load:
    """Clients stamping as fast as they can and a watcher of /log/checkpoint."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.acknowledged: list[bytes] = []  # leaf entries of tokens the client received
        self.checkpoints: list[bytes] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._stamp, args=(k,), daemon=True) for k in range(4)
        ] + [threading.Thread(target=self._watch, daemon=True)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _stamp(self, k: int) -> None:
        url = self.urls[k % len(self.urls)]
        with httpx.Client(timeout=10) as http:
            i = 0
            while not self.stop.is_set():
                i += 1
                digest = hashlib.sha256(f"{k}-{i}-{time.time_ns()}".encode()).digest()
                try:
                    reply = http.post(
                        f"{url}/tsa", content=build_request(digest).der, headers=QUERY
                    )
                except httpx.HTTPError:
                    return  # the server died under us
                response = parse_response(reply.content)
                assert response.status is PKIStatus.GRANTED
                assert response.token is not None
                with self._lock:
                    self.acknowledged.append(format_entry(tsa_token_entry(response.token)))

    def _watch(self) -> None:
        with httpx.Client(timeout=5) as http:
            while not self.stop.is_set():
                for url in self.urls:
                    try:
                        reply = http.get(f"{url}/log/checkpoint")
                    except httpx.HTTPError:
                        return
                    if reply.status_code == 200:
                        with self._lock:
                            self.checkpoints.append(reply.content)
                time.sleep(0.05)


def _wait_sequenced(store: LogStore, entries: list[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    missing = list(entries)
    while missing and time.monotonic() < deadline:
        missing = [e for e in missing if store.leaf_index(leaf_hash(e)) is None]
        if missing:
            time.sleep(0.2)
    assert not missing, f"{len(missing)} acknowledged entries never reached the log"


def _check_log(data_dir: Path, store: LogStore, load: Load) -> None:
    vkey = parse_verifier_key((data_dir / "log" / "log.vkey").read_text().strip())
    head = store.head()
    assert head is not None
    final = parse_signed_checkpoint(head.checkpoint)
    assert verify_checkpoint(final, vkey).ok
    # No leaf twice, no gap: the bundles hold exactly `size` distinct indices.
    with store.engine.connect() as conn:
        count, low, high = conn.exec_driver_sql(
            "SELECT count(leaf_index), min(leaf_index), max(leaf_index) FROM log_entries"
        ).one()
    assert (count, low, high) == (final.checkpoint.size, 0, final.checkpoint.size - 1)
    for entry in random.sample(load.acknowledged, min(200, len(load.acknowledged))):
        index = store.leaf_index(leaf_hash(entry))
        assert index is not None
        proof = store.inclusion_proof(index, final.checkpoint.size)
        assert verify_inclusion(
            leaf_hash=leaf_hash(entry),
            leaf_index=index,
            tree_size=final.checkpoint.size,
            inclusion_path=proof,
            root_hash=final.checkpoint.root_hash,
        ).ok
    seen = {parse_signed_checkpoint(c) for c in load.checkpoints}
    assert len(seen) > 3
    for signed in seen:
        assert verify_checkpoint(signed, vkey).ok
        old = signed.checkpoint
        assert old.size <= final.checkpoint.size
        proof = store.consistency_proof(old.size, final.checkpoint.size) if old.size else ()
        if old.size:
            assert verify_consistency(
                first=old.size,
                second=final.checkpoint.size,
                first_hash=old.root_hash,
                second_hash=final.checkpoint.root_hash,
                consistency_path=proof,
            ).ok, f"checkpoint at {old.size} is not consistent with the final one"


def _crash_rounds(data_dir: Path, rounds: int, env: dict[str, str], servers: int) -> Load:
    rng = random.Random(1129)
    ports = [free_port() for _ in range(servers)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    total = Load(urls)
    for _ in range(rounds):
        processes = [start_detached(data_dir, p, env=env) for p in ports]
        for url, process in zip(urls, processes, strict=True):
            wait_ready(url, process)
        with Load(urls) as load:
            time.sleep(rng.uniform(0.3, 2.0))
            for process in processes:
                kill_hard(process)
        total.acknowledged += load.acknowledged
        total.checkpoints += load.checkpoints
    # One last start: the sequencer must integrate whatever was acknowledged before a crash.
    processes = [start_detached(data_dir, p, env=env) for p in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            wait_ready(url, process)
        with httpx.Client() as http:
            roles = [http.get(f"{u}/healthz").json()["log"]["sequencer"] for u in urls]
        deadline = time.monotonic() + 10
        while sum(roles) != 1 and time.monotonic() < deadline:
            time.sleep(0.3)
            with httpx.Client() as http:
                roles = [http.get(f"{u}/healthz").json()["log"]["sequencer"] for u in urls]
        assert sum(roles) == 1, f"sequencer roles {roles}: there must be exactly one"
        url = env.get("TIMESEAL_DATABASE_URL") or f"sqlite:///{data_dir / 'timeseal.db'}"
        store = LogStore(make_engine(url))
        _wait_sequenced(store, total.acknowledged)
        _check_log(data_dir, store, total)
        store.engine.dispose()
        # And the audit client, which sees only what the server publishes, agrees.
        vkey = (data_dir / "log" / "log.vkey").read_text().strip()
        audit = subprocess.run(
            [
                *TIMESEAL,
                "log",
                "verify",
                "--server",
                urls[0],
                "--vkey",
                vkey,
                "--state",
                str(data_dir.parent / "audit.json"),
            ],
            capture_output=True,
            text=True,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
    finally:
        for process in processes:
            kill_hard(process)
    assert len(total.acknowledged) > 100
    return total


def test_kill_minus_9_during_appends_sqlite(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=utc_now())
    _crash_rounds(data_dir, rounds=5, env={}, servers=1)


@pytest.mark.postgres
def test_two_servers_on_postgres_one_sequencer_no_lost_leaves(tmp_path: Path) -> None:
    base = postgres_url_or_skip()
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=utc_now())
    with scratch_database(base) as url:
        _crash_rounds(data_dir, rounds=3, env={"TIMESEAL_DATABASE_URL": url}, servers=2)
