"""The log store on SQLite: sequencing, tiles, proofs, restart, and the sequencer lock."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from timeseal.core.tlog import (
    TreeState,
    format_tlog_proof,
    generate_signer_key,
    leaf_hash,
    parse_signed_checkpoint,
    parse_tlog_proof,
    tree_hash,
    verify_checkpoint,
    verify_inclusion,
    verify_tlog_proof,
)
from timeseal.core.tlog.tiles import EntriesTile, parse_entry_bundle
from timeseal.store.db import create_schema, make_engine
from timeseal.store.log.lock import SequencerLock
from timeseal.store.log.store import LogStore

ORIGIN = "test.example/log"
KEY = generate_signer_key(ORIGIN)
NOW = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


def append(store: LogStore, entries: list[bytes]) -> None:
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.executemany(store.insert_entries_sql(), [(e, leaf_hash(e)) for e in entries])
        raw.commit()
    finally:
        raw.close()


def test_sequencing_signs_checkpoints_over_the_entries(engine: Engine) -> None:
    store = LogStore(engine)
    head = store.initialise(KEY, ORIGIN, NOW)
    assert head.size == 0
    assert store.sequence(KEY, ORIGIN, NOW) is None  # nothing pending
    entries = [f"entry {i}".encode() for i in range(600)]
    append(store, entries[:300])
    first = store.sequence(KEY, ORIGIN, NOW, max_batch=257)
    assert first is not None and first.checkpoint.size == 257
    second = store.sequence(KEY, ORIGIN, NOW)
    assert second is not None and second.checkpoint.size == 300
    append(store, entries[300:])
    third = store.sequence(KEY, ORIGIN, NOW)
    assert third is not None and third.checkpoint.size == 600
    assert third.checkpoint.root_hash == tree_hash([leaf_hash(e) for e in entries])
    served = parse_signed_checkpoint(store.head().served_checkpoint)  # type: ignore[union-attr]
    assert verify_checkpoint(served, KEY.verifier_key, origin=ORIGIN).ok
    # Entry bundles hold the entries in order; every entry knows its index.
    assert list(parse_entry_bundle(store.tile(EntriesTile(0).path) or b"")) == entries[:256]
    for i in (0, 255, 256, 599):
        assert store.leaf_index(leaf_hash(entries[i])) == i
        proof = store.inclusion_proof(i, 600)
        result = verify_inclusion(
            leaf_hash=leaf_hash(entries[i]),
            leaf_index=i,
            tree_size=600,
            inclusion_path=proof,
            root_hash=third.checkpoint.root_hash,
        )
        assert result.ok


def test_a_restarted_store_continues_the_same_tree(engine: Engine, tmp_path: Path) -> None:
    entries = [bytes([i]) * 10 for i in range(100)]
    store = LogStore(engine)
    store.initialise(KEY, ORIGIN, NOW)
    append(store, entries[:40])
    store.sequence(KEY, ORIGIN, NOW)
    engine.dispose()
    again = LogStore(make_engine(f"sqlite:///{tmp_path / 'log.db'}"))
    try:
        append(again, entries[40:])
        signed = again.sequence(KEY, ORIGIN, NOW)
    finally:
        again.engine.dispose()
    assert signed is not None
    state = TreeState()
    for e in entries:
        state = state.append(leaf_hash(e))
    assert signed.checkpoint.root_hash == state.root_hash


def test_a_corrupted_edge_tile_stops_the_sequencer(engine: Engine) -> None:
    store = LogStore(engine)
    store.initialise(KEY, ORIGIN, NOW)
    append(store, [b"a", b"b", b"c"])
    store.sequence(KEY, ORIGIN, NOW)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE log_tiles SET data = ? WHERE path = ?", (b"\x00" * 96, "tile/0/000.p/3")
        )
    append(store, [b"d"])
    with pytest.raises(ValueError, match="does not hash to"):
        store.sequence(KEY, ORIGIN, NOW)
    assert store.head().size == 3  # type: ignore[union-attr]


def test_only_one_process_holds_the_sequencer_lock(engine: Engine, tmp_path: Path) -> None:
    first = SequencerLock(engine, tmp_path / "seq.lock")
    second = SequencerLock(engine, tmp_path / "seq.lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_append_then_receipt_verifies_offline(engine: Engine) -> None:
    store = LogStore(engine)
    store.initialise(KEY, ORIGIN, NOW)
    first = store.append([b"one", b"two"])
    assert [store.leaf_index_of(i) for i in first] == [None, None]
    with pytest.raises(LookupError):
        store.receipt(0)
    store.sequence(KEY, ORIGIN, NOW)
    second = store.append([b"three"])
    store.sequence(KEY, ORIGIN, NOW)
    indices = [store.leaf_index_of(i) for i in [*first, *second]]
    assert indices == [0, 1, 2]
    receipt = parse_tlog_proof(format_tlog_proof(store.receipt(1)))
    assert verify_tlog_proof(receipt, leaf=b"two", log_key=KEY.verifier_key, origin=ORIGIN).ok
    assert not verify_tlog_proof(receipt, leaf=b"one", log_key=KEY.verifier_key).ok
    with pytest.raises(ValueError, match="65,535"):
        store.append([bytes(70_000)])


def test_gaps_in_entry_ids_still_give_consecutive_leaf_indices(engine: Engine) -> None:
    """PostgreSQL sequences leave gaps (rolled-back inserts); indices must not."""
    store = LogStore(engine)
    store.initialise(KEY, ORIGIN, NOW)
    ids = store.append([b"a", b"b", b"c", b"d", b"e", b"f"])
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM log_entries WHERE id IN (?, ?)", (ids[1], ids[4]))
    signed = store.sequence(KEY, ORIGIN, NOW)
    assert signed is not None
    assert signed.checkpoint.root_hash == tree_hash(
        [leaf_hash(e) for e in (b"a", b"c", b"d", b"f")]
    )
    kept = [ids[0], ids[2], ids[3], ids[5]]
    assert [store.leaf_index_of(i) for i in kept] == [0, 1, 2, 3]


def rows_in_database_file(path: Path) -> int:
    """log_entries rows in the database file itself, ignoring its write-ahead log."""
    connection = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM log_entries").fetchone()[0])
    finally:
        connection.close()


def test_writes_reach_the_database_file_at_the_sequencers_checkpoint(
    engine: Engine, tmp_path: Path
) -> None:
    """No commit copies the write-ahead log into the database file (a checkpoint inside a
    hot writer's commit stalls every writer behind it); the sequencer does, after its round."""
    store = LogStore(engine)
    store.initialise(KEY, ORIGIN, NOW)
    store.checkpoint_wal()
    # 3,000 entries of 2 KB: 6 MB of WAL, past SQLite's default auto-checkpoint (1,000 pages).
    append(store, [f"entry {i:05d} ".encode() * 180 for i in range(3000)])
    assert rows_in_database_file(tmp_path / "log.db") == 0
    store.sequence(KEY, ORIGIN, NOW)
    store.checkpoint_wal()
    assert rows_in_database_file(tmp_path / "log.db") == 3000
