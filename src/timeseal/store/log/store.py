"""Reading and writing the Merkle log: tiles and proofs, appended entries, sequencing.

:meth:`LogStore.sequence` integrates pending entries in one transaction: the tiles, the leaf
indices, the new state and its signed checkpoint commit together or not at all, so a crash at
any point leaves the last committed checkpoint and its tiles, never a checkpoint without tiles
or two inconsistent checkpoints. Only the holder of the
:class:`~timeseal.store.log.lock.SequencerLock` calls it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select

from timeseal.core.tlog import (
    Checkpoint,
    Integration,
    SignedCheckpoint,
    SignerKey,
    Tile,
    TileHashReader,
    TlogProof,
    TreeState,
    consistency_proof,
    format_signed_checkpoint,
    inclusion_proof,
    integrate,
    leaf_hash,
    parse_signed_checkpoint,
    sign_checkpoint,
    tree_hash_from_reader,
)
from timeseal.core.tlog.tiles import MAX_ENTRY_SIZE, TilePyramidCache, edge_tiles
from timeseal.store.db import WriterTurns
from timeseal.store.log.head import BeforePublish, LogHead
from timeseal.store.log.tables import log_entries, log_state, log_tiles

#: At most this many entries go into one sequencing transaction.
MAX_BATCH = 100_000


def _marker(engine: Engine) -> str:
    return "?" if engine.dialect.paramstyle == "qmark" else "%s"


class LogStore:
    """Reads and writes the log tables. Cheap to create; one per process."""

    #: Tiles never change once written (a partial tile's path names its width), so a process
    #: may keep them; this many (up to 8 KiB each).
    TILE_CACHE = 4096

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._m = _marker(engine)
        self._sqlite = engine.dialect.name == "sqlite"
        self._turns = WriterTurns(engine)
        self._tile_cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._pyramids: TilePyramidCache = _LRU(self.TILE_CACHE)

    # --- reading (any process) ------------------------------------------------------------

    def head(self) -> LogHead | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(log_state).where(log_state.c.id == 1)).first()
        if row is None:
            return None
        return LogHead(row.size, row.root_hash, row.checkpoint, row.cosigned_checkpoint)

    def tile(self, path: str) -> bytes | None:
        return self.tiles([path]).get(path)

    def tiles(self, paths: Sequence[str]) -> dict[str, bytes]:
        """The stored tiles among ``paths``, from a cache once read."""
        found: dict[str, bytes] = {}
        with self._cache_lock:
            for path in paths:
                data = self._tile_cache.get(path)
                if data is not None:
                    self._tile_cache.move_to_end(path)
                    found[path] = data
        wanted = [p for p in paths if p not in found]
        if not wanted:
            return found
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(log_tiles.c.path, log_tiles.c.data).where(log_tiles.c.path.in_(wanted))
            ).all()
        with self._cache_lock:
            for row in rows:
                data = bytes(row.data)
                found[row.path] = data
                # A tile's path names its width, so its bytes never change: cacheable.
                self._tile_cache[row.path] = data
                if len(self._tile_cache) > self.TILE_CACHE:
                    self._tile_cache.popitem(last=False)
        return found

    def leaf_index(self, leaf_hash: bytes) -> int | None:
        """The index of the first sequenced entry with this leaf hash, if any."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(log_entries.c.leaf_index)
                .where(log_entries.c.leaf_hash == leaf_hash)
                .where(log_entries.c.leaf_index.is_not(None))
                .order_by(log_entries.c.leaf_index)
                .limit(1)
            ).scalar_one_or_none()
        return None if value is None else int(value)

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT count(*) FROM log_entries WHERE leaf_index IS NULL"
            ).scalar_one()
        return int(rows)

    def inclusion_proof(self, leaf_index: int, tree_size: int) -> tuple[bytes, ...]:
        """The RFC 9162 inclusion proof, computed from the stored tiles."""
        reader = TileHashReader(tree_size, self._fetch_tiles, self._pyramids)
        return inclusion_proof(reader, leaf_index=leaf_index, tree_size=tree_size)

    def consistency_proof(self, first: int, second: int) -> tuple[bytes, ...]:
        """The RFC 9162 consistency proof from size ``first`` to ``second``, from the tiles."""
        reader = TileHashReader(second, self._fetch_tiles, self._pyramids)
        return consistency_proof(reader, first=first, second=second)

    def root_hash_at(self, size: int, tree_size: int) -> bytes:
        """The root hash of the tree's first ``size`` entries, from the stored tiles of the
        tree of ``tree_size`` (>= ``size``): what an older checkpoint of this tree must say."""
        if size == 0:
            return TreeState().root_hash
        reader = TileHashReader(tree_size, self._fetch_tiles, self._pyramids)
        return tree_hash_from_reader(reader, size)

    def _fetch_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        found = self.tiles([t.path for t in tiles])
        missing = [t.path for t in tiles if t.path not in found]
        if missing:
            raise LookupError(f"tiles missing from the store: {', '.join(missing)}")
        return [found[t.path] for t in tiles]

    # --- appending (any process) ----------------------------------------------------------

    def append(self, entries: Sequence[bytes]) -> list[int]:
        """Append entries durably (committed before this returns); their pending ids, in order.

        The sequencer gives them leaf indices within ``LogConfig.interval_ms``; see
        :meth:`leaf_index_of` and :meth:`receipt`. Callers that must commit entries together
        with their own rows (the TSA journal) use :meth:`insert_entries_sql` instead.
        """
        for entry in entries:
            if not isinstance(entry, bytes) or len(entry) > MAX_ENTRY_SIZE:
                raise ValueError("entries must be bytes of at most 65,535")
        ids = []
        with self.engine.begin() as conn:
            for entry in entries:
                result = conn.execute(
                    log_entries.insert().values(data=entry, leaf_hash=leaf_hash(entry))
                )
                key = result.inserted_primary_key
                assert key is not None
                ids.append(int(key[0]))
        return ids

    def leaf_index_of(self, entry_id: int) -> int | None:
        """The leaf index the sequencer gave the entry with this pending id, if it has yet."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(log_entries.c.leaf_index).where(log_entries.c.id == entry_id)
            ).scalar_one_or_none()
        return None if value is None else int(value)

    def receipt(self, leaf_index: int) -> TlogProof:
        """A C2SP tlog-proof for a sequenced leaf against the current signed checkpoint."""
        head = self.head()
        if head is None or leaf_index >= head.size:
            raise LookupError(f"leaf {leaf_index} is not in the log yet")
        signed = parse_signed_checkpoint(head.served_checkpoint)
        proof = self.inclusion_proof(leaf_index, signed.checkpoint.size)
        return TlogProof(leaf_index=leaf_index, inclusion_path=proof, checkpoint=signed)

    def insert_entries_sql(self) -> str:
        """The INSERT for (data, leaf_hash) rows, for callers batching on a raw connection."""
        return f"INSERT INTO log_entries (data, leaf_hash) VALUES ({self._m}, {self._m})"

    # --- sequencing (the lock holder only) ------------------------------------------------

    def initialise(
        self,
        key: SignerKey,
        origin: str,
        now: dt.datetime,
        *,
        before_publish: BeforePublish | None = None,
    ) -> LogHead:
        """Create the empty tree's state and checkpoint if there is none yet."""
        head = self.head()
        if head is not None:
            return head
        state = TreeState()
        signed = sign_checkpoint(Checkpoint(origin, 0, state.root_hash), key)
        if before_publish is not None:
            before_publish(None, signed, ())
        with self.engine.begin() as conn:
            conn.execute(
                log_state.insert().values(
                    id=1,
                    size=0,
                    root_hash=state.root_hash,
                    edge=b"",
                    checkpoint=format_signed_checkpoint(signed),
                    cosigned_checkpoint=None,
                    updated_at_ms=_ms(now),
                )
            )
        head = self.head()
        assert head is not None
        return head

    def sequence(
        self,
        key: SignerKey,
        origin: str,
        now: dt.datetime,
        *,
        max_batch: int = MAX_BATCH,
        id_runs: Sequence[tuple[int, int]] | None = None,
        before_publish: BeforePublish | None = None,
    ) -> SignedCheckpoint | None:
        """Integrate up to ``max_batch`` pending entries (only those whose id lies in one of
        the inclusive ``id_runs``, when given: to redo a round exactly); return the new
        signed checkpoint, or None when nothing was pending. ``before_publish`` sees the
        signed checkpoint before it is committed, and may refuse it by raising."""
        head, state = self._state()
        only = ""
        if id_runs is not None:
            runs = " OR ".join(f"id BETWEEN {int(a)} AND {int(b)}" for a, b in id_runs)
            only = f"AND ({runs or '1 = 0'}) "
        with self.engine.connect() as conn:
            pending = conn.exec_driver_sql(
                f"SELECT id, data FROM log_entries WHERE leaf_index IS NULL {only}"
                f"ORDER BY id LIMIT {int(max_batch)}"
            ).all()
        if not pending:
            return None
        edge = edge_tiles(state.size)
        stored = self.tiles([t.path for t in edge])
        if len(stored) != len(edge):
            raise LookupError("edge tiles missing from the store; refusing to extend the log")
        result = integrate(
            state, [bytes(row.data) for row in pending], {t: stored[t.path] for t in edge}
        )
        new = result.state
        signed = sign_checkpoint(Checkpoint(origin, new.size, new.root_hash), key)
        note = format_signed_checkpoint(signed)
        ids = [int(row.id) for row in pending]
        if before_publish is not None:
            before_publish(head, signed, ids)

        with self._turns.turn():
            self._commit_sequenced(head.size, ids, result, note, now)
        return signed

    def _commit_sequenced(
        self, size: int, ids: list[int], result: Integration, note: bytes, now: dt.datetime
    ) -> None:
        """One transaction: the new tiles, the entries' leaf indices, the new state, provided
        the log is still at ``size`` (else another sequencer ran: the lock was broken)."""
        m = self._m
        new = result.state
        raw: Any = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if self._sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("SELECT size FROM log_state WHERE id = 1")
            current = cursor.fetchone()
            if current is None or int(current[0]) != size:
                raise RuntimeError("log state changed under the sequencer; lock broken?")
            cursor.executemany(
                f"INSERT INTO log_tiles (path, data) VALUES ({m}, {m})",
                [(tile.path, data) for tile, data in result.tiles],
            )
            # Consecutive ids get consecutive indices: one UPDATE per run of ids, not per row.
            cursor.executemany(
                f"UPDATE log_entries SET leaf_index = id + {m} WHERE id BETWEEN {m} AND {m}",
                _id_runs(ids, size),
            )
            cursor.execute(
                f"UPDATE log_state SET size = {m}, root_hash = {m}, edge = {m}, "
                f"checkpoint = {m}, cosigned_checkpoint = NULL, updated_at_ms = {m} WHERE id = 1",
                (new.size, new.root_hash, b"".join(new.hashes), note, _ms(now)),
            )
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()

    def checkpoint_wal(self) -> None:
        """SQLite: copy the write-ahead log into the database file (PASSIVE: it waits for
        no reader or writer)."""
        if self._sqlite:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()

    def store_cosigned(self, size: int, cosigned: bytes) -> bool:
        """Keep the witness-cosigned checkpoint, if the log is still at ``size``."""
        with self.engine.begin() as conn:
            result = conn.execute(
                log_state.update()
                .where(log_state.c.id == 1)
                .where(log_state.c.size == size)
                .values(cosigned_checkpoint=cosigned)
            )
        return bool(result.rowcount)

    def _state(self) -> tuple[LogHead, TreeState]:
        head = self.head()
        if head is None:
            raise LookupError("the log is not initialised")
        with self.engine.connect() as conn:
            edge = conn.execute(select(log_state.c.edge).where(log_state.c.id == 1)).scalar_one()
        hashes = tuple(bytes(edge[i : i + 32]) for i in range(0, len(edge), 32))
        state = TreeState(head.size, hashes)
        if state.root_hash != head.root_hash:
            raise AssertionError("stored edge hashes do not fold to the stored root")
        return head, state


def _id_runs(ids: Sequence[int], first_index: int) -> list[tuple[int, int, int]]:
    """(index - id, first id, last id) for each run of consecutive ids, which take the
    consecutive leaf indices from ``first_index`` on, in order."""
    runs: list[tuple[int, int, int]] = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[i - 1] + 1:
            runs.append((first_index + start - ids[start], ids[start], ids[i - 1]))
            start = i
    return runs


class _LRU(OrderedDict[str, tuple[tuple[bytes, ...], ...]]):
    """A bounded mapping that forgets the least recently stored entry (thread-safe enough
    for a cache: a lost race only recomputes a pyramid)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def __setitem__(self, key: str, value: tuple[tuple[bytes, ...], ...]) -> None:
        super().__setitem__(key, value)
        while len(self) > self._limit:
            self.popitem(last=False)


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)
