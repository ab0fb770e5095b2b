"""The log never signs a checkpoint smaller than, or inconsistent with, its last one.

The last checkpoint the log signed is kept outside the database too, in
``<data-dir>/log/last-signed-checkpoint`` (JSON: the signed note, and the ids of the entries
its round integrated, as inclusive runs), written durably before the checkpoint is
committed, i.e. published. Before each round the sequencer compares the
database's tree (size S, root) with that checkpoint (size L, root R):

1. S == L: the roots must be equal.
2. S > L (another server's sequencer extended the log meanwhile): the stored tiles must
   reproduce R as the root of the first L entries.
3. S < L: the database is behind. Only a crash between writing this file and committing
   the round can do that, and then the round's entries are still pending: the next round
   takes exactly those (by the ids in the file: on PostgreSQL an entry with a lower id may
   commit later) and must arrive at (L, R). Fewer pending entries, or another root, is a
   rollback (a restored backup, another database).
4. No tree at all while L > 0: a rollback to nothing; the log never signs a new empty tree.

And each checkpoint is checked before it is published: size >= L, equal size means equal
root, and a larger one must extend the tree found consistent in 1-3. A violation raises
:class:`LogRollback`; the sequencer then stops signing for good (until an operator looks
and restarts), logs it at CRITICAL, and ``/healthz`` answers 503 with the reason. The TSA
keeps issuing: its tokens go into the journal and wait, pending, for a log that is sound.

A data directory without the file (made before it existed) starts from the database's
current checkpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from timeseal.core.errors import MalformedError
from timeseal.core.files import write_durably
from timeseal.core.tlog import (
    Checkpoint,
    SignedCheckpoint,
    format_signed_checkpoint,
    parse_signed_checkpoint,
)
from timeseal.store.log.head import LogHead
from timeseal.store.log.store import MAX_BATCH, LogStore

log = logging.getLogger("timeseal.log")

LAST_SIGNED_FILE = "log/last-signed-checkpoint"


@dataclass(frozen=True, slots=True)
class RoundPlan:
    """What the next round may integrate: at most ``max_batch`` pending entries, and only
    those whose id is in ``id_runs`` when that is set (redoing a round lost in a crash)."""

    max_batch: int = MAX_BATCH
    id_runs: tuple[tuple[int, int], ...] | None = None


class LogRollback(Exception):
    """The database's log is behind, or not an extension of, the last checkpoint signed."""


def _describe(size: int, root_hash: bytes) -> str:
    return f"size {size} root {root_hash.hex()}"


