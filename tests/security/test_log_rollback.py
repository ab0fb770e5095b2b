"""Issue 12, point 5: the log never signs a checkpoint smaller than, or inconsistent with, the
last one it signed, which is kept outside the database (``log/last-signed-checkpoint``).

Before the fix the sequencer signed whatever tree the database held: a fresh database got a
size-0 checkpoint after a size-87 one, a restored backup an older size, another database a
different tree of the same size, all under the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.support.accounts import database_url, server_database_url
from tests.unit.server.conftest import running_app
from timeseal.core.tlog import leaf_hash, parse_signed_checkpoint
from timeseal.core.tsp.request import build_request
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.log.guard import LAST_SIGNED_FILE
from timeseal.server.log.sequencer import Sequencer, sequencer_for
from timeseal.server.log.sequencer_process import write_failure
from timeseal.server.runtime import datadir, platform_keys
from timeseal.server.tsa.clock import LocalSource
from timeseal.store.db import create_schema, make_engine
from timeseal.store.log.store import LogStore
from timeseal.store.log.tables import log_entries

QUERY = {"Content-Type": "application/timestamp-query"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The data directory's database (SQLite or PostgreSQL), migrated."""
    engine = make_engine(db_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def other_engine(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Engine]:
    """A second database of the same kind: what a restored backup or a mix-up attaches."""
    kind = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    other = tmp_path / "other"
    other.mkdir()
    with database_url(kind, other) as url:
        engine = make_engine(url)
        create_schema(engine)
        yield engine
        engine.dispose()


def _sequencer(data_dir: Path, engine: Engine) -> Sequencer:
    return sequencer_for(data_dir, LogStore(engine))


def _grow(sequencer: Sequencer, entries: list[bytes]) -> int:
    sequencer.store.append(entries)
    signed = sequencer.step()
    assert signed is not None
    return signed.checkpoint.size


def _last_signed_note(data_dir: Path) -> bytes:
    note: str = json.loads((data_dir / LAST_SIGNED_FILE).read_bytes())["checkpoint"]
    return note.encode()


def _last_signed(data_dir: Path) -> tuple[int, bytes]:
    checkpoint = parse_signed_checkpoint(_last_signed_note(data_dir)).checkpoint
    return checkpoint.size, checkpoint.root_hash


def _signed_directly(data_dir: Path, store: LogStore, entries: list[bytes]) -> None:
    """Sign a tree in ``store`` with the log's key without the sequencer (and so without its
    file): the database of another era, or another data directory's copy of the key."""
    config = datadir.load_config(data_dir).log
    key = platform_keys.load_log_key(data_dir, config)
    store.initialise(key, config.origin, _now())
    if entries:
        store.append(entries)
        store.sequence(key, config.origin, _now())


def _entries(tag: str, n: int) -> list[bytes]:
    return [f"{tag} {i}".encode() for i in range(n)]


@pytest.fixture
def signed_five(data_dir: Path, engine: Engine) -> tuple[int, bytes]:
    """The log signed a tree of 5 entries; the file says so."""
    sequencer = _sequencer(data_dir, engine)
    try:
        sequencer.store.append(_entries("real", 5))
        signed = sequencer.step()
    finally:
        sequencer.lock.release()
    assert signed is not None and signed.checkpoint.size == 5
    return signed.checkpoint.size, signed.checkpoint.root_hash


def test_the_last_signed_checkpoint_is_kept_outside_the_database(
    data_dir: Path, signed_five: tuple[int, bytes], engine: Engine
) -> None:
    assert _last_signed(data_dir) == signed_five
    head = LogStore(engine).head()
    assert head is not None
    assert _last_signed_note(data_dir) == head.checkpoint


def _refuses(data_dir: Path, engine: Engine, why: str) -> Sequencer:
    sequencer = _sequencer(data_dir, engine)
    try:
        before = LogStore(engine).head()
        assert sequencer.step() is None
        assert sequencer.failure is not None and why in sequencer.failure
        assert "size 5" in sequencer.failure
        assert sequencer.step() is None  # and it stays stopped
        assert LogStore(engine).head() == before  # nothing was signed into the database
    finally:
        sequencer.lock.release()
    return sequencer


def test_an_empty_database_gets_no_empty_tree(
    data_dir: Path, signed_five: tuple[int, bytes], other_engine: Engine
) -> None:
    LogStore(other_engine).append(_entries("new", 2))
    _refuses(data_dir, other_engine, "holds no log")
    assert LogStore(other_engine).head() is None
    assert _last_signed(data_dir) == signed_five


def test_a_smaller_log_is_refused(
    data_dir: Path, signed_five: tuple[int, bytes], other_engine: Engine
) -> None:
    _signed_directly(data_dir, LogStore(other_engine), _entries("real", 2))
    _refuses(data_dir, other_engine, "smaller than the last checkpoint")
    assert _last_signed(data_dir) == signed_five


def test_a_smaller_log_refilled_with_other_entries_is_refused(
    data_dir: Path, signed_five: tuple[int, bytes], other_engine: Engine
) -> None:
    store = LogStore(other_engine)
    _signed_directly(data_dir, store, _entries("real", 2))
    store.append(_entries("forged", 6))  # enough to reach size 5, but another tree
    _refuses(data_dir, other_engine, "the last checkpoint this log signed has the same size")
    assert _last_signed(data_dir) == signed_five


def test_another_tree_of_the_same_size_is_refused(
    data_dir: Path, signed_five: tuple[int, bytes], other_engine: Engine
) -> None:
    store = LogStore(other_engine)
    _signed_directly(data_dir, store, _entries("forged", 5))
    store.append(_entries("more", 1))
    _refuses(data_dir, other_engine, "another tree of the same size")


def test_a_larger_tree_that_does_not_extend_the_last_is_refused(
    data_dir: Path, signed_five: tuple[int, bytes], other_engine: Engine
) -> None:
    store = LogStore(other_engine)
    _signed_directly(data_dir, store, _entries("forged", 7))
    store.append(_entries("more", 1))
    _refuses(data_dir, other_engine, "does not extend the last checkpoint")


def test_a_larger_tree_that_extends_the_last_is_accepted(
    data_dir: Path, signed_five: tuple[int, bytes], engine: Engine
) -> None:
    """Another server's sequencer (same database) extended the log: this one carries on."""
    _signed_directly(data_dir, LogStore(engine), _entries("other server", 3))
    sequencer = _sequencer(data_dir, engine)
    try:
        assert _grow(sequencer, _entries("mine", 2)) == 10
        assert sequencer.failure is None
    finally:
        sequencer.lock.release()
    assert _last_signed(data_dir)[0] == 10


def test_a_crash_between_the_file_and_the_commit_recovers(
    data_dir: Path, signed_five: tuple[int, bytes], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is written before the commit: a crash in between leaves the file ahead of the
    database, with the round's entries still pending. The next round signs the same tree,
    even when an entry with a lower id committed meanwhile (PostgreSQL hands out ids before
    commit)."""
    store = LogStore(engine)
    crashing = _sequencer(data_dir, engine)

    def crash(*_args: object) -> None:
        raise OSError("power cut")

    def insert(entry_id: int, data: bytes) -> None:
        with engine.begin() as conn:
            conn.execute(
                log_entries.insert().values(id=entry_id, data=data, leaf_hash=leaf_hash(data))
            )

    monkeypatch.setattr(crashing.store, "_commit_sequenced", crash)
    for i in range(3):
        insert(10 + i, f"lost {i}".encode())
    try:
        with pytest.raises(OSError, match="power cut"):
            crashing.step()
    finally:
        crashing.lock.release()
    size, root = _last_signed(data_dir)
    assert size == 8 and store.head().size == 5  # type: ignore[union-attr]
    insert(8, b"late, with a lower id")
    store.append(_entries("later", 2))
    sequencer = _sequencer(data_dir, engine)
    try:
        first = sequencer.step()
        assert first is not None
        assert (first.checkpoint.size, first.checkpoint.root_hash) == (size, root)
        second = sequencer.step()
        assert second is not None and second.checkpoint.size == 11
        assert sequencer.failure is None
    finally:
        sequencer.lock.release()


def _size(note: bytes) -> int:
    return parse_signed_checkpoint(note).checkpoint.size


def _stamp(client: TestClient, n: int, tag: str, size: int) -> None:
    for i in range(n):
        digest = hashlib.sha256(f"{tag} {i}".encode()).digest()
        reply = client.post("/tsa", content=build_request(digest).der, headers=QUERY)
        assert reply.status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        reply = client.get("/log/checkpoint")
        if reply.status_code == 200 and _size(reply.content) >= size:
            return
        time.sleep(0.05)
    raise AssertionError("the sequencer did not integrate in time")


def test_healthz_reports_a_log_that_stopped_signing(data_dir: Path, engine: Engine) -> None:
    """The same database, rolled back to an older state (as a restored backup): the server
    still starts and its TSA still issues, but the log signs nothing and /healthz says why."""
    with running_app(data_dir) as client:
        _stamp(client, 1, "a", 1)
        with engine.connect() as conn:
            old = conn.exec_driver_sql(
                "SELECT size, root_hash, edge, checkpoint FROM log_state WHERE id = 1"
            ).one()
        _stamp(client, 4, "b", 5)
    assert _last_signed(data_dir)[0] == 5
    m = "?" if engine.dialect.name == "sqlite" else "%s"
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM log_entries WHERE leaf_index >= 1")
        conn.exec_driver_sql(
            f"UPDATE log_state SET size = {m}, root_hash = {m}, edge = {m}, checkpoint = {m}, "
            "cosigned_checkpoint = NULL WHERE id = 1",
            (old.size, old.root_hash, old.edge, old.checkpoint),
        )
    with running_app(data_dir) as client:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            health = client.get("/healthz")
            if health.status_code == 503:
                break
            time.sleep(0.05)
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["status"] == "log_failed"
        assert body["log"]["failed"] is True
        assert "size 5" in body["log"]["reason"]
        # The TSA keeps issuing (tokens wait in the journal); the log stays at size 1.
        digest = hashlib.sha256(b"after").digest()
        assert (
            client.post("/tsa", content=build_request(digest).der, headers=QUERY).status_code == 200
        )
        checkpoint = parse_signed_checkpoint(client.get("/log/checkpoint").content)
        assert checkpoint.checkpoint.size == 1
    assert _last_signed(data_dir)[0] == 5


def test_healthz_reports_a_sequencer_process_that_stopped_signing(
    data_dir: Path, tmp_path: Path
) -> None:
    """With several workers the sequencer is a process of its own; its refusal reaches every
    worker's /healthz through a file beside its role file."""
    role_file = tmp_path / "sequencer-role"
    settings = ServerSettings(
        database_url=server_database_url(),
        data_dir=data_dir,
        clock_source=LocalSource(),
        sequencer_role_file=role_file,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        write_failure(role_file, "the database's log is size 0, smaller than size 5")
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["log"]["reason"].endswith("smaller than size 5")
