"""Room left on the disk: the free space ``/healthz`` reports as ``disk_low``, and whether an
error says the disk (or the account's quota) is full.

The HTTP answer to a full disk, 507, is :mod:`timeseal.server.middleware.disk_full`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import DBAPIError

#: The errno values of "no room to write".
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: PostgreSQL's SQLSTATE for ``disk_full``.
POSTGRES_DISK_FULL = "53100"

#: Free bytes available to this process in the file system holding a path.
FreeSpace = Callable[[Path], int]


def free_space(path: Path) -> int:
    """Bytes an unprivileged writer may still use under ``path`` (``f_bavail``, not the
    root-reserved ``f_bfree``)."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, says the disk (or quota) is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(current, sqlite3.Error) and (
            getattr(current, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        ):
            return True
        if getattr(current, "sqlstate", None) == POSTGRES_DISK_FULL:
            return True
        if isinstance(current, DBAPIError):
            current = current.orig
            continue
        current = current.__cause__ or current.__context__
    return False
