"""The witness's own state: the logs it follows and the last checkpoint it cosigned for each.

SQLite in the witness's data directory (WAL, synchronous=FULL). Every update is a conditional
UPDATE on the row's version inside ``BEGIN IMMEDIATE``, so two requests racing from the same
size can never both advance a log (C2SP tlog-witness "atomic check-and-update").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from timeseal.core.tlog import (
    EMPTY_ROOT,
    Checkpoint,
    SignatureType,
    VerifierKey,
    format_verifier_key,
    parse_verifier_key,
)


class WitnessError(Exception):
    """The witness's data directory or configuration is missing, unreadable or inconsistent."""


def posix_seconds(at: dt.datetime) -> int:
    return int(at.timestamp())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    origin      TEXT PRIMARY KEY,
    vkey        TEXT NOT NULL,              -- the log's Ed25519 note verifier key
    size        INTEGER NOT NULL,           -- last cosigned tree size (0: none yet)
    root_hash   BLOB NOT NULL,              -- its root hash (the empty tree's for size 0)
    checkpoint  BLOB,                       -- that checkpoint note, with our cosignature
    cosigned_at INTEGER NOT NULL,           -- POSIX seconds of our last cosignature
    version     INTEGER NOT NULL,           -- bumped by every update (compare-and-swap)
    added_at    INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS refused (
    id          INTEGER PRIMARY KEY,
    origin      TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    detail      TEXT NOT NULL,
    body        BLOB NOT NULL               -- the whole request: evidence of a forked log
) STRICT;
"""


# --- state -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One row of ``logs``: a log the witness follows, and where it has got to."""

    origin: str
    key: VerifierKey
    size: int
    root_hash: bytes
    checkpoint: bytes | None
    cosigned_at: int
    version: int

    @property
    def latest(self) -> Checkpoint:
        return Checkpoint(self.origin, self.size, self.root_hash)


class WitnessStore:
    """The SQLite state. Every call opens its own connection, so any thread may call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")  # fsync the WAL on every commit
        return db

    def create_schema(self) -> None:
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        finally:
            db.close()

    def add_log(self, key: VerifierKey, origin: str, *, now: dt.datetime) -> bool:
        """Follow the log ``origin`` signed by ``key``; False if it is already followed.

        ``WitnessError`` for a key that is not an Ed25519 note key, an origin that could not
        be a checkpoint's first line, or an origin already followed with another key.
        """
        if key.signature_type is not SignatureType.ED25519:
            raise WitnessError(f"{key.label} is not a log key: logs sign with Ed25519 (0x01)")
        try:
            Checkpoint(origin, 0, EMPTY_ROOT)
        except (TypeError, ValueError) as exc:
            raise WitnessError(f"invalid origin {origin!r}: {exc}") from exc
        vkey = format_verifier_key(key)
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT vkey FROM logs WHERE origin = ?", (origin,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO logs (origin, vkey, size, root_hash, checkpoint, cosigned_at,"
                    " version, added_at) VALUES (?, ?, 0, ?, NULL, 0, 0, ?)",
                    (origin, vkey, EMPTY_ROOT, posix_seconds(now)),
                )
            db.execute("COMMIT")
        finally:
            db.close()
        if row is not None and row[0] != vkey:
            raise WitnessError(f"{origin!r} is already followed with the key {row[0]}")
        return row is None

    def get(self, origin: str) -> LogRecord | None:
        db = self._connect()
        try:
            row = db.execute(
                "SELECT vkey, size, root_hash, checkpoint, cosigned_at, version FROM logs"
                " WHERE origin = ?",
                (origin,),
            ).fetchone()
        finally:
            db.close()
        if row is None:
            return None
        vkey, size, root_hash, checkpoint, cosigned_at, version = row
        return LogRecord(
            origin, parse_verifier_key(vkey), size, root_hash, checkpoint, cosigned_at, version
        )

    def logs(self) -> list[tuple[str, int]]:
        """Every followed origin and the size last cosigned."""
        db = self._connect()
        try:
            return list(db.execute("SELECT origin, size FROM logs ORDER BY origin"))
        finally:
            db.close()

    def checkpoint_by_origin_hash(self, origin_hash: str) -> bytes | None:
        """The last cosigned checkpoint of the log whose SHA-256(origin) is ``origin_hash``."""
        for origin, _size in self.logs():
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                record = self.get(origin)
                return None if record is None else record.checkpoint
        return None

    def advance(self, old: LogRecord, new: Checkpoint, note: bytes, cosigned_at: int) -> bool:
        """Record ``new`` as cosigned, only if the row is still ``old``: one conditional
        UPDATE in one transaction, committed (and fsync'd) before returning True."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(
                "UPDATE logs SET size = ?, root_hash = ?, checkpoint = ?, cosigned_at = ?,"
                " version = version + 1 WHERE origin = ? AND size = ? AND version = ?",
                (new.size, new.root_hash, note, cosigned_at, old.origin, old.size, old.version),
            )
            db.execute("COMMIT")
        finally:
            db.close()
        return cursor.rowcount == 1

    def keep_refused(self, origin: str, detail: str, body: bytes, *, now: dt.datetime) -> None:
        db = self._connect()
        try:
            db.execute(
                "INSERT INTO refused (origin, received_at, detail, body) VALUES (?, ?, ?, ?)",
                (origin, posix_seconds(now), detail, body),
            )
        finally:
            db.close()

    def refused_count(self) -> int:
        db = self._connect()
        try:
            (count,) = db.execute("SELECT count(*) FROM refused").fetchone()
        finally:
            db.close()
        return int(count)


# --- the service -------------------------------------------------------------------------------
