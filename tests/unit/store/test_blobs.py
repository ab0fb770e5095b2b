"""Blob stores, each test on local files and on S3 (a real S3 API server on loopback)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import signal
import stat
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.s3 import s3_client
from tests.unit.store.backends import (
    Backend,
    MiB,
    chunks,
    data,
    digest_of,
    local_backend,
    make_backend,
    run_child,
    s3_backend,
)
from timeseal.store.blobs import (
    BlobNotFound,
    BlobRef,
    BlobStore,
    DigestMismatch,
    LocalBlobStore,
    S3BlobStore,
    blob_store_for,
)

#: More than two S3 parts (8 MiB): the multipart path.
LARGE = 20 * MiB + 5


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request, tmp_path, request.param)


def test_both_backends_are_blob_stores(backend: Backend) -> None:
    assert isinstance(backend.store, BlobStore)


@pytest.mark.parametrize("size", [0, 1, MiB + 3, LARGE])
@pytest.mark.parametrize("as_file", [False, True], ids=["chunks", "file"])
def test_round_trip(backend: Backend, size: int, as_file: bool) -> None:
    content = data(size)
    store = backend.store
    ref = store.write_stream(io.BytesIO(content) if as_file else chunks(size))
    assert ref == BlobRef(hashlib.sha256(content).digest(), size)
    assert store.exists(ref.sha256)
    assert store.size(ref.sha256) == size
    with store.open(ref.sha256) as reader:
        assert reader.size == size
        assert reader.read() == content
    with store.open(ref.sha256) as reader:
        assert b"".join(reader) == content
    # Idempotent: the same bytes again are the same blob, declared or not.
    assert store.write_stream(chunks(size)) == ref
    assert store.write_stream(chunks(size), expected_sha256=ref.sha256) == ref
    assert backend.blobs() == [ref.hex]
    assert backend.leftovers() == []


@pytest.mark.parametrize("size", [10, LARGE])
def test_a_declared_digest_that_matches_is_stored(backend: Backend, size: int) -> None:
    expected = digest_of(chunks(size))
    ref = backend.store.write_stream(chunks(size), expected_sha256=expected)
    assert ref == BlobRef(expected, size)
    assert backend.blobs() == [expected.hex()]
    assert backend.leftovers() == []


@pytest.mark.parametrize("size", [10, LARGE])
def test_a_mismatch_keeps_nothing(backend: Backend, size: int) -> None:
    wrong = hashlib.sha256(b"something else").digest()
    with pytest.raises(DigestMismatch) as caught:
        backend.store.write_stream(chunks(size), expected_sha256=wrong)
    actual = digest_of(chunks(size))
    assert (caught.value.expected, caught.value.actual, caught.value.size) == (wrong, actual, size)
    assert f"expected {wrong.hex()}, computed {actual.hex()}" in str(caught.value)
    assert not backend.store.exists(actual)
    assert not backend.store.exists(wrong)
    assert backend.blobs() == []
    assert backend.leftovers() == []


def test_a_mismatch_against_an_existing_blob_is_refused(backend: Backend) -> None:
    """The declared blob exists already: the bytes are still checked against it."""
    ref = backend.store.write_stream(chunks(100))
    with pytest.raises(DigestMismatch):
        backend.store.write_stream(chunks(100, seed=1), expected_sha256=ref.sha256)
    assert backend.blobs() == [ref.hex]


def test_a_failing_source_keeps_nothing(backend: Backend) -> None:
    def broken() -> Iterator[bytes]:
        yield from chunks(LARGE - 4 * MiB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        backend.store.write_stream(broken())
    assert backend.blobs() == []
    assert backend.leftovers() == []


def test_200_mib_stream_through_in_bounded_memory(backend: Backend) -> None:
    size = 200 * MiB
    tracemalloc.start()
    try:
        started = time.monotonic()
        ref = backend.store.write_stream(chunks(size))
        written = time.monotonic() - started
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with backend.store.open(ref.sha256) as reader:
            read_back = digest_of(reader.read_range(0, reader.size))
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref == BlobRef(digest_of(chunks(size)), size)
    assert read_back == ref.sha256
    # Local: one 1 MiB chunk at a time. S3: one 8 MiB part being sent, the next filling.
    limit = 8 * MiB if backend.name == "local" else 40 * MiB
    assert write_peak < limit, f"write peak {write_peak / MiB:.1f} MiB"
    assert read_peak < 8 * MiB, f"read peak {read_peak / MiB:.1f} MiB"
    print(f"{backend.name}: 200 MiB in {written:.2f} s, peak {write_peak / MiB:.1f} MiB")


@pytest.mark.parametrize("declared", [False, True], ids=["undeclared", "declared"])
def test_concurrent_writers_of_the_same_content(backend: Backend, declared: bool) -> None:
    expected = digest_of(chunks(LARGE)) if declared else None
    start = threading.Barrier(6)

    def write(_: int) -> BlobRef:
        start.wait(timeout=30)
        return backend.store.write_stream(chunks(LARGE), expected_sha256=expected)

    with ThreadPoolExecutor(6) as pool:
        refs = set(pool.map(write, range(6)))
    assert refs == {BlobRef(digest_of(chunks(LARGE)), LARGE)}
    (ref,) = refs
    assert backend.blobs() == [ref.hex]
    assert backend.leftovers() == []
    with backend.store.open(ref.sha256) as reader:
        assert digest_of(iter(reader)) == ref.sha256


def test_range_reads(backend: Backend) -> None:
    content = data(3 * MiB + 17)
    ref = backend.store.write_stream([content])
    n = len(content)
    with backend.store.open(ref.sha256) as reader:
        for start, end in [(0, 0), (0, 1), (5, MiB + 5), (MiB - 1, 2 * MiB + 1), (n - 1, n)]:
            assert b"".join(reader.read_range(start, end)) == content[start:end]
        assert b"".join(reader.read_range(0, n)) == content
        # HTTP "Range: bytes=100-199" is read_range(100, 200).
        assert b"".join(reader.read_range(100, 200)) == content[100:200]
        assert all(len(c) <= MiB for c in reader.read_range(0, n))
        for bad in [(-1, 5), (6, 5), (0, n + 1)]:
            with pytest.raises(ValueError, match="outside the blob"):
                reader.read_range(*bad)
        # Sequential reads, like a file.
        assert reader.read(10) == content[:10]
        assert reader.read(MiB) == content[10 : MiB + 10]
        assert reader.tell() == MiB + 10
        reader.seek(n - 5)
        assert reader.read(100) == content[-5:]
        assert reader.read(1) == b""


def test_a_reader_is_a_file_for_another_store(backend: Backend, tmp_path: Path) -> None:
    """Moving blobs between backends: one store's reader is another's source."""
    ref = backend.store.write_stream(chunks(LARGE))
    other = LocalBlobStore(tmp_path / "other")
    with backend.store.open(ref.sha256) as reader:
        assert other.write_stream(reader, expected_sha256=ref.sha256) == ref


def test_missing_blobs(backend: Backend) -> None:
    missing = hashlib.sha256(b"never stored").digest()
    assert not backend.store.exists(missing)
    with pytest.raises(BlobNotFound):
        backend.store.open(missing)
    with pytest.raises(BlobNotFound):
        backend.store.size(missing)
    backend.store.delete(missing)  # nothing to do


def test_delete_an_abandoned_blob(backend: Backend) -> None:
    ref = backend.store.write_stream(chunks(100))
    backend.store.delete(ref.sha256)
    assert not backend.store.exists(ref.sha256)
    assert backend.blobs() == []


def test_sources_must_be_chunks_or_binary_files(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not one bytes value"):
        backend.store.write_stream(b"raw bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="chunks must be bytes"):
        backend.store.write_stream(["text"])  # type: ignore[list-item]
    (tmp_path / "text.txt").write_text("hello")
    with (
        open(tmp_path / "text.txt") as text,
        pytest.raises(TypeError, match="binary mode"),
    ):
        backend.store.write_stream(text)  # type: ignore[arg-type]
    assert backend.leftovers() == []


def test_layout(backend: Backend) -> None:
    ref = backend.store.write_stream([b"layout"])
    h = ref.hex
    store = backend.store
    if isinstance(store, LocalBlobStore):
        path = store.root / h[:2] / h[2:4] / h
        assert store.path(ref.sha256) == path
        assert stat.S_IMODE(path.stat().st_mode) == 0o400  # sealed bytes are read-only
    else:
        assert store.key(ref.sha256) == f"evidence/blobs/{h[:2]}/{h[2:4]}/{h}"


_CRASH = """
import os, signal
store = store_from_spec(SPEC)
def dying():
    for i, chunk in enumerate(chunks(int(ARGS[0]))):
        if i == int(ARGS[1]):
            os.kill(os.getpid(), signal.SIGKILL)
        yield chunk
