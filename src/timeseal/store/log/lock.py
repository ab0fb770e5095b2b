"""Who may sequence the log: one process among all that share the database."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine


class SequencerLock:
    """Who may sequence: one process among all that share the database.

    SQLite: an exclusive ``flock`` on a file next to the database; PostgreSQL: a session
    advisory lock on a dedicated connection. Both are released by the kernel or the server
    when the holder dies, so a ``kill -9`` hands the role over.
    """

    #: pg_advisory_lock key: "TSLG" as an int.
    PG_KEY = 0x54534C47

    def __init__(self, engine: Engine, lock_file: Path) -> None:
        self._engine = engine
        self._lock_file = lock_file
        self._fd: int | None = None
        self._pg: Any = None
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None or self._pg is not None

    def try_acquire(self) -> bool:
        with self._mutex:
            if self.held:
                return True
            if self._engine.dialect.name == "sqlite":
                fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    return False
                self._fd = fd
                return True
            raw: Any = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (self.PG_KEY,))
                got = bool(cursor.fetchone()[0])
                raw.commit()
            except BaseException:
                raw.close()
                raise
            if not got:
                raw.close()
                return False
            self._pg = raw
            return True

    def still_held(self) -> bool:
        """For PostgreSQL, check the connection holding the lock is alive."""
        with self._mutex:
            if self._pg is None:
                return self._fd is not None
            try:
                cursor = self._pg.cursor()
                cursor.execute("SELECT 1")
                self._pg.commit()
                return True
            except Exception:
                # The session (and with it the lock) is gone; close our end rather than leave
                # an open connection for the garbage collector.
                with contextlib.suppress(Exception):
                    self._pg.close()
                self._pg = None
                return False

    def release(self) -> None:
        with self._mutex:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None
            if self._pg is not None:
                # close() only hands the connection back to the pool, where its session
                # would keep the lock: unlock first, so another sequencer of this process
                # (a restarted app, a test) can take the role.
                try:
                    with contextlib.suppress(Exception):
                        cursor = self._pg.cursor()
                        cursor.execute("SELECT pg_advisory_unlock(%s)", (self.PG_KEY,))
                        self._pg.commit()
                    self._pg.close()
                finally:
                    self._pg = None
