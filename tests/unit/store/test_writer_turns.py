"""Hot SQLite writers take turns through a file lock beside the database
(timeseal.store.db.WriterTurns)."""

from __future__ import annotations

import threading
from pathlib import Path

from timeseal.store.db import WriterTurns, make_engine


def test_a_second_writer_waits_for_the_first_to_finish(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    first, second = WriterTurns(engine), WriterTurns(engine)
    order: list[str] = []
    first_in, release = threading.Event(), threading.Event()

    def hold() -> None:
        with first.turn():
            order.append("first in")
            first_in.set()
            release.wait(10)
            order.append("first out")

    def wait_turn() -> None:
        with second.turn():
            order.append("second in")

    holder = threading.Thread(target=hold)
    holder.start()
    assert first_in.wait(10)
    waiter = threading.Thread(target=wait_turn)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and order == ["first in"]  # still waiting its turn
    release.set()
    holder.join(10)
    waiter.join(10)
    assert order == ["first in", "first out", "second in"]
    assert (tmp_path / "db.sqlite.writers").exists()
    first.close()
    second.close()
