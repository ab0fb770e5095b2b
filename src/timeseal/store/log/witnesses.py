"""What each witness last cosigned: the log's record of its witnesses, for ``/healthz`` and
for catching a witness up after an outage (:class:`~timeseal.server.log.sequencer.WitnessCosigner`).

Only the sequencer writes here (it holds the sequencer lock); any process reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from timeseal.store.db import from_ms, to_ms
from timeseal.store.log.tables import log_witnesses

#: The stored error text is cut to the column's width.
ERROR_WIDTH = 500


@dataclass(frozen=True, slots=True)
class WitnessState:
    """One witness as the log last saw it."""

    url: str
    key_label: str
    #: The largest checkpoint size it cosigned; None if it never did.
    cosigned_size: int | None
    cosigned_at: dt.datetime | None
    tried_at: dt.datetime
    #: Why the last attempt failed; None if it cosigned.
    error: str | None


class WitnessBook:
    """Reads and records the witnesses' states in ``log_witnesses``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def cosigned(self, url: str, key_label: str, size: int, at: dt.datetime) -> None:
        """The witness cosigned a checkpoint of ``size`` (its size never goes down here)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(log_witnesses.c.cosigned_size).where(log_witnesses.c.url == url)
            ).first()
            best = size if row is None or row.cosigned_size is None else max(size, row[0])
            values = {
                "key_label": key_label,
                "cosigned_size": best,
                "cosigned_at_ms": to_ms(at),
                "tried_at_ms": to_ms(at),
                "error": None,
            }
            self._write(conn, url, values, exists=row is not None)

    def failed(self, url: str, key_label: str, error: str, at: dt.datetime) -> None:
        """The last attempt to have the witness cosign failed with ``error``."""
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(log_witnesses.c.url).where(log_witnesses.c.url == url)
            ).first()
            values = {
                "key_label": key_label,
                "tried_at_ms": to_ms(at),
                "error": error[:ERROR_WIDTH],
            }
            self._write(conn, url, values, exists=exists is not None)

    @staticmethod
    def _write(conn: Any, url: str, values: dict[str, Any], *, exists: bool) -> None:
        if exists:
            conn.execute(update(log_witnesses).where(log_witnesses.c.url == url).values(values))
        else:
            conn.execute(insert(log_witnesses).values(url=url, **values))

    def states(self) -> dict[str, WitnessState]:
        """Every witness the log has tried, by URL."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(log_witnesses).order_by(log_witnesses.c.url)).all()
        return {
            row.url: WitnessState(
                url=row.url,
                key_label=row.key_label,
                cosigned_size=row.cosigned_size,
                cosigned_at=None if row.cosigned_at_ms is None else from_ms(row.cosigned_at_ms),
                tried_at=from_ms(row.tried_at_ms),
                error=row.error,
            )
            for row in rows
        }


__all__ = ["WitnessBook", "WitnessState"]
