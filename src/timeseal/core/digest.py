"""Message digests used for imprints and file hashes.

Only the SHA-2 family is accepted. SHA-1 and MD5 are known (so that a request naming them can
be refused with ``badAlg`` rather than ``badDataFormat``) but never computed.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from timeseal.core.errors import UnsupportedAlgorithm

_CHUNK = 1 << 20


class HashAlgorithm(enum.Enum):
    """Digest algorithms by their ASN.1 object identifier."""

    SHA256 = "2.16.840.1.101.3.4.2.1"
    SHA384 = "2.16.840.1.101.3.4.2.2"
    SHA512 = "2.16.840.1.101.3.4.2.3"

    @property
    def digest_size(self) -> int:
        return _SIZES[self]

    @property
    def hashlib_name(self) -> str:
        return self.name.lower()

    @classmethod
    def from_oid(cls, oid: str) -> HashAlgorithm:
        """The algorithm named by ``oid``; ``UnsupportedAlgorithm`` for others (SHA-1, MD5...)."""
        try:
            return cls(oid)
        except ValueError:
            name = WEAK_HASH_OIDS.get(oid, oid)
            raise UnsupportedAlgorithm(f"unsupported digest algorithm {name}") from None

    def new(self) -> hashlib._Hash:
        return hashlib.new(self.hashlib_name)

    def digest(self, data: bytes) -> bytes:
        return hashlib.new(self.hashlib_name, data).digest()


_SIZES = {HashAlgorithm.SHA256: 32, HashAlgorithm.SHA384: 48, HashAlgorithm.SHA512: 64}

#: Digest algorithms recognised only to be refused.
WEAK_HASH_OIDS = {
    "1.3.14.3.2.26": "sha1",
    "1.2.840.113549.2.5": "md5",
    "1.2.840.113549.2.2": "md2",
    "2.16.840.1.101.3.4.2.4": "sha224",
}


def digest_stream(
    stream: BinaryIO,
    algorithm: HashAlgorithm = HashAlgorithm.SHA256,
    *,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """Hash everything left in ``stream`` in 1 MiB chunks, so any size fits in memory;
    ``progress`` is told the length of every chunk hashed."""
    h = algorithm.new()
    while chunk := stream.read(_CHUNK):
        h.update(chunk)
        if progress is not None:
            progress(len(chunk))
    return h.digest()


def digest_file(
    path: Path,
    algorithm: HashAlgorithm = HashAlgorithm.SHA256,
    *,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """The digest of the file at ``path`` (see :func:`digest_stream`)."""
    with Path(path).open("rb") as f:
        return digest_stream(f, algorithm, progress=progress)
