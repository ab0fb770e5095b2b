"""Content-addressed blob storage: local files by default, any S3-compatible store to scale out.

A blob is named by the SHA-256 of its bytes and never changes once written. Every backend
implements :class:`BlobStore`:

- :meth:`~BlobStore.write_stream` takes an iterable of chunks or a binary file object, hashes
  while it writes, and holds at most one chunk (local) or one multipart part (S3) in memory.
  A blob becomes visible only complete and under its digest; when ``expected_sha256`` does
  not match, it raises :class:`DigestMismatch` and keeps nothing.
- :meth:`~BlobStore.open` returns a :class:`BlobReader` that streams the whole blob or a byte
  range (``read_range(start, end)``, half-open, for HTTP ``Range``).
- :meth:`~BlobStore.delete` is only for blobs that no sealed record refers to (an abandoned
  upload): sealed evidence is immutable, and the store cannot tell the two apart.

Layout (both backends): ``<root>/ab/cd/<64 hex digits>`` with ``ab`` and ``cd`` the first two
bytes of the digest; writes in progress live under ``<root>/tmp/``, which is never read as a
blob. :meth:`~BlobStore.sweep_abandoned` removes what a crashed writer left there. Beside
them, ``<root>/timeseal-store.json`` (:data:`LABEL_NAME`) names the installation the store
belongs to.

Errors::

    StoreError (timeseal.store.db)
     └─ BlobError
         ├─ BlobNotFound
         └─ DigestMismatch     .expected, .actual, .size
"""

from __future__ import annotations

import re
from pathlib import Path

from timeseal.store.blobs._common import (
    CHUNK_SIZE,
    LABEL_NAME,
    BlobError,
    BlobNotFound,
    BlobReader,
    BlobRef,
    BlobStore,
    ByteSource,
    DigestMismatch,
    blob_path,
    iter_chunks,
)
from timeseal.store.blobs.local import LocalBlobStore
from timeseal.store.blobs.s3 import S3_ENDPOINT_ENV, S3_PART_SIZE, S3BlobStore

__all__ = [
    "BLOB_URL_ENV",
    "CHUNK_SIZE",
    "LABEL_NAME",
    "S3_ENDPOINT_ENV",
    "S3_PART_SIZE",
    "BlobError",
    "BlobNotFound",
    "BlobReader",
    "BlobRef",
    "BlobStore",
    "ByteSource",
    "DigestMismatch",
    "LocalBlobStore",
    "S3BlobStore",
    "blob_path",
    "blob_store_for",
    "iter_chunks",
]

BLOB_URL_ENV = "TIMESEAL_BLOB_URL"

_FILE_URL = re.compile(r"^file://(/.*)$")


def blob_store_for(
    data_dir: Path, url: str | None, *, s3_endpoint_url: str | None = None
) -> BlobStore:
    """The store ``url`` (the process's ``$TIMESEAL_BLOB_URL``, read by its settings) names:
    None or empty for ``<data-dir>/blobs``, ``s3://bucket/prefix`` for S3 (see
    :meth:`S3BlobStore.from_url`), or ``file:///absolute/path``."""
    url = (url or "").strip()
    if not url:
        return LocalBlobStore(data_dir / "blobs")
    if url.startswith("s3://"):
        return S3BlobStore.from_url(url, endpoint_url=s3_endpoint_url)
    if match := _FILE_URL.match(url):
        return LocalBlobStore(Path(match.group(1)))
    raise ValueError(f"{BLOB_URL_ENV} must be s3://bucket/prefix or file:///path, not {url!r}")
