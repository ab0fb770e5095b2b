# Over 400 lines on purpose: one cohesive class (PartialUpload, its on-disk state and errors).
"""Resumable-upload staging: the storage side of a tus 1.0 upload (the protocol is the
server's business; this is what it needs underneath).

An upload is staged in a directory of its own, ``<data-dir>/uploads/<upload id>/``::

    data         the bytes received so far (the tail past ``offset`` is not acknowledged)
    state.json   {"offset": N, "length": L or null, "sha256": hex once finishing}
    lock         flock'd by the one request appending to (or finishing) the upload

:meth:`PartialUpload.append` writes at the upload's offset, fsyncs the data, then replaces
``state.json`` atomically (temp file, fsync, rename, fsync the directory). ``offset`` is
therefore always durable: after a crash it is the last offset recorded, and the next append
first cuts ``data`` back to it (bytes past it were never acknowledged to the client).

:meth:`PartialUpload.finish` hands the staged file to a :class:`~timeseal.store.blobs.BlobStore`
under its SHA-256 (computed while appending, or re-read once after a restart): a local store
renames it into place; an S3 store streams it from the staging file straight to its content
address. Staging is always local, in the data directory, also when blobs go to S3: a
resumable upload needs a file it can append to at any offset, which S3 objects are not. With
several machines, the load balancer must send all requests of one upload to the machine that
holds its staging directory (or the directory must be on shared storage).

Errors::

    StoreError (timeseal.store.db)
     └─ UploadError
         ├─ UploadNotFound
         ├─ UploadBusy               another request is appending to this upload
         ├─ UploadFinishing          every byte is in; the upload is being handed over
         ├─ UploadOffsetMismatch     .expected (the durable offset), .given
         ├─ ChecksumMismatch         the bytes do not match the request's checksum
         └─ UploadTooLarge           more bytes than the declared length
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from timeseal.core.files import fsync_dir, write_durably
from timeseal.store.blobs import (
    CHUNK_SIZE,
    BlobRef,
    BlobStore,
    ByteSource,
    DigestMismatch,
    iter_chunks,
)
from timeseal.store.blobs.local import write_all
from timeseal.store.db import StoreError

#: Where uploads are staged, below the data directory.
STAGING_DIR = "uploads"

#: During one long append, the offset is made durable every this many bytes, so a crash in
#: the middle of a large request loses at most this much.
SYNC_EVERY = 64 << 20

_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class UploadError(StoreError):
    """A resumable-upload operation failed."""


class UploadNotFound(UploadError):
    """No staged upload has this id (never created, finished or discarded)."""


class UploadBusy(UploadError):
    """Another request holds this upload (tus: answer 409 or 423 and let the client retry)."""


class UploadFinishing(UploadError):
    """The upload is complete and being handed over (:meth:`PartialUpload.finish` began, maybe
    before a crash): nothing more can be appended; finish it again instead."""


class UploadOffsetMismatch(UploadError):
    """The client's offset is not the upload's durable offset (tus: 409 Conflict)."""

    def __init__(self, expected: int, given: int) -> None:
        super().__init__(f"upload offset mismatch: the upload is at {expected}, not {given}")
        self.expected = expected
        self.given = given


class ChecksumMismatch(UploadError):
    """The appended bytes do not hash to the client's checksum (tus: 460); none were kept."""


class UploadTooLarge(UploadError):
    """The bytes go past the declared length (tus: 413)."""


