"""Resumable-upload staging: append at offsets, survive kill -9, finish into both backends."""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.unit.store.backends import (
    Backend,
    MiB,
    chunks,
    data,
    digest_of,
    make_backend,
    run_child,
)
from timeseal.store.blobs import BlobRef, BlobStore, DigestMismatch, LocalBlobStore
from timeseal.store.uploads import (
    ChecksumMismatch,
    PartialUpload,
    UploadBusy,
    UploadError,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
    sweep_staging,
)

SIZE = 20 * MiB + 7


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request, tmp_path, request.param)


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


def pieces(content: bytes, *cuts: int) -> list[bytes]:
    bounds = [0, *cuts, len(content)]
    return [content[a:b] for a, b in itertools.pairwise(bounds)]


def test_append_resume_and_finish(backend: Backend, staging: Path) -> None:
    content = data(SIZE)
    first, second, third = pieces(content, 3 * MiB + 1, 11 * MiB)
    upload = PartialUpload.create(staging, "u1", length=SIZE)
    assert (upload.offset, upload.length) == (0, SIZE)
    assert upload.append(0, [first[:MiB], first[MiB:]]) == len(first)
    # Another request (another process, after a restart): a new object, same upload.
    again = PartialUpload.open(staging, "u1")
    assert again.offset == len(first)
    assert again.append(len(first), [second]) == len(first) + len(second)
    assert upload.append(upload.offset, iter([third])) == SIZE
    ref = upload.finish(backend.store)
    assert ref == BlobRef(hashlib.sha256(content).digest(), SIZE)
    assert backend.blobs() == [ref.hex]
    with backend.store.open(ref.sha256) as reader:
        assert reader.read() == content
    assert os.listdir(staging) == []
    with pytest.raises(UploadNotFound):
        PartialUpload.open(staging, "u1")
    with pytest.raises(UploadNotFound):
        upload.finish(backend.store)


def test_unknown_length_and_empty_uploads(backend: Backend, staging: Path) -> None:
    upload = PartialUpload.create(staging, "later", length=None)
    upload.append(0, chunks(3 * MiB))
    assert upload.finish(backend.store) == BlobRef(digest_of(chunks(3 * MiB)), 3 * MiB)
    empty = PartialUpload.create(staging, "empty", length=0)
    assert empty.finish(backend.store) == BlobRef(hashlib.sha256().digest(), 0)


def test_a_wrong_offset_is_refused(staging: Path) -> None:
    upload = PartialUpload.create(staging, "u", length=10)
    upload.append(0, [b"12345"])
    for wrong in (0, 4, 6):
        with pytest.raises(UploadOffsetMismatch) as caught:
            upload.append(wrong, [b"67890"])
        assert (caught.value.expected, caught.value.given) == (5, wrong)
    assert upload.offset == 5


def test_more_than_the_declared_length_is_refused(staging: Path) -> None:
    upload = PartialUpload.create(staging, "u", length=10)
    with pytest.raises(UploadTooLarge):
        upload.append(0, [b"123456", b"7890X"])
    assert upload.offset == 6  # what fitted is kept
    upload.append(6, [b"7890"])
    assert upload.offset == 10


def test_an_upload_short_of_its_length_cannot_finish(backend: Backend, staging: Path) -> None:
    upload = PartialUpload.create(staging, "u", length=10)
    upload.append(0, [b"12345"])
    with pytest.raises(UploadError, match="incomplete: 5 of 10"):
        upload.finish(backend.store)
    assert upload.offset == 5


def test_an_interrupted_request_keeps_what_arrived(backend: Backend, staging: Path) -> None:
    content = data(SIZE)

    def client_goes_away() -> Iterator[bytes]:
        yield content[: 2 * MiB]
        yield content[2 * MiB : 5 * MiB]
        raise ConnectionResetError("connection reset by peer")

    upload = PartialUpload.create(staging, "u", length=SIZE)
    with pytest.raises(ConnectionResetError):
        upload.append(0, client_goes_away())
    reopened = PartialUpload.open(staging, "u")
    assert reopened.offset == 5 * MiB
    reopened.append(5 * MiB, [content[5 * MiB :]])
    assert reopened.finish(backend.store).sha256 == hashlib.sha256(content).digest()


