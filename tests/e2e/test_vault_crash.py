"""``kill -9`` of the whole server (supervisor and 2 workers) while 12 clients upload at once,
twice: every upload a client saw acknowledged is there exactly once, whole, and its token
verifies; no record points at a missing or short blob."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.accounts import latest_code
from tests.support.server import free_port, kill_hard, start_detached, wait_ready
from timeseal.cli.server_client import make_client
from timeseal.cli.vault.transfer import RetryPolicy
from timeseal.cli.vault.tus import TusUploader
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.server.runtime import datadir, platform_keys
from timeseal.store.blobs import LocalBlobStore
from timeseal.store.db import DATABASE_URL_ENV, database_url, make_engine
from timeseal.store.evidence.records import EvidenceStore

pytestmark = pytest.mark.e2e

PHONE = "+8613812345678"
CLIENTS = 12
FILES_PER_CLIENT = 4
CHUNK = 256 * 1024
KILL_AFTER = (6, 24)  # kill when this many uploads have been acknowledged


def _log_in(url: str, data_dir: Path) -> tuple[str, int]:
    assert httpx.post(f"{url}/api/v1/auth/sms-code", json={"phone": PHONE}).status_code == 200
    body = {
        "phone": PHONE,
        "code": latest_code(data_dir / "sms-outbox.log", PHONE),
        "kind": "token",
        "token_name": "e2e",
    }
    reply = httpx.post(f"{url}/api/v1/auth/login", json=body)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    return answer["token"]["token"], answer["account"]["id"]


class Clients:
    def __init__(self, url: str, token: str, files: list[list[Path]]) -> None:
        self.acknowledged: dict[Path, str] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(url, token, mine), daemon=True)
            for mine in files
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), "clients did not finish"

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def _run(self, url: str, token: str, mine: list[Path]) -> None:
        policy = RetryPolicy(retries=60, backoff=0.1, cap=1.0)
        with make_client(url, token) as client:
            uploader = TusUploader(client, url, chunk_size=CHUNK, policy=policy)
            for path in mine:
                try:
                    number = uploader.upload(path, kind="video")
                except Exception as exc:  # reported by the test
                    with self._lock:
                        self.errors.append(f"{path.name}: {exc!r}")
                    continue
                with self._lock:
                    self.acknowledged[path] = number


def test_kill_9_during_concurrent_uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    rng = random.Random(4)
    files: list[list[Path]] = []
    for c in range(CLIENTS):
        mine = []
        for k in range(FILES_PER_CLIENT):
            size = rng.choice([rng.randint(1, 200_000), rng.randint(CHUNK + 1, 3 * CHUNK)])
            path = tmp_path / "files" / f"c{c}-{k}.bin"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(rng.randbytes(size))
            mine.append(path)
        files.append(mine)

    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_detached(data_dir, port, workers=2)
    try:
        wait_ready(url, server)
        token, owner = _log_in(url, data_dir)
        clients = Clients(url, token, files)
        clients.start()
        for threshold in KILL_AFTER:
            deadline = time.monotonic() + 120
            while clients.count() < threshold and time.monotonic() < deadline:
                time.sleep(0.02)
            kill_hard(server)
            time.sleep(0.3)
            server = start_detached(data_dir, port, workers=2)
            wait_ready(url, server)
        clients.join(timeout=240)
    finally:
        kill_hard(server)

    assert clients.errors == []
    # Retries hide server faults from the clients; none may happen at all.
    server_log = (tmp_path / f"server-{port}.log").read_text(errors="replace")
    assert "Traceback" not in server_log, server_log[server_log.find("Traceback") :][:3000]
    total = CLIENTS * FILES_PER_CLIENT
    assert len(clients.acknowledged) == total
    assert clients.count() > KILL_AFTER[-1]  # the kills came while uploads were under way

    engine = make_engine(database_url(data_dir, os.environ.get(DATABASE_URL_ENV)))
    try:
        records = EvidenceStore(engine).list_for(owner, limit=10 * total)
    finally:
        engine.dispose()
    blobs = LocalBlobStore(data_dir / "blobs")
    root = platform_keys.load_chain(data_dir, datadir.load_config(data_dir).tsa.signer)[-1]
    verifier = TimestampVerifierBuilder().add_root(root).build()

    # No half-written record: every record's blob is there, whole, and its token verifies.
    for record in records:
        blob = blobs.path(record.content_sha256)
        assert blob.stat().st_size == record.size, record.number
        assert hashlib.sha256(blob.read_bytes()).digest() == record.content_sha256
        response = parse_response(record.tsr_der)
        assert verifier.verify(response, record.content_sha256).ok, record.number

    # Every acknowledged upload is present exactly once, with the content that was sent.
    by_number = {r.number: r for r in records}
    assert len(by_number) == len(records)
    for path, number in clients.acknowledged.items():
        record = by_number[number]
        assert record.content_sha256 == hashlib.sha256(path.read_bytes()).digest()
        same = [r for r in records if r.content_sha256 == record.content_sha256]
        assert len(same) == 1, f"{path.name} sealed {len(same)} times"
    assert len(records) == total