@dataclass(frozen=True, slots=True)
class _State:
    offset: int
    length: int | None
    sha256: bytes | None = None

    def encode(self) -> bytes:
        return json.dumps(
            {
                "offset": self.offset,
                "length": self.length,
                "sha256": None if self.sha256 is None else self.sha256.hex(),
            }
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> _State:
        raw = json.loads(data)
        sha = raw.get("sha256")
        return cls(int(raw["offset"]), raw["length"], None if sha is None else bytes.fromhex(sha))


class PartialUpload:
    """One staged resumable upload. Create with :meth:`create`; after a restart, or from
    another process, reach it again with :meth:`open`. Cheap: safe to open per request."""

    def __init__(self, directory: Path, upload_id: str) -> None:
        self.directory = directory
        self.upload_id = upload_id
        # The SHA-256 of data[:_hashed], kept while this object is the one appending.
        self._hasher = hashlib.sha256()
        self._hashed = 0

    # --- lifecycle --------------------------------------------------------------------------

    @classmethod
    def create(cls, staging: Path, upload_id: str, *, length: int | None = None) -> PartialUpload:
        """Stage a new upload of ``length`` bytes (None: not known yet). The directory
        appears complete or not at all (it is built aside and renamed into place)."""
        _check_id(upload_id)
        if length is not None and length < 0:
            raise ValueError(f"negative upload length {length}")
        staging.mkdir(mode=0o700, parents=True, exist_ok=True)  # the bytes are private
        building = Path(tempfile.mkdtemp(dir=staging, prefix=f".{upload_id}."))
        try:
            fd = os.open(building / "data", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            (building / "lock").touch(mode=0o600)
            _write_state(building, _State(0, length))
            os.rename(building, staging / upload_id)
        except OSError as exc:
            shutil.rmtree(building, ignore_errors=True)
            if (staging / upload_id).exists():
                raise UploadError(f"upload {upload_id} exists already") from exc
            raise
        fsync_dir(staging)
        return cls(staging / upload_id, upload_id)

    @classmethod
    def open(cls, staging: Path, upload_id: str) -> PartialUpload:
        _check_id(upload_id)
        upload = cls(staging / upload_id, upload_id)
        upload._state()  # raises UploadNotFound
        return upload

    def discard(self, forget: Callable[[], None] | None = None) -> None:
        """Forget the upload and its bytes (tus termination, expiry, a refused digest).

        ``forget`` runs first, under the upload's lock, so that its bookkeeping (the database
        row) is gone before the staging is: no request can find the upload half-discarded.
        If ``forget`` raises, the staging stays and the error propagates."""
        with self._locked():
            if forget is not None:
                forget()
            self._remove()

    # --- state ------------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """How many bytes are durably staged: where the client resumes."""
        return self._state().offset

    @property
    def length(self) -> int | None:
        return self._state().length

    @property
    def last_activity(self) -> dt.datetime:
        """When bytes were last made durable (or the upload was created): what expiry counts
        from, so a slow upload that keeps going never expires."""
        try:
            mtime = (self.directory / "state.json").stat().st_mtime
        except FileNotFoundError:
            raise UploadNotFound(f"no upload {self.upload_id}") from None
        return dt.datetime.fromtimestamp(mtime, dt.UTC)

    def _state(self) -> _State:
        try:
            return _State.decode((self.directory / "state.json").read_bytes())
        except FileNotFoundError:
            raise UploadNotFound(f"no upload {self.upload_id}") from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.directory / "lock", os.O_RDWR)
        except FileNotFoundError:
            raise UploadNotFound(f"no upload {self.upload_id}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UploadBusy(f"upload {self.upload_id} is in use") from None
            yield
        finally:
            os.close(fd)

    # --- writing ----------------------------------------------------------------------------

    def append(
        self,
        offset: int,
        source: ByteSource,
        *,
        expected_sha256: bytes | None = None,
        sync_every: int = SYNC_EVERY,
    ) -> int:
        """Write ``source`` at ``offset``, which must be the durable offset; returns the new
        durable offset. If ``source`` fails part way (the client went away), what arrived is
        kept and made durable before the error propagates, as tus asks.

        With ``expected_sha256`` (tus checksum) the bytes are appended only if they hash to
        it: nothing is made durable before the whole of ``source`` was checked, and on a
        mismatch, or a failing ``source``, the upload stays at ``offset`` and
        :class:`ChecksumMismatch` (or the source's error) is raised."""
        if expected_sha256 is not None:
            return self._append_checked(offset, source, expected_sha256)
        return self._append(offset, source, sync_every)

    def _append_checked(self, offset: int, source: ByteSource, expected: bytes) -> int:
        checked = hashlib.sha256()

        def hashed() -> Iterator[bytes]:
            for chunk in iter_chunks(source):
                checked.update(chunk)
                yield chunk

        # The bytes land past the durable offset, where they count for nothing until the
        # state says so; a mismatch or an error leaves the state, so the next append cuts
        # them off again.
        return self._append(offset, hashed(), None, accept=lambda: checked.digest() == expected)

    def _append(
        self,
        offset: int,
        source: ByteSource,
        sync_every: int | None,
        accept: Callable[[], bool] | None = None,
    ) -> int:
        with self._locked():
            state = self._state()
            if state.sha256 is not None:
                raise UploadFinishing(f"upload {self.upload_id} is being finished")
            if offset != state.offset:
                raise UploadOffsetMismatch(state.offset, offset)
            if self._hashed != state.offset:  # another process appended: hash again at finish
                self._hasher, self._hashed = hashlib.sha256(), -1
            before = self._hasher.copy() if self._hashed >= 0 else None
            fd = os.open(self.directory / "data", os.O_WRONLY)
            durable = written = state.offset
            verified = accept is None
            try:
                if os.fstat(fd).st_size < written:
                    raise UploadError(
                        f"upload {self.upload_id}: staged data is shorter than its durable "
                        f"offset {written}"
                    )
                os.ftruncate(fd, written)  # drop bytes that were never acknowledged
                os.lseek(fd, written, os.SEEK_SET)
                for chunk in iter_chunks(source):
                    if state.length is not None and written + len(chunk) > state.length:
                        raise UploadTooLarge(
                            f"upload {self.upload_id} is {state.length} bytes; "
                            f"{written + len(chunk) - state.length} too many"
                        )
                    write_all(fd, chunk)
                    written += len(chunk)
                    if self._hashed >= 0:
                        self._hasher.update(chunk)
                        self._hashed = written
                    if sync_every is not None and written - durable >= sync_every:
                        durable = self._commit(fd, state, written)
                if accept is not None:
                    verified = accept()
                    if not verified:
                        raise ChecksumMismatch(
                            f"upload {self.upload_id}: the bytes do not match their checksum"
                        )
            finally:
                try:
                    if verified and written != durable:
                        self._commit(fd, state, written)
                    elif not verified:  # nothing of this request counts
                        written = state.offset
                        if before is not None:
                            self._hasher, self._hashed = before, state.offset
                finally:
                    os.close(fd)
            return written

    def _commit(self, fd: int, state: _State, offset: int) -> int:
        os.fsync(fd)
        _write_state(self.directory, _State(offset, state.length))
        return offset

    def digest(self) -> bytes:
        """SHA-256 of the staged bytes, as hashed while appending (read again if this object
        did not see every append)."""
        offset = self.offset
        if self._hashed == offset:
            return self._hasher.digest()
        hasher = hashlib.sha256()
        with open(self.directory / "data", "rb") as f:
            remaining = offset
            while remaining:
                chunk = f.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise UploadError(f"upload {self.upload_id}: staged data is short")
                hasher.update(chunk)
                remaining -= len(chunk)
        self._hasher, self._hashed = hasher, offset
        return hasher.digest()

    # --- finishing --------------------------------------------------------------------------

    def finish(
        self,
        store: BlobStore,
        expected_sha256: bytes | None = None,
        *,
        claim: Callable[[BlobRef], None] | None = None,
    ) -> BlobRef:
        """Move the complete upload into ``store`` and remove its staging directory.

        Refuses an upload short of its declared length. When ``expected_sha256`` is given and
        differs, discards the upload (nothing is kept) and raises
        :class:`~timeseal.store.blobs.DigestMismatch`. Safe to call again after a crash: the
        digest is recorded before the file is handed over, so a second call finds the blob.

        ``claim`` runs once the blob is in ``store`` and before the staging is removed, under
        the lock: the caller records there that *these* bytes were received (the staging is
        the only proof of that). If it raises, the upload was given up meanwhile: its staging
        is removed all the same and the error propagates.
        """
        with self._locked():
            state = self._state()
            data = self.directory / "data"
            sha256 = state.sha256
            if sha256 is None:
                if state.length is not None and state.offset != state.length:
                    raise UploadError(
                        f"upload {self.upload_id} is incomplete: {state.offset} of "
                        f"{state.length} bytes"
                    )
                os.truncate(data, state.offset)
                sha256 = self.digest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                self._remove()
                raise DigestMismatch(expected_sha256, sha256, state.offset)
            if state.sha256 is None:
                _write_state(self.directory, _State(state.offset, state.length, sha256))
            if data.exists():
                ref = store.adopt(data, sha256)
            elif store.exists(sha256):  # handed over before a crash
                ref = BlobRef(sha256, store.size(sha256))
            else:
                raise UploadError(f"upload {self.upload_id}: staged data is gone")
            try:
                if claim is not None:
                    claim(ref)
            finally:
                self._remove()
            return ref

    def _remove(self) -> None:
        parent = self.directory.parent
        # Rename first so that the upload disappears at once, then delete at leisure.
        doomed = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self.upload_id}.gone."))
        os.rename(self.directory, doomed / "upload")
        fsync_dir(parent)
        shutil.rmtree(doomed, ignore_errors=True)


def sweep_staging(staging: Path, older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Remove what crashed creations and removals left in ``staging`` (hidden directories
    older than ``older_than``); returns how many. Uploads themselves expire by the server's
    rules (tus expiration), through :meth:`PartialUpload.discard`."""
    if not staging.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for entry in os.scandir(staging):
        if entry.name.startswith(".") and entry.stat().st_mtime <= cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


def _check_id(upload_id: str) -> None:
    if not _UPLOAD_ID.match(upload_id):
        raise ValueError(f"upload ids are 1-64 of [A-Za-z0-9_-], not {upload_id!r}")


def _write_state(directory: Path, state: _State) -> None:
    write_durably(directory / "state.json", state.encode(), mode=0o600)