_KILLED_MID_APPEND = """
import os, signal
from pathlib import Path
from timeseal.store.uploads import PartialUpload
upload = PartialUpload.open(Path(ARGS[0]), "u")
def dying():
    for i, chunk in enumerate(chunks(int(ARGS[1]), chunk=256 * 1024)):
        if i == int(ARGS[2]):
            os.kill(os.getpid(), signal.SIGKILL)
        yield chunk
upload.append(0, dying(), sync_every=1 << 20)
"""


def test_kill_9_mid_append_resumes_from_the_durable_offset(backend: Backend, staging: Path) -> None:
    PartialUpload.create(staging, "u", length=SIZE)
    # 22 chunks of 256 KiB arrive (5.5 MiB), the offset was made durable every 1 MiB.
    child = run_child(_KILLED_MID_APPEND, {}, str(staging), str(SIZE), "22")
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert (staging / "u" / "data").stat().st_size == 22 * 256 * 1024
    resumed = PartialUpload.open(staging, "u")
    assert resumed.offset == 5 * MiB  # never more than was acknowledged
    content = b"".join(chunks(SIZE, chunk=256 * 1024))  # what the child was sending
    resumed.append(5 * MiB, [content[5 * MiB :]])  # cuts the unacknowledged tail first
    ref = resumed.finish(backend.store)
    assert ref == BlobRef(hashlib.sha256(content).digest(), SIZE)
    with backend.store.open(ref.sha256) as reader:
        assert digest_of(iter(reader)) == ref.sha256


def test_a_declared_digest_that_does_not_match_keeps_nothing(
    backend: Backend, staging: Path
) -> None:
    upload = PartialUpload.create(staging, "u", length=SIZE)
    upload.append(0, chunks(SIZE))
    wrong = hashlib.sha256(b"what the client claimed").digest()
    with pytest.raises(DigestMismatch) as caught:
        upload.finish(backend.store, expected_sha256=wrong)
    assert caught.value.actual == digest_of(chunks(SIZE))
    assert backend.blobs() == []
    assert backend.leftovers() == []
    assert os.listdir(staging) == []
    with pytest.raises(UploadNotFound):
        PartialUpload.open(staging, "u")


def test_a_declared_digest_that_matches(backend: Backend, staging: Path) -> None:
    upload = PartialUpload.create(staging, "u", length=SIZE)
    upload.append(0, chunks(SIZE))
    expected = digest_of(chunks(SIZE))
    assert upload.finish(backend.store, expected_sha256=expected) == BlobRef(expected, SIZE)
    assert backend.leftovers() == []


def test_one_request_at_a_time(staging: Path) -> None:
    upload = PartialUpload.create(staging, "u", length=None)
    paused, resume = threading.Event(), threading.Event()

    def slow() -> Iterator[bytes]:
        yield b"a" * 100
        paused.set()
        resume.wait(timeout=30)
        yield b"b" * 100

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(upload.append, 0, slow())
        assert paused.wait(timeout=30)
        other = PartialUpload.open(staging, "u")
        with pytest.raises(UploadBusy):
            other.append(0, [b"x"])
        with pytest.raises(UploadBusy):
            other.discard()
        resume.set()
        assert first.result(timeout=30) == 200
    assert other.offset == 200


