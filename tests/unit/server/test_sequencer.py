"""The log sequencer's rounds: what it integrates, and how often it checkpoints SQLite's
write-ahead log (each checkpoint writes the database file beside the TSA journal's commits)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from timeseal.core.tlog import leaf_hash
from timeseal.server.log import sequencer as server_log
from timeseal.server.log.sequencer import sequencer_for
from timeseal.server.runtime import datadir
from timeseal.store.db import DATABASE_URL_ENV, create_schema, database_url, make_engine
from timeseal.store.log.store import LogStore


def test_the_wal_is_checkpointed_at_most_once_an_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=dt.datetime.now(dt.UTC))
    engine = make_engine(database_url(data_dir, os.environ.get(DATABASE_URL_ENV)))
    create_schema(engine)
    store = LogStore(engine)
    checkpoints: list[int] = []
    monkeypatch.setattr(store, "checkpoint_wal", lambda: checkpoints.append(1))
    sequencer = sequencer_for(data_dir, store)
    monkeypatch.setattr(server_log, "CHECKPOINT_INTERVAL", 3600.0)
    try:
        for n in range(3):  # three rounds within one interval: one checkpoint
            store.append([f"entry {n}".encode()])
            assert sequencer.step() is not None
        assert len(checkpoints) == 1
        monkeypatch.setattr(server_log, "CHECKPOINT_INTERVAL", 0.0)
        assert sequencer.step() is None  # nothing pending, but the WAL is due
        assert len(checkpoints) == 2
        assert store.head().size == 3  # type: ignore[union-attr]
        assert store.leaf_index(leaf_hash(b"entry 2")) == 2
    finally:
        sequencer.lock.release()
        engine.dispose()
