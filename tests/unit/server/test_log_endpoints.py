"""The log's HTTP endpoints: C2SP paths, contents and caching headers."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from starlette.testclient import TestClient

from timeseal.core.tlog import (
    leaf_hash,
    parse_entry_bundle,
    parse_signed_checkpoint,
    parse_verifier_key,
    verify_checkpoint,
)
from timeseal.core.tsp.request import build_request

QUERY = {"Content-Type": "application/timestamp-query"}


def _grow(client: TestClient, n: int) -> None:
    for i in range(n):
        digest = hashlib.sha256(f"leaf {i}".encode()).digest()
        assert (
            client.post("/tsa", content=build_request(digest).der, headers=QUERY).status_code == 200
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if parse_signed_checkpoint(client.get("/log/checkpoint").content).checkpoint.size >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the sequencer did not integrate in time")


def test_checkpoint_vkey_tiles_and_headers(client: TestClient, data_dir: Path) -> None:
    _grow(client, 300)
    vkey_reply = client.get("/log/vkey")
    assert vkey_reply.status_code == 200
    vkey = parse_verifier_key(vkey_reply.text.strip())
    assert vkey_reply.text.strip() == (data_dir / "log" / "log.vkey").read_text().strip()

    checkpoint = client.get("/log/checkpoint")
    assert checkpoint.headers["cache-control"] == "no-cache"
    assert checkpoint.headers["content-type"].startswith("text/plain")
    signed = parse_signed_checkpoint(checkpoint.content)
    assert verify_checkpoint(signed, vkey).ok
    size = signed.checkpoint.size
    assert size >= 300

    full = client.get("/log/tile/0/000")
    assert full.status_code == 200
    assert len(full.content) == 256 * 32
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    width = size % 256
    partial = client.get(f"/log/tile/0/001.p/{width}")
    assert partial.status_code == 200
    assert len(partial.content) == width * 32
    assert partial.headers["cache-control"] == "public, max-age=60"
    bundle = client.get("/log/tile/entries/000")
    entries = parse_entry_bundle(bundle.content)
    assert len(entries) == 256
    assert [leaf_hash(e) for e in entries[:2]] == [
        full.content[:32],
        full.content[32:64],
    ]
    lookup = client.get(f"/api/v1/log/leaf-index/{leaf_hash(entries[7]).hex()}")
    assert lookup.json() == {"leaf_index": 7}


def test_bad_and_missing_paths_are_404(client: TestClient) -> None:
    for path in (
        "/log/tile/0/999",  # beyond the tree
        "/log/tile/0/x000/000",  # non-canonical path
        "/log/tile/0/000.p/256",  # a full tile is never addressed as partial 256
        "/log/tile/entries/000.p/0",
        "/log/tile/9/../000",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/v1/log/leaf-index/zz").status_code == 400
    assert client.get(f"/api/v1/log/leaf-index/{'00' * 32}").status_code == 404