class CrashAfterHandover:
    """A store whose process dies right after the blob was handed over (before the staging
    directory is removed)."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def adopt(self, path: Path, sha256: bytes) -> BlobRef:
        self.store.adopt(path, sha256)
        raise SystemExit("crash")

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def test_finishing_again_after_a_crash_during_handover(backend: Backend, staging: Path) -> None:
    upload = PartialUpload.create(staging, "u", length=SIZE)
    upload.append(0, chunks(SIZE))
    with pytest.raises(SystemExit):
        upload.finish(CrashAfterHandover(backend.store))  # type: ignore[arg-type]
    retried = PartialUpload.open(staging, "u")
    ref = retried.finish(backend.store)
    assert ref == BlobRef(digest_of(chunks(SIZE)), SIZE)
    assert backend.blobs() == [ref.hex]
    assert os.listdir(staging) == []


def test_discard(staging: Path) -> None:
    upload = PartialUpload.create(staging, "u", length=None)
    upload.append(0, [b"abc"])
    upload.discard()
    assert os.listdir(staging) == []
    with pytest.raises(UploadNotFound):
        upload.append(3, [b"d"])
    with pytest.raises(UploadNotFound):
        upload.discard()


class Refused(Exception):
    pass


def _refuse(*_: object) -> None:
    raise Refused


def test_discard_runs_forget_first_and_keeps_the_staging_if_it_refuses(staging: Path) -> None:
    upload = PartialUpload.create(staging, "u", length=None)
    upload.append(0, [b"abc"])
    with pytest.raises(Refused):
        upload.discard(_refuse)
    assert PartialUpload.open(staging, "u").offset == 3  # still there, bytes and all
    forgotten: list[bool] = []
    upload.discard(lambda: forgotten.append((staging / "u").exists()))
    assert forgotten == [True]  # the bookkeeping went while the staging was still whole
    assert os.listdir(staging) == []


def test_finish_claims_the_blob_before_the_staging_goes(staging: Path, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    upload = PartialUpload.create(staging, "u", length=3)
    upload.append(0, [b"abc"])
    claimed: list[tuple[BlobRef, bool]] = []
    ref = upload.finish(store, claim=lambda r: claimed.append((r, (staging / "u").exists())))
    assert claimed == [(ref, True)]
    assert os.listdir(staging) == []

    # A claim refused (the upload was terminated meanwhile): the staging goes all the same.
    other = PartialUpload.create(staging, "v", length=3)
    other.append(0, [b"xyz"])
    with pytest.raises(Refused):
        other.finish(store, claim=_refuse)
    assert os.listdir(staging) == []


def test_ids_are_checked_and_unique(staging: Path) -> None:
    PartialUpload.create(staging, "abc-DEF_123", length=1)
    with pytest.raises(UploadError, match="exists already"):
        PartialUpload.create(staging, "abc-DEF_123", length=1)
    for bad in ["", "../escape", "a/b", ".hidden", "x" * 65]:
        with pytest.raises(ValueError, match="upload ids"):
            PartialUpload.create(staging, bad)
        with pytest.raises(ValueError, match="upload ids"):
            PartialUpload.open(staging, bad)
    with pytest.raises(UploadNotFound):
        PartialUpload.open(staging, "never-created")


def test_sweep_staging_removes_what_crashes_left(staging: Path) -> None:
    import datetime as dt

    PartialUpload.create(staging, "live", length=1)
    (staging / ".half-created.x1y2").mkdir()
    (staging / ".gone.z3").mkdir()
    assert sweep_staging(staging, dt.timedelta(hours=1)) == 0  # too young
    assert sweep_staging(staging, dt.timedelta(0)) == 2
    assert os.listdir(staging) == ["live"]


def test_a_checked_append_keeps_nothing_unless_it_matches(backend: Backend, staging: Path) -> None:
    upload = PartialUpload.create(staging, "checked", length=300)
    first, second = b"a" * 100, b"b" * 200

    def sha(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    assert upload.append(0, [first[:40], first[40:]], expected_sha256=sha(first)) == 100
    with pytest.raises(ChecksumMismatch):
        upload.append(100, [second], expected_sha256=sha(b"something else"))
    assert upload.offset == 100

    def broken() -> Iterator[bytes]:
        yield second[:50]
        raise ConnectionError("the client went away")

    with pytest.raises(ConnectionError):
        upload.append(100, broken(), expected_sha256=sha(second))
    assert PartialUpload.open(staging, "checked").offset == 100  # a checked part never counts
    assert upload.append(100, [second], expected_sha256=sha(second)) == 300
    assert upload.finish(backend.store) == BlobRef(sha(first + second), 300)
