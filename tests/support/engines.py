"""Every database engine a test makes is watched, so a connection it leaks fails that test,
naming where the engine was made and where the connection was taken.

A leaked connection otherwise surfaces much later and elsewhere: psycopg warns ("connection
... was deleted while still open") when the garbage collector finds it, during whichever test
runs then. The two ways to leak, both caught at the end of the test that made the engine:

- a connection still checked out: a thread is still inside a query, or a ``connect()`` was
  never closed (a teardown that disposes the engine while a thread is still querying leaves
  exactly this: ``dispose()`` closes only the idle connections);
- a database connection still open in the pool: the engine was never disposed.

Engines are made by :func:`timeseal.store.db.make_engine`, which every layer imports by name;
the watcher therefore wraps the ``create_engine`` that ``make_engine`` calls.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from timeseal.store import db

#: Frames from these are noise in a report: the caller is what matters.
_NOISE = (
    "/sqlalchemy/",
    "/_pytest/",
    "/pluggy/",
    "/bin/pytest",
    "/tests/support/engines.py",
    "/threading.py",
)


def _where(stack: list[traceback.FrameSummary]) -> str:
    frames = [f for f in stack if not any(part in f.filename for part in _NOISE)]
    return "".join(traceback.format_list(frames)).rstrip()


@dataclass
class _Watched:
    """One engine: where it was made, its connections out of the pool and open."""

    engine: Engine
    made_at: list[traceback.FrameSummary]
    checked_out: dict[int, list[traceback.FrameSummary]] = field(default_factory=dict)
    detached: dict[int, list[traceback.FrameSummary]] = field(default_factory=dict)
    open: set[int] = field(default_factory=set)


class EngineWatcher:
    """Records the engines made while it is installed and what their pools hold."""

    def __init__(self) -> None:
        self._engines: list[_Watched] = []
        self._lock = threading.Lock()

    def wrap(self, create_engine: Callable[..., Engine]) -> Callable[..., Engine]:
        def watched_create_engine(*args: Any, **kwargs: Any) -> Engine:
            engine = create_engine(*args, **kwargs)
            self._watch(engine, traceback.extract_stack()[:-1])
            return engine

        return watched_create_engine

    def _watch(self, engine: Engine, made_at: list[traceback.FrameSummary]) -> None:
        watched = _Watched(engine, made_at)
        lock = self._lock

        # Pool events set on the engine carry over to the fresh pool dispose() leaves behind.
        @event.listens_for(engine, "connect")
        def connected(dbapi_connection: Any, _record: Any) -> None:
            with lock:
                watched.open.add(id(dbapi_connection))

        @event.listens_for(engine, "close")
        def closed(dbapi_connection: Any, _record: Any) -> None:
            with lock:
                watched.open.discard(id(dbapi_connection))

        @event.listens_for(engine, "detach")
        def detached(dbapi_connection: Any, _record: Any) -> None:
            # Out of the pool for good (the issuance journal's SQLite writer): no checkin
            # follows, only close_detached; until then it is still out, and still open.
            with lock:
                taken = watched.checked_out.pop(id(dbapi_connection), None)
                watched.detached[id(dbapi_connection)] = taken or traceback.extract_stack()[:-1]

        @event.listens_for(engine, "close_detached")
        def closed_detached(dbapi_connection: Any) -> None:
            with lock:
                watched.detached.pop(id(dbapi_connection), None)
                watched.open.discard(id(dbapi_connection))

        @event.listens_for(engine, "checkout")
        def checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            stack = traceback.extract_stack()[:-1]
            with lock:
                watched.checked_out[id(dbapi_connection)] = stack

        @event.listens_for(engine, "checkin")
        def checked_in(dbapi_connection: Any, _record: Any) -> None:
            with lock:
                watched.checked_out.pop(id(dbapi_connection), None)

        with lock:
            self._engines.append(watched)

    def leaks(self) -> list[str]:
        """A report per leaking engine (none: nothing leaked)."""
        reports = []
        with self._lock:
            engines = list(self._engines)
        for watched in engines:
            with self._lock:
                out = list(watched.checked_out.values())
                detached = list(watched.detached.values())
                still_open = len(watched.open)
            if not out and not detached and not still_open:
                continue
            lines = [f"engine {watched.engine.url!r}, made at:\n{_where(watched.made_at)}"]
            lines += [f"a connection still checked out, taken at:\n{_where(s)}" for s in out]
            lines += [
                f"a detached connection never closed, taken at:\n{_where(s)}" for s in detached
            ]
            if still_open > len(out) + len(detached):
                idle = still_open - len(out) - len(detached)
                lines.append(f"{idle} connection(s) idle in its pool: the engine was not disposed")
            reports.append("\n".join(lines))
        return reports

    def dispose_all(self) -> None:
        """Close what the leaking engines still hold, so the leak is reported once, here."""
        for watched in self._engines:
            watched.engine.dispose()


@contextmanager
def watching_engines() -> Iterator[EngineWatcher]:
    """Watch the engines ``make_engine`` makes within the block."""
    watcher = EngineWatcher()
    real: Callable[..., Engine] = db.create_engine  # type: ignore[attr-defined]
    db.create_engine = watcher.wrap(real)  # type: ignore[attr-defined]
    try:
        yield watcher
    finally:
        db.create_engine = real  # type: ignore[attr-defined]
