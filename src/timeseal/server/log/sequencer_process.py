"""The log sequencer in a process of its own, beside the HTTP workers.

In a worker, the sequencer's rounds (hashing a batch of entries into tiles: pure Python, tens
of milliseconds under load) hold the GIL that the worker's event loop needs, so every request
in flight waits behind them. As its own process it takes turns with the workers on the CPU
instead of stalling them. ``timeseal serve`` with several workers starts one (see
:mod:`timeseal.server.runtime.workers`); a single-process server keeps the sequencer as a thread.

The workers still answer ``/healthz`` with this server's sequencer role: the process writes it
to a small role file (``1`` or ``0``) whose path they get in their settings
(``ServerSettings.sequencer_role_file``), and,
when it stops signing because the log would roll back, the reason to a file beside it
(:func:`read_failure`).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from timeseal.core.files import write_durably
from timeseal.server.log.sequencer import sequencer_for
from timeseal.server.runtime.configuration import DataDirError
from timeseal.server.runtime.database import open_database
from timeseal.server.runtime.workers import STARTUP_FAILURE, companion_stop_event
from timeseal.store.log.store import LogStore

log = logging.getLogger("timeseal.log")

#: How often the role file is brought up to date.
ROLE_INTERVAL = 0.2


def read_role(role_file: Path) -> bool:
    """Whether this server's sequencer process holds the sequencer role."""
    try:
        return role_file.read_bytes() == b"1"
    except FileNotFoundError:
        return False


def write_role(role_file: Path, held: bool) -> None:
    """Replace the role file atomically, so a reader never sees it half written."""
    write_durably(role_file, b"1" if held else b"0")


def _failure_file(role_file: Path) -> Path:
    return role_file.with_name(role_file.name + ".failed")


def read_failure(role_file: Path) -> str | None:
    """Why this server's sequencer process stopped signing, or None."""
    try:
        return _failure_file(role_file).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class RoleFile:
    """A worker's view of the sequencer process: its role and failure, read from its files
    on every look (as :class:`~timeseal.server.log.sequencer.Sequencer` answers in-process)."""

    path: Path

    @property
    def is_sequencer(self) -> bool:
        return read_role(self.path)

    @property
    def failure(self) -> str | None:
        return read_failure(self.path)


def write_failure(role_file: Path, reason: str) -> None:
    write_durably(_failure_file(role_file), reason.encode("utf-8"))


def run(data_dir: Path, database_url: str | None, role_file: Path) -> None:
    """The process: sequence until SIGTERM or SIGINT, keeping the role file up to date.
    A failure before sequencing starts exits with the supervisor's start-up failure status
    (it would only fail again)."""
    stop = companion_stop_event()
    try:
        engine = open_database(data_dir, database_url)
        sequencer = sequencer_for(data_dir, LogStore(engine))
    except DataDirError as exc:  # e.g. another database than the data directory's
        log.error("the log sequencer process cannot start: %s", exc)
        sys.exit(STARTUP_FAILURE)
    except Exception:
        log.exception("the log sequencer process could not start")
        sys.exit(STARTUP_FAILURE)
    sequencer.start()
    log.info("log sequencer process %d started", os.getpid())
    # Only this process's own changes of role are written: while a replacement starts beside
    # it (SIGHUP), the replacement, which does not hold the role yet, must not overwrite it.
    held = False
    failed = False
    try:
        while not stop.wait(ROLE_INTERVAL):
            if sequencer.failure is not None and not failed:
                write_failure(role_file, sequencer.failure)
                failed = True
            if sequencer.is_sequencer != held:
                held = sequencer.is_sequencer
                write_role(role_file, held)
    finally:
        if held:  # before the lock goes, so a successor's "1" is never overwritten
            write_role(role_file, False)
        sequencer.stop()
        engine.dispose()
