"""Background chores of every server process: what expires is removed.

- an unfinished upload with no progress for ``VaultConfig.upload_expiry_hours`` is discarded
  (its staged bytes and its row), which also gives its declared length back to the quota;
  an upload row whose staging is gone and whose bytes never reached the blob store goes too;
- leftovers of crashed upload creations and removals in the staging directory;
- sessions that ended a while ago, and login-code and rate-limit rows no limit looks at;
- a browser recording that received no chunk for ``recording_idle`` is cut off: its chunks so
  far are filed as sealed evidence (:meth:`RecordingService.close_idle`), on the server's event
  loop, because issuing tokens batches its journal writes there.

Every process runs it (no election): each chore is idempotent and tolerates another process
doing the same at the same moment. Sealed evidence is never touched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

from timeseal.server.accounts.service import AuthService
from timeseal.server.evidence.recordings import RecordingService
from timeseal.server.evidence.vault import VaultService
from timeseal.store.uploads import PartialUpload, UploadError, UploadNotFound, sweep_staging

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

#: How long an ended session is kept before it is deleted.
SESSION_GRACE = dt.timedelta(days=7)

#: How long a stopping server lets a started close finish before cancelling it.
STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Swept:
    """What one round removed."""

    uploads: int = 0
    staging_leftovers: int = 0
    sessions: int = 0
    login_rows: int = 0
    recordings_cut_off: int = 0


class Housekeeper:
    """Runs :meth:`run_once` every ``interval`` seconds on a thread of its own."""

    def __init__(
        self,
        vault: VaultService,
        auth: AuthService,
        *,
        upload_expiry: dt.timedelta,
        recordings: RecordingService | None = None,
        recording_idle: dt.timedelta = dt.timedelta(minutes=10),
        interval: float = 600.0,
        clock: Clock | None = None,
    ) -> None:
        self._vault = vault
        self._auth = auth
        self._upload_expiry = upload_expiry
        self._recordings = recordings
        self._recording_idle = recording_idle
        # A recording is cut off at most a fifth of its idle time late.
        self._interval = min(interval, max(1.0, recording_idle.total_seconds() / 5))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the thread; ``loop`` is the server's event loop (the TSA's journal)."""
        self._loop = loop
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for its round. Call it off the server's loop (e.g.
        ``await anyio.to_thread.run_sync(housekeeper.stop)``): a close in progress runs on
        that loop, and a close cancelled halfway leaves its database work running in a worker
        thread after the engine has been disposed."""
        self._stop.set()
        self._thread.join(timeout=STOP_GRACE_SECONDS + 20)

    def run_once(self) -> Swept:
        now = self._clock()
        swept = Swept(
            uploads=self._expire_uploads(now),
            staging_leftovers=sweep_staging(self._vault.staging),
            sessions=self._auth.accounts.purge_sessions(
                now=now, idle=self._auth.sessions.idle, grace=SESSION_GRACE
            ),
            login_rows=self._auth.codes.purge(now=now),
            recordings_cut_off=self._cut_off_recordings(now),
        )
        if swept != Swept():
            log.info("housekeeping: %s", swept)
        return swept

    def _expire_uploads(self, now: dt.datetime) -> int:
        expired = 0
        for row in self._vault.store.unsealed_uploads():
            try:
                upload = PartialUpload.open(self._vault.staging, row.id)
                if upload.last_activity + self._upload_expiry > now:
                    continue
                gone = self._vault.terminate_upload(row.id)
            except UploadNotFound:
                # Received (handed over before a crash): the client's retry seals it, so keep
                # it as long as an upload with no progress lives.
                if row.received_at is not None and row.received_at + self._upload_expiry > now:
                    continue
                gone = self._vault.store.remove_upload(row.id, received=True)
            except UploadError:  # busy: a request is writing it right now, so it is alive
                continue
            expired += gone
        return expired

    def _cut_off_recordings(self, now: dt.datetime) -> int:
        if self._recordings is None:
            return 0
        return self._on_loop(self._recordings.close_idle(now, self._recording_idle))

    def _on_loop(self, work: Coroutine[None, None, int]) -> int:
        """Run ``work`` on the server's loop and wait for it; once the server is stopping,
        give it :data:`STOP_GRACE_SECONDS` more, then cancel it (every step of a close is
        resumed by the next try)."""
        if self._loop is None:
            return asyncio.run(work)
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        stopping_since: float | None = None
        while True:
            try:
                return future.result(timeout=0.5)
            except TimeoutError:
                if not self._stop.is_set():
                    continue
                now = time.monotonic()
                stopping_since = stopping_since or now
                if now - stopping_since >= STOP_GRACE_SECONDS:
                    future.cancel()
                    return 0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_once()
            except Exception:  # logged; the next round tries again
                log.exception("housekeeping failed")
