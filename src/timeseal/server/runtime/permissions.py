"""The data directory is the owner's alone: the directory 0700, what it holds 0600.

It holds every account's phone number, session and login-code hashes (the database), the
server secret, the development SMS outbox and the bytes of uploads in progress. New files are
created private where they are made (``datadir``, ``store.db``, ``store.uploads``); a data
directory made before that, or copied with a loose umask, is tightened here when the server
starts, each change logged, so an operator sees what had been readable.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from timeseal.store.uploads import STAGING_DIR

log = logging.getLogger("timeseal.server")

#: Files directly in the data directory that must be the owner's only (when they exist).
PRIVATE_FILES = (
    "config.json",
    "timeseal.db",
    "timeseal.db-wal",
    "timeseal.db-shm",
    "timeseal.db-journal",
    "sms-outbox.log",
)
# Keys (auth.key, pki/*.key, log/log.key) are not on the list: one found readable by others
# may have been copied, so the server refuses to start until the operator has looked
# (``datadir``'s loaders say "chmod 600 it"), rather than quietly fixing the mode.

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> bool:
    """Drop group and other bits from ``path`` (a regular file or directory, never followed
    through a symlink); whether anything changed."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
        return False
    os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
    return True


def tighten(data_dir: Path) -> list[Path]:
    """Make ``data_dir`` 0700 and its private files (:data:`PRIVATE_FILES`, the upload
    staging) 0600 where they are looser; log and return what was changed."""
    changed: list[Path] = []
    if _tighten(data_dir, PRIVATE_DIR_MODE):
        changed.append(data_dir)
    for name in PRIVATE_FILES:
        if _tighten(data_dir / name, PRIVATE_FILE_MODE):
            changed.append(data_dir / name)
    staging = data_dir / STAGING_DIR
    if staging.is_dir() and not staging.is_symlink():
        for root, dirs, files in os.walk(staging):
            here = Path(root)
            if _tighten(here, PRIVATE_DIR_MODE):
                changed.append(here)
            changed += [here / f for f in files if _tighten(here / f, PRIVATE_FILE_MODE)]
            dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    for path in changed:
        log.warning("%s was readable by other users: now owner-only", path)
    return changed
