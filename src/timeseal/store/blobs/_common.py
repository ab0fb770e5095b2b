"""The interface every blob backend implements, and what they share."""

from __future__ import annotations

import datetime as dt
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable

from timeseal.store.db import StoreError

#: Bytes read from a file object per step, and the size of the chunks readers yield.
CHUNK_SIZE = 1 << 20
_DIGEST_SIZE = 32


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


#: What :meth:`BlobStore.write_stream` reads: chunks, or a file object opened in binary mode.
ByteSource = Iterable[bytes] | _Readable


class BlobError(StoreError):
    """A blob operation failed."""


class BlobNotFound(BlobError):
    """No blob has this digest."""


class DigestMismatch(BlobError, ValueError):
    """The bytes do not hash to the SHA-256 the caller declared; nothing was stored."""

    def __init__(self, expected: bytes, actual: bytes, size: int) -> None:
        super().__init__(
            f"SHA-256 mismatch: expected {expected.hex()}, computed {actual.hex()} "
            f"over {size} bytes; nothing was stored"
        )
        self.expected = expected
        self.actual = actual
        self.size = size


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A stored blob: its SHA-256 (32 raw bytes) and its size in bytes."""

    sha256: bytes
    size: int

    def __post_init__(self) -> None:
        check_digest(self.sha256)
        if type(self.size) is not int:
            raise TypeError("size must be an int")
        if self.size < 0:
            raise ValueError(f"negative size {self.size}")

    @property
    def hex(self) -> str:
        return self.sha256.hex()


def check_digest(sha256: bytes) -> None:
    if type(sha256) is not bytes:
        raise TypeError(f"a SHA-256 digest is 32 raw bytes, not {type(sha256).__name__}")
    if len(sha256) != _DIGEST_SIZE:
        raise ValueError(f"a SHA-256 digest is 32 bytes, got {len(sha256)}")


def blob_path(sha256: bytes) -> str:
    """``ab/cd/<hex>``: the blob's name below a store's root (a path or an S3 prefix)."""
    check_digest(sha256)
    h = sha256.hex()
    return f"{h[0:2]}/{h[2:4]}/{h}"


def iter_chunks(source: ByteSource) -> Iterator[bytes]:
    """The non-empty chunks of ``source``, reading a file object CHUNK_SIZE at a time."""
    if isinstance(source, bytes | bytearray | memoryview | str):
        raise TypeError(
            "write_stream takes an iterable of chunks or a binary file object, not one "
            "bytes value: wrap it, e.g. [data] or io.BytesIO(data)"
        )
    if hasattr(source, "read"):
        while True:
            chunk = source.read(CHUNK_SIZE)
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise TypeError("the file object must be opened in binary mode")
            if not chunk:
                return
            yield chunk if type(chunk) is bytes else bytes(chunk)
    else:
        for chunk in source:
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise TypeError(f"chunks must be bytes, got {type(chunk).__name__}")
            if chunk:
                yield chunk if type(chunk) is bytes else bytes(chunk)


def digest_only(source: ByteSource) -> tuple[bytes, int]:
    hasher = hashlib.sha256()
    size = 0
    for chunk in iter_chunks(source):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.digest(), size


def checked(expected: bytes | None, digest: bytes, size: int) -> BlobRef:
    if expected is not None and digest != expected:
        raise DigestMismatch(expected, digest, size)
    return BlobRef(digest, size)


class BlobReader(ABC):
    """A stored blob, opened for reading: a binary file object (``read``) that can also
    stream any byte range without reading what comes before it (``read_range``)."""

    def __init__(self, ref: BlobRef) -> None:
        self.ref = ref
        self._position = 0
        self._pending: Iterator[bytes] | None = None
        self._buffer = b""

    @property
    def size(self) -> int:
        return self.ref.size

    @abstractmethod
    def _range(self, start: int, end: int) -> Iterator[bytes]:
        """Chunks of bytes ``[start, end)``; ``0 <= start < end <= size``."""

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        """Stream bytes ``[start, end)`` (half-open, like a slice; the HTTP header
        ``Range: bytes=a-b`` is ``read_range(a, b + 1)``) in chunks of at most CHUNK_SIZE."""
        if not 0 <= start <= end <= self.size:
            raise ValueError(f"range [{start}, {end}) is outside the blob [0, {self.size})")
        if start == end:
            return iter(())
        return self._range(start, end)

    def __iter__(self) -> Iterator[bytes]:
        return self.read_range(0, self.size)

    def read(self, size: int = -1, /) -> bytes:
        """Read sequentially from the current position, like a file."""
        if size is None or size < 0:
            size = self.size - self._position
        out = [self._buffer[:size]]
        self._buffer = self._buffer[size:]
        have = len(out[0])
        while have < size:
            if self._pending is None:
                self._pending = self.read_range(self._position + have, self.size)
            chunk = next(self._pending, b"")
            if not chunk:
                break
            take = chunk[: size - have]
            self._buffer = chunk[len(take) :]
            out.append(take)
            have += len(take)
        self._position += have
        return b"".join(out)

    def seek(self, position: int) -> int:
        if not 0 <= position <= self.size:
            raise ValueError(f"position {position} is outside the blob [0, {self.size}]")
        self._position = position
        self._drop_pending()
        return position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._drop_pending()

    def _drop_pending(self) -> None:
        pending, self._pending, self._buffer = self._pending, None, b""
        close = getattr(pending, "close", None)
        if close is not None:
            close()  # a generator: runs its cleanup (closes an S3 response) now

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: The store's label: a small JSON object beside the blobs, never a blob itself (blobs live
#: under ``ab/cd/``), naming the installation the store belongs to.
LABEL_NAME = "timeseal-store.json"


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed, immutable blobs (see :mod:`timeseal.store.blobs`)."""

    def write_stream(self, source: ByteSource, expected_sha256: bytes | None = None) -> BlobRef:
        """Store the bytes of ``source`` under their SHA-256, streaming; idempotent.

        Raises :class:`DigestMismatch` (keeping nothing) when ``expected_sha256`` is given and
        differs. An exception from ``source`` also leaves nothing behind.
        """
        ...

    def adopt(self, path: Path, sha256: bytes) -> BlobRef:
        """Take over a complete, fsynced local file whose SHA-256 the caller computed while
        writing it (:class:`~timeseal.store.uploads.PartialUpload`); the file is gone after.

        Local files are renamed into place, not copied; S3 uploads the file straight to its
        content address and checks the digest again on the way."""
        ...

    def open(self, sha256: bytes) -> BlobReader:
        """Raises :class:`BlobNotFound`."""
        ...

    def exists(self, sha256: bytes) -> bool: ...

    def size(self, sha256: bytes) -> int:
        """Raises :class:`BlobNotFound`."""
        ...

    def delete(self, sha256: bytes) -> None:
        """Remove a blob that no sealed record refers to (an abandoned upload). No error if
        it is not there. Never call this for sealed evidence: it is immutable."""
        ...

    def sweep_abandoned(self, older_than: dt.timedelta) -> int:
        """Remove writes in progress that a crashed process left, if older than
        ``older_than``; returns how many. Safe while other writers are running."""
        ...

    def read_label(self) -> bytes | None:
        """The store's label (:data:`LABEL_NAME`, beside the blobs), or None if it has none.
        It names the installation whose files these are
        (:mod:`timeseal.server.runtime.blob_store`)."""
        ...

    def write_label(self, data: bytes) -> None:
        """Write the store's label, replacing any (durably, whole or not at all)."""
        ...
