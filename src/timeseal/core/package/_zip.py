"""A deterministic, streaming ZIP writer over :mod:`zipfile`, and nothing half-written.

Every member is STORED (media does not compress, and a verifier can then hash the bytes in
place), dated 1980-01-01 00:00:00, mode 0644, made on "Unix", without extra fields other than
the ZIP64 ones zipfile adds when a member or offset needs them (decided from the declared size,
so the same inputs always give the same bytes). The output must be seekable: zipfile then
writes each local header again with the CRC once known, instead of data descriptors, which
streaming readers of STORED members cannot use.
"""

from __future__ import annotations

import zipfile
from types import TracebackType
from typing import IO, BinaryIO

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_UNIX = 3
_MODE = 0o100644


class _Sink:
    """The caller's stream, as zipfile sees it. Once ``kill``-ed it swallows everything (only
    counting positions, so zipfile's arithmetic still works), so that closing or
    garbage-collecting the ZipFile cannot append a central directory to a failed package."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.dead = False
        self._pos = 0
        self._end = 0

    def kill(self) -> None:
        self._pos = self._end = self.stream.tell()
        self.dead = True

    def write(self, data: bytes) -> int:
        if not self.dead:
            return self.stream.write(data)
        self._pos += len(data)
        self._end = max(self._end, self._pos)
        return len(data)

    def tell(self) -> int:
        return self._pos if self.dead else self.stream.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self.dead:
            return self.stream.seek(offset, whence)
        base = {0: 0, 1: self._pos, 2: self._end}[whence]
        self._pos = base + offset
        return self._pos

    def seekable(self) -> bool:
        return True

    def flush(self) -> None:
        if not self.dead:
            self.stream.flush()


class DeterministicZipWriter:
    """Write members in the caller's order; :meth:`abort` leaves the stream as it was."""

    def __init__(self, stream: BinaryIO) -> None:
        if not stream.seekable():
            raise ValueError("the package stream must be seekable (a file or a temp file)")
        self._stream = stream
        self._start = stream.tell()
        self._sink = _Sink(stream)
        self._zip: zipfile.ZipFile = zipfile.ZipFile(
            self._sink,  # type: ignore[call-overload]  # a duck-typed writable file
            "w",
            compression=zipfile.ZIP_STORED,
            allowZip64=True,
        )

    @staticmethod
    def _info(name: str, size: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
        info.compress_type = zipfile.ZIP_STORED
        info.create_system = _UNIX
        info.external_attr = _MODE << 16
        info.file_size = size
        return info

    def open(self, name: str, size: int) -> IO[bytes]:
        """A writable member of exactly ``size`` bytes (the size decides ZIP64 up front)."""
        info = self._info(name, size)
        return self._zip.open(info, "w", force_zip64=size > zipfile.ZIP64_LIMIT)

    def write(self, name: str, data: bytes) -> None:
        with self.open(name, len(data)) as member:
            member.write(data)

    def close(self) -> None:
        self._zip.close()

    def abort(self) -> None:
        """Forget everything written: truncate the stream back to where the package began."""
        self._sink.kill()
        self._zip.close()
        self._stream.seek(self._start)
        self._stream.truncate()

    def __enter__(self) -> DeterministicZipWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
