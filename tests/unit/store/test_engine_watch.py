"""The leak watcher every test runs under (tests/conftest.py): it names the engine and the line
that took a connection a test did not give back, and says nothing when a test cleans up."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from tests.support.engines import watching_engines
from timeseal.store.db import make_engine


def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'leak.db'}"


def test_a_disposed_engine_is_no_leak(tmp_path: Path) -> None:
    with watching_engines() as watcher:
        engine = make_engine(url(tmp_path))
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar() == 1
        engine.dispose()
    assert watcher.leaks() == []


def test_an_engine_never_disposed_is_named_where_it_was_made(tmp_path: Path) -> None:
    with watching_engines() as watcher:
        engine = make_engine(url(tmp_path))  # the line the report must name
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    [report] = watcher.leaks()
    assert "test_an_engine_never_disposed_is_named_where_it_was_made" in report
    assert "engine = make_engine(url(tmp_path))" in report
    assert "1 connection(s) idle in its pool: the engine was not disposed" in report
    watcher.dispose_all()
    assert watcher.leaks() == []


def test_a_connection_held_by_a_thread_past_dispose_is_named_where_it_was_taken(
    tmp_path: Path,
) -> None:
    inside = threading.Event()
    leave = threading.Event()

    def query() -> None:
        with engine.connect() as conn:  # the line the report must name
            conn.execute(text("select 1"))
            inside.set()
            leave.wait(timeout=30)

    with watching_engines() as watcher:
        engine = make_engine(url(tmp_path))
        worker = threading.Thread(target=query)
        worker.start()
        old_pool = engine.pool
        try:
            assert inside.wait(timeout=30)
            engine.dispose()  # a teardown that does not wait for the thread
            [report] = watcher.leaks()
        finally:
            leave.set()
            worker.join(timeout=30)
    assert "a connection still checked out, taken at:" in report
    assert "with engine.connect() as conn:  # the line the report must name" in report
    # Given back after dispose(), the connection lands in the old pool and stays open there
    # until the garbage collector finds it (psycopg then warns, in whichever test runs).
    [report] = watcher.leaks()
    assert "1 connection(s) idle in its pool" in report
    watcher.dispose_all()
    assert watcher.leaks() != []  # disposing the engine again does not reach the old pool
    old_pool.dispose()
    assert watcher.leaks() == []


def test_a_detached_connection_counts_until_it_is_closed(tmp_path: Path) -> None:
    # The issuance journal's SQLite writer takes its connection out of the pool for good.
    with watching_engines() as watcher:
        engine = make_engine(url(tmp_path))
        connection = engine.raw_connection()
        connection.detach()
        engine.dispose()
        [report] = watcher.leaks()
        assert "a detached connection never closed, taken at:" in report
        assert "connection = engine.raw_connection()" in report
        connection.close()
    assert watcher.leaks() == []
