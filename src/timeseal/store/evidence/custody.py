"""Each record's chain of custody: one row per event, and share views counted per link,
client and day."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Engine, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from timeseal.store.db import from_ms, to_ms
from timeseal.store.evidence.rows import CustodyEvent
from timeseal.store.evidence.tables import CUSTODY_ACTIONS, OTHER_CLIENTS, evidence_custody


class CustodyTrail:
    """The ``evidence_custody`` rows of one engine; a part of
    :class:`~timeseal.store.evidence.records.EvidenceStore`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- custody ----------------------------------------------------------------------------

    def add_custody(
        self, record_id: int, action: str, *, actor_id: int | None, at: dt.datetime, client_ip: str
    ) -> None:
        if action not in CUSTODY_ACTIONS:
            raise ValueError(f"custody action must be one of {', '.join(CUSTODY_ACTIONS)}")
        with self.engine.begin() as conn:
            conn.execute(
                insert(evidence_custody).values(
                    record_id=record_id,
                    action=action,
                    actor_id=actor_id,
                    at_ms=to_ms(at),
                    client_ip=client_ip[:64],
                    views=1,
                )
            )

    def note_share_view(
        self,
        record_id: int,
        share_id: int,
        *,
        at: dt.datetime,
        client_ip: str,
        max_clients: int,
    ) -> None:
        """Count a view of the record through link ``share_id``: the day's row for this
        client gets one more (and ``at`` as its latest), or is added. Past ``max_clients``
        clients that day, further ones are counted in one :data:`OTHER_CLIENTS` row, so a
        link adds at most ``max_clients + 1`` rows a day however it is used."""
        at_ms = to_ms(at)
        day = at_ms // 86_400_000
        c = evidence_custody.c
        today = (c.record_id == record_id) & (c.share_id == share_id) & (c.view_day == day)
        client = client_ip[:64]
        for _ in range(3):  # a concurrent first view of the same row: count again
            try:
                with self.engine.begin() as conn:
                    if self._count_view(conn, today & (c.client_ip == client), at_ms):
                        return
                    clients = conn.execute(
                        select(func.count()).select_from(evidence_custody).where(today)
                    ).scalar_one()
                    if int(clients) >= max_clients:
                        client = OTHER_CLIENTS
                        if self._count_view(conn, today & (c.client_ip == client), at_ms):
                            return
                    conn.execute(
                        insert(evidence_custody).values(
                            record_id=record_id,
                            action="share_opened",
                            actor_id=None,
                            at_ms=at_ms,
                            client_ip=client,
                            share_id=share_id,
                            view_day=day,
                            last_at_ms=at_ms,
                            views=1,
                        )
                    )
                return
            except IntegrityError:
                continue
        raise AssertionError("evidence_custody: a share view row neither exists nor inserts")

    @staticmethod
    def _count_view(conn: Connection, row: Any, at_ms: int) -> bool:
        c = evidence_custody.c
        result = conn.execute(
            update(evidence_custody)
            .where(row)
            .values(
                views=c.views + 1,
                last_at_ms=case((c.last_at_ms < at_ms, at_ms), else_=c.last_at_ms),
            )
        )
        return bool(result.rowcount)

    def custody(self, record_id: int) -> list[CustodyEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(evidence_custody)
                .where(evidence_custody.c.record_id == record_id)
                .order_by(evidence_custody.c.id)
            ).all()
        return [
            CustodyEvent(
                r.action,
                None if r.actor_id is None else int(r.actor_id),
                from_ms(int(r.at_ms)),
                r.client_ip,
                count=int(r.views),
                last_at=None if r.last_at_ms is None else from_ms(int(r.last_at_ms)),
                share_id=None if r.share_id is None else int(r.share_id),
            )
            for r in rows
        ]
