"""Blobs as files under ``<data-dir>/blobs``: temp file, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from timeseal.core.files import fsync_dir, write_durably
from timeseal.store.blobs._common import (
    CHUNK_SIZE,
    LABEL_NAME,
    BlobError,
    BlobNotFound,
    BlobReader,
    BlobRef,
    ByteSource,
    blob_path,
    check_digest,
    checked,
    digest_only,
    iter_chunks,
)


class LocalBlobStore:
    """Blobs as read-only files under ``root`` (``<data-dir>/blobs``).

    A write goes to a temporary file under ``root/tmp`` (same file system), locked with
    ``flock`` for as long as its writer lives; the file is fsynced, renamed to
    ``root/ab/cd/<hex>``, and the directory is fsynced. A crash leaves at most an unlocked
    temporary file, which is never visible as a blob and which :meth:`sweep_abandoned`
    removes. Creating no directories, :meth:`__init__` does no I/O.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"

    def path(self, sha256: bytes) -> Path:
        return self.root / blob_path(sha256)

    # writing

    def write_stream(self, source: ByteSource, expected_sha256: bytes | None = None) -> BlobRef:
        if expected_sha256 is not None:
            check_digest(expected_sha256)
            if self.exists(expected_sha256):
                return checked(expected_sha256, *digest_only(source))
        fd, temp = self._new_temp()
        try:
            hasher = hashlib.sha256()
            size = 0
            for chunk in iter_chunks(source):
                hasher.update(chunk)
                write_all(fd, chunk)
                size += len(chunk)
            ref = checked(expected_sha256, hasher.digest(), size)
            os.fchmod(fd, 0o400)
            os.fsync(fd)
            self._install(temp, ref.sha256)
            return ref
        except BaseException:
            _unlink_quietly(temp)
            raise
        finally:
            os.close(fd)  # releases the lock; the name is gone by now

    def adopt(self, path: Path, sha256: bytes) -> BlobRef:
        check_digest(sha256)
        size = os.stat(path).st_size
        if self.exists(sha256):
            os.unlink(path)
            return BlobRef(sha256, size)
        os.chmod(path, 0o400)
        try:
            self._install(Path(path), sha256)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another file system: copy (and hash again), then drop the original.
            with open(path, "rb") as f:
                ref = self.write_stream(f, sha256)
            os.unlink(path)
            return ref
        return BlobRef(sha256, size)

    def _new_temp(self) -> tuple[int, Path]:
        """A new, locked temporary file (the lock marks it as in use: see sweep_abandoned)."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        while True:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="blob-", suffix=".part")
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(name).st_ino == os.fstat(fd).st_ino:
                    return fd, Path(name)
            except FileNotFoundError:
                pass
            os.close(fd)  # a sweeper removed it before we locked it: take another

    def _install(self, temp: Path, sha256: bytes) -> None:
        final = self.path(sha256)
        if final.exists():  # the same bytes are there already
            os.unlink(temp)
            return
        _makedirs_durably(final.parent, self.root)
        # Atomic: readers see no file or the whole file. A concurrent writer of the same
        # content may rename over us; its bytes are the same, so that is harmless.
        os.rename(temp, final)
        fsync_dir(final.parent)

    # reading

    def open(self, sha256: bytes) -> LocalBlobReader:
        try:
            fd = os.open(self.path(sha256), os.O_RDONLY)
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256.hex()}") from None
        return LocalBlobReader(BlobRef(sha256, os.fstat(fd).st_size), fd)

    def exists(self, sha256: bytes) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: bytes) -> int:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256.hex()}") from None

    def read_label(self) -> bytes | None:
        try:
            return (self.root / LABEL_NAME).read_bytes()
        except FileNotFoundError:
            return None

    def write_label(self, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_durably(self.root / LABEL_NAME, data, mode=0o600)

    # removing

    def delete(self, sha256: bytes) -> None:
        path = self.path(sha256)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        fsync_dir(path.parent)

    def sweep_abandoned(self, older_than: dt.timedelta = dt.timedelta(0)) -> int:
        """Remove temporary files that no live writer holds (their ``flock`` is free)."""
        if not self._tmp.is_dir():
            return 0
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for entry in os.scandir(self._tmp):
            try:
                fd = os.open(entry.path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer
                if os.fstat(fd).st_mtime <= cutoff:
                    _unlink_quietly(Path(entry.path))
                    removed += 1
            finally:
                os.close(fd)
        return removed


class LocalBlobReader(BlobReader):
    """Reads with ``pread``: ranges need no shared file position."""

    def __init__(self, ref: BlobRef, fd: int) -> None:
        super().__init__(ref)
        self._fd: int | None = fd

    def _range(self, start: int, end: int) -> Iterator[bytes]:
        position = start
        while position < end:
            if self._fd is None:
                raise ValueError("read from a closed blob reader")
            chunk = os.pread(self._fd, min(CHUNK_SIZE, end - position), position)
            if not chunk:
                raise BlobError(f"blob {self.ref.hex} is shorter than {self.size} bytes")
            position += len(chunk)
            yield chunk

    def close(self) -> None:
        super().close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _makedirs_durably(path: Path, root: Path) -> None:
    """``mkdir -p``, fsyncing the parent of every directory it creates (so a new blob's
    directory entry cannot vanish in a crash after the blob's rename was fsynced)."""
    if path.is_dir():
        return
    if path != root:
        _makedirs_durably(path.parent, root)
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
