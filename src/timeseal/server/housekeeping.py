"""Background chores of every server process: what expires is removed.

- an unfinished upload with no progress for ``VaultConfig.upload_expiry_hours`` is discarded
  (its staged bytes and its row), which also gives its declared length back to the quota;
  an upload row whose staging is gone and whose bytes never reached the blob store goes too;
- leftovers of crashed upload creations and removals in the staging directory;
- sessions that ended a while ago, and login-code and rate-limit rows no limit looks at.

Every process runs it (no election): each chore is idempotent and tolerates another process
doing the same at the same moment. Sealed evidence is never touched.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from timeseal.server.api.service import AuthService
from timeseal.server.vault import VaultService
from timeseal.store.uploads import PartialUpload, UploadError, UploadNotFound, sweep_staging

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

#: How long an ended session is kept before it is deleted.
SESSION_GRACE = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Swept:
    """What one round removed."""

    uploads: int = 0
    staging_leftovers: int = 0
    sessions: int = 0
    login_rows: int = 0


class Housekeeper:
    """Runs :meth:`run_once` every ``interval`` seconds on a thread of its own."""

    def __init__(
        self,
        vault: VaultService,
        auth: AuthService,
        *,
        upload_expiry: dt.timedelta,
        interval: float = 600.0,
        clock: Clock | None = None,
    ) -> None:
        self._vault = vault
        self._auth = auth
        self._upload_expiry = upload_expiry
        self._interval = interval
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def run_once(self) -> Swept:
        now = self._clock()
        swept = Swept(
            uploads=self._expire_uploads(now),
            staging_leftovers=sweep_staging(self._vault.staging),
            sessions=self._auth.accounts.purge_sessions(
                now=now, idle=self._auth.sessions.idle, grace=SESSION_GRACE
            ),
            login_rows=self._auth.codes.purge(now=now),
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
                upload.discard()
            except UploadNotFound:
                # Handed over to the blob store before a crash: the client's retry seals it,
                # so keep it until it is as old as an expired upload.
                if (
                    self._vault.blobs.exists(row.sha256)
                    and row.created_at + self._upload_expiry > now
                ):
                    continue
            except UploadError:  # busy: a request is writing it right now, so it is alive
                continue
            self._vault.store.remove_upload(row.id)
            expired += 1
        return expired

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_once()
            except Exception:  # logged; the next round tries again
                log.exception("housekeeping failed")