class LastSignedGuard:
    """Holds the last signed checkpoint (file and memory) and checks each round against it.
    Used by the one sequencer thread of a process."""

    def __init__(self, path: Path, origin: str) -> None:
        self.path = path
        self._origin = origin
        self._last: Checkpoint | None = None
        self._last_runs: tuple[tuple[int, int], ...] | None = None
        self._loaded = False
        #: The database tree last found consistent with ``_last``: (size, root).
        self._verified: tuple[int, bytes] | None = None

    @classmethod
    def for_data_dir(cls, data_dir: Path, origin: str) -> LastSignedGuard:
        return cls(data_dir / LAST_SIGNED_FILE, origin)

    def last(self) -> Checkpoint | None:
        """The last checkpoint signed, or None before the first."""
        if not self._loaded:
            self._read()
            self._loaded = True
        return self._last

    def _read(self) -> None:
        try:
            raw = json.loads(self.path.read_bytes())
            note = raw["checkpoint"].encode("utf-8")
            runs = tuple((int(a), int(b)) for a, b in raw["entry_ids"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LogRollback(f"cannot read {self.path}: {exc}") from exc
        try:
            checkpoint = parse_signed_checkpoint(note).checkpoint
        except MalformedError as exc:
            raise LogRollback(f"{self.path} holds no signed checkpoint: {exc}") from exc
        if checkpoint.origin != self._origin:
            raise LogRollback(
                f"{self.path} is for log {checkpoint.origin!r}, this log is {self._origin!r}"
            )
        self._last, self._last_runs = checkpoint, runs

    def check_no_tree(self) -> None:
        """The database has no log yet: refuse to sign an empty tree after a larger one (4)."""
        last = self.last()
        if last is not None and last.size > 0:
            raise LogRollback(
                f"the database holds no log, but this log last signed "
                f"{_describe(last.size, last.root_hash)} ({self.path}): refusing to start a "
                "new, empty tree under the same key"
            )

    def plan(self, store: LogStore, head: LogHead) -> RoundPlan:
        """Check the database's tree against the last signed checkpoint (1-3); return what
        the next round may integrate."""
        last = self.last()
        if last is None:  # a data directory from before the file: start from the database
            self.record(store_checkpoint(head), ())
            return RoundPlan()
        if (head.size, head.root_hash) == self._verified:
            return RoundPlan()
        found = _describe(head.size, head.root_hash)
        signed = _describe(last.size, last.root_hash)
        if head.size == last.size:
            if head.root_hash != last.root_hash:
                raise LogRollback(
                    f"the database's log is {found}, but this log signed {signed}: another "
                    "tree of the same size"
                )
        elif head.size > last.size:
            try:
                root = store.root_hash_at(last.size, head.size)
            except LookupError as exc:
                raise LogRollback(
                    f"cannot check the database's log against {signed}: {exc}"
                ) from exc
            if root != last.root_hash:
                raise LogRollback(
                    f"the database's log ({found}) does not extend the last checkpoint this "
                    f"log signed ({signed}): its first {last.size} entries hash to "
                    f"{root.hex()}"
                )
        else:
            missing = last.size - head.size
            if store.pending_count() < missing:
                raise LogRollback(
                    f"the database's log is {found}, smaller than the last checkpoint this "
                    f"log signed ({signed}): a rollback (a restored backup or another "
                    "database?); refusing to sign"
                )
            # Crash recovery: this round redoes the lost one and must end at exactly (L, R).
            runs = self._last_runs if head.size + _count(self._last_runs) == last.size else None
            return RoundPlan(max_batch=missing, id_runs=runs)
        self._verified = (head.size, head.root_hash)
        return RoundPlan()

    def before_publish(
        self, previous: LogHead | None, signed: SignedCheckpoint, ids: Sequence[int]
    ) -> None:
        """Check a freshly signed checkpoint against the last one, then keep it durably as
        the last one; raising refuses it (it is then never published)."""
        new = signed.checkpoint
        last = self.last()
        if last is not None:
            signed_last = _describe(last.size, last.root_hash)
            if new.size < last.size:
                raise LogRollback(
                    f"refusing to sign {_describe(new.size, new.root_hash)}: smaller than "
                    f"the last checkpoint this log signed ({signed_last})"
                )
            if new.size == last.size and new.root_hash != last.root_hash:
                raise LogRollback(
                    f"refusing to sign {_describe(new.size, new.root_hash)}: the last "
                    f"checkpoint this log signed has the same size ({signed_last})"
                )
            base = None if previous is None else (previous.size, previous.root_hash)
            if new.size > last.size and base != self._verified:
                raise LogRollback(
                    f"refusing to sign {_describe(new.size, new.root_hash)}: it extends a "
                    f"tree not checked against the last checkpoint signed ({signed_last})"
                )
        self.record(signed, ids)

    def record(self, signed: SignedCheckpoint, ids: Sequence[int]) -> None:
        runs = _runs(ids)
        body = {
            "checkpoint": format_signed_checkpoint(signed).decode("utf-8"),
            "entry_ids": [list(r) for r in runs],
        }
        write_durably(self.path, (json.dumps(body, indent=1) + "\n").encode("utf-8"), mode=0o644)
        self._last, self._last_runs = signed.checkpoint, runs
        self._loaded = True
        self._verified = (signed.checkpoint.size, signed.checkpoint.root_hash)


def _runs(ids: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Sorted ids as inclusive runs of consecutive ids: (first, last), ..."""
    runs: list[tuple[int, int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return tuple(runs)


def _count(runs: tuple[tuple[int, int], ...] | None) -> int:
    return -1 if runs is None else sum(b - a + 1 for a, b in runs)


def store_checkpoint(head: LogHead) -> SignedCheckpoint:
    """The signed checkpoint the database holds for its tree."""
    return parse_signed_checkpoint(head.checkpoint)


__all__ = ["LAST_SIGNED_FILE", "LastSignedGuard", "LogRollback", "RoundPlan"]
