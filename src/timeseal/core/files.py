"""Whole files replaced atomically and durably: the one way every layer writes one.

A temporary file beside the target (the same directory, so the same file system), written and
fsynced, renamed over the target, then the directory fsynced. After a crash the path holds the
old bytes or the new ones, never a mix; once the call returns, the new ones survive a power
cut. A failure before the rename leaves the old file as it was and removes the temporary one.

Append-only journals (the segment chain, the TSA journal) and content-addressed blobs have
their own disciplines and do not go through here; they share :func:`fsync_dir`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (a created, renamed or removed file) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: Path, *, mode: int = 0o666) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` when the block ends without an exception.

    ``mode`` is the new file's permission bits before the umask, as for :func:`os.open`
    (``0o600`` for secrets). The temporary name is unique (``.<name>.<random>.tmp``), so
    concurrent writers never write into one another's file: the last rename wins whole.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_durably(path: Path, data: bytes, *, mode: int = 0o666) -> None:
    """Replace ``path`` with ``data`` atomically and durably (see :func:`replacing`)."""
    with replacing(path, mode=mode) as f:
        f.write(data)