store.write_stream(dying())
"""


def test_a_crashed_writer_leaves_no_blob(backend: Backend) -> None:
    """kill -9 half way: no blob appears; the leftovers are swept; the write can be redone."""
    child = run_child(_CRASH, backend.spec, str(LARGE), "12")
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert backend.blobs() == []
    assert not backend.store.exists(digest_of(chunks(LARGE)))
    assert len(backend.leftovers()) == 1  # a temporary file / an incomplete multipart upload
    assert backend.store.sweep_abandoned(dt.timedelta(0)) == 1
    assert backend.leftovers() == []
    ref = backend.store.write_stream(chunks(LARGE))
    assert backend.blobs() == [ref.hex]


def test_sweeping_spares_live_writers(tmp_path: Path) -> None:
    """Local writers hold a lock on their temporary file, whatever its age. (S3 uploads are
    spared by age, from ``Initiated``; moto reports a fixed date there, so that part is
    not tested here.)"""
    backend = local_backend(tmp_path / "blobs")
    paused, resume = threading.Event(), threading.Event()

    def slow() -> Iterator[bytes]:
        for i, chunk in enumerate(chunks(LARGE)):
            if i == 10:
                paused.set()
                resume.wait(timeout=30)
            yield chunk

    with ThreadPoolExecutor(1) as pool:
        writing = pool.submit(backend.store.write_stream, slow())
        assert paused.wait(timeout=30)
        assert len(backend.leftovers()) == 1
        assert backend.store.sweep_abandoned(dt.timedelta(0)) == 0
        resume.set()
        ref = writing.result(timeout=60)
    assert backend.blobs() == [ref.hex]
    assert backend.leftovers() == []


def test_blob_refs_are_validated() -> None:
    digest = hashlib.sha256(b"").digest()
    assert BlobRef(digest, 0).hex == digest.hex()
    with pytest.raises(ValueError, match="32 bytes"):
        BlobRef(digest[:31], 0)
    with pytest.raises(TypeError):
        BlobRef(digest.hex(), 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        BlobRef(digest, -1)


def test_blob_store_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    local = blob_store_for(tmp_path, None)
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "blobs"
    elsewhere = blob_store_for(tmp_path, f"file://{tmp_path / 'elsewhere'}")
    assert isinstance(elsewhere, LocalBlobStore) and elsewhere.root == tmp_path / "elsewhere"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = blob_store_for(
        tmp_path, "s3://evidence-bucket/time/seal/", s3_endpoint_url="http://127.0.0.1:9"
    )
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.prefix) == ("evidence-bucket", "time/seal")
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"
    for bad in ["http://example.com/x", "s3://", "file://relative"]:
        with pytest.raises(ValueError, match="s3://bucket/prefix"):
            blob_store_for(tmp_path, bad)


def test_s3_from_the_environment_round_trip(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What `timeseal serve` does with TIMESEAL_BLOB_URL, TIMESEAL_S3_ENDPOINT_URL (read by
    its settings) and the standard AWS variables (read by boto3)."""
    bucket = "timeseal-from-env"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    store = blob_store_for(tmp_path, f"s3://{bucket}/vault", s3_endpoint_url=s3_endpoint)
    ref = store.write_stream(chunks(LARGE))
    with store.open(ref.sha256) as reader:
        assert b"".join(reader.read_range(LARGE - 10, LARGE)) == data(LARGE)[-10:]
    found = s3_backend(s3_endpoint, bucket, prefix="vault")
    assert found.blobs() == [ref.hex]
    assert found.leftovers() == []


def test_local_backend_helper_sees_what_the_store_writes(tmp_path: Path) -> None:
    backend = local_backend(tmp_path / "blobs")
    assert backend.blobs() == [] and backend.leftovers() == []
    ref = backend.store.write_stream([b"x"])
    assert backend.blobs() == [ref.hex]
