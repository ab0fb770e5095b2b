"""What ``/healthz`` says of each configured witness: the size it last cosigned, how far the
log has grown past it, and why its last attempt failed.

A witness that is down does not make the platform unhealthy (the TSA issues and the log
signs without it), so this is information for the operator, not a status.
"""

from __future__ import annotations

from collections.abc import Sequence

from timeseal.server.runtime.configuration import WitnessConfig
from timeseal.store.log.store import LogStore
from timeseal.store.log.witnesses import WitnessBook


class WitnessHealth:
    """Reads the witnesses' recorded states (database I/O: call it off the event loop)."""

    def __init__(self, store: LogStore, witnesses: Sequence[WitnessConfig]) -> None:
        self._store = store
        self._book = WitnessBook(store.engine)
        self._witnesses = list(witnesses)

    def __call__(self) -> list[dict[str, object]]:
        if not self._witnesses:
            return []
        states = self._book.states()
        head = self._store.head()
        size = 0 if head is None else head.size
        report: list[dict[str, object]] = []
        for witness in self._witnesses:
            state = states.get(witness.url)
            cosigned = None if state is None else state.cosigned_size
            report.append(
                {
                    "url": witness.url,
                    "key": witness.vkey.split("+", 1)[0],
                    "cosigned_size": cosigned,
                    "cosigned_at": None
                    if state is None or state.cosigned_at is None
                    else state.cosigned_at.isoformat().replace("+00:00", "Z"),
                    "behind": size - (cosigned or 0),
                    "last_error": None if state is None else state.error,
                }
            )
        return report


__all__ = ["WitnessHealth"]
