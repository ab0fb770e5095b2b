"""The blob backends under test, each with a way to look behind the interface: which blobs
are visible and what unfinished writes are lying around."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.s3 import empty_bucket, new_bucket, s3_client
from timeseal.store.blobs import LocalBlobStore, S3BlobStore

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[3]
_BLOCK = hashlib.shake_256(b"timeseal test data").digest(MiB)


def chunks(total: int, chunk: int = MiB, seed: int = 0) -> Iterator[bytes]:
    """``total`` deterministic pseudo-random bytes, ``chunk`` at a time, held one at a time."""
    sent = 0
    index = 0
    while sent < total:
        n = min(chunk, total - sent)
        head = (seed * 1_000_003 + index).to_bytes(8, "big")
        yield (head + _BLOCK[8:n])[:n]
        sent += n
        index += 1


def data(total: int, seed: int = 0) -> bytes:
    return b"".join(chunks(total, seed=seed))


def digest_of(parts: Iterator[bytes]) -> bytes:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part)
    return hasher.digest()


@dataclass
class Backend:
    name: str
    store: LocalBlobStore | S3BlobStore
    blobs: Callable[[], list[str]]
    """Names of the visible blobs (hex digests)."""
    leftovers: Callable[[], list[str]]
    """Unfinished writes: temporary files, temporary objects, incomplete multipart uploads."""
    spec: dict[str, str]
    """What a child process needs to build the same store (see ``run_child``)."""


def local_backend(root: Path) -> Backend:
    store = LocalBlobStore(root)

    def blobs() -> list[str]:
        return sorted(p.name for p in root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"))

    def leftovers() -> list[str]:
        tmp = root / "tmp"
        return sorted(os.listdir(tmp)) if tmp.exists() else []

    return Backend("local", store, blobs, leftovers, {"kind": "local", "root": str(root)})


def s3_backend(endpoint: str, bucket: str, prefix: str = "evidence/blobs") -> Backend:
    client = s3_client(endpoint)
    store = S3BlobStore(client, bucket, prefix)

    def keys(under: str) -> list[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=under)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def blobs() -> list[str]:
        return [k.rsplit("/", 1)[1] for k in keys(f"{prefix}/") if f"{prefix}/tmp/" not in k]

    def leftovers() -> list[str]:
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return keys(f"{prefix}/tmp/") + [f"multipart:{u['Key']}" for u in uploads]

    spec = {"kind": "s3", "endpoint": endpoint, "bucket": bucket, "prefix": prefix}
    return Backend("s3", store, blobs, leftovers, spec)


def make_backend(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Iterator[Backend]:
    if kind == "local":
        yield local_backend(tmp_path / "blobs")
        return
    endpoint: str = request.getfixturevalue("s3_endpoint")
    client = s3_client(endpoint)
    bucket = new_bucket(client)
    backend = s3_backend(endpoint, bucket)
    try:
        yield backend
    finally:
        empty_bucket(client, bucket)
        client.close()
        assert isinstance(backend.store, S3BlobStore)
        backend.store.client.close()


def store_from_spec(spec: dict[str, str]) -> LocalBlobStore | S3BlobStore:
    if spec["kind"] == "local":
        return LocalBlobStore(Path(spec["root"]))
    return S3BlobStore(s3_client(spec["endpoint"]), spec["bucket"], spec["prefix"])


def run_child(code: str, spec: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new Python with ``SPEC`` (the backend spec) and ``ARGS`` defined."""
    prologue = (
        "import json, sys\n"
        "from tests.unit.store.backends import *\n"
        "SPEC = json.loads(sys.argv[1])\n"
        "ARGS = sys.argv[2:]\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prologue + code, json.dumps(spec), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
