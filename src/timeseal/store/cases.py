"""Cases: an owner's evidence items assembled, in order, into one chain for one dispute.

Tables::

    evidence_cases        one case: owner, title, description (what the dispute is about),
                          created/updated times; ``deleted_at_ms`` once the owner deletes it
    evidence_case_items   which records a case holds, in the owner's order, each with a note
                          saying what it shows

A case only groups records: adding or removing an item never touches the record, which stays
sealed and immutable (see :mod:`timeseal.store.evidence.records`). Deleting a case keeps its row, so
that share links to it, and the audit of what they opened, still resolve to "gone" rather
than to a reused id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from timeseal.store.db import ID_TYPE, from_ms, metadata, to_ms
from timeseal.store.evidence.rows import EvidenceError

#: Most items one case holds: a chain a judge can read, and a bound on package size.
MAX_CASE_ITEMS = 500

evidence_cases = Table(
    "evidence_cases",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("owner_id", ID_TYPE, ForeignKey("accounts.id"), nullable=False),
    Column("title", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("deleted_at_ms", BigInteger, nullable=True),
    Index("ix_evidence_cases_owner", "owner_id", "updated_at_ms"),
)

evidence_case_items = Table(
    "evidence_case_items",
    metadata,
    Column("case_id", ID_TYPE, ForeignKey("evidence_cases.id"), nullable=False),
    Column("record_id", ID_TYPE, ForeignKey("evidence_records.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("note", String(1000), nullable=False),
    Column("added_at_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("case_id", "record_id"),
    Index("ix_evidence_case_items_record", "record_id"),
)


class CaseFull(EvidenceError):
    """The case holds :data:`MAX_CASE_ITEMS` items already."""


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    owner_id: int
    title: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    item_count: int


@dataclass(frozen=True, slots=True)
class CaseItem:
    record_id: int
    position: int
    note: str
    added_at: dt.datetime


def _case(row: Any, item_count: int) -> Case:
    return Case(
        id=int(row.id),
        owner_id=int(row.owner_id),
        title=row.title,
        description=row.description,
        created_at=from_ms(int(row.created_at_ms)),
        updated_at=from_ms(int(row.updated_at_ms)),
        item_count=item_count,
    )


def _item_count() -> Any:
    return (
        select(func.count())
        .where(evidence_case_items.c.case_id == evidence_cases.c.id)
        .scalar_subquery()
    )


class CaseStore:
    """Cases on one engine. Every method takes the owner: another account's case, or a
    deleted one, is simply not found (None / False)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, owner_id: int, title: str, description: str, *, now: dt.datetime) -> Case:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(evidence_cases).values(
                    owner_id=owner_id,
                    title=title,
                    description=description,
                    created_at_ms=to_ms(now),
                    updated_at_ms=to_ms(now),
                    deleted_at_ms=None,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
        case = self.get(owner_id, int(key[0]))
        assert case is not None
        return case

    def get(self, owner_id: int, case_id: int) -> Case | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(evidence_cases, _item_count().label("item_count")).where(
                    (evidence_cases.c.id == case_id)
                    & (evidence_cases.c.owner_id == owner_id)
                    & evidence_cases.c.deleted_at_ms.is_(None)
                )
            ).one_or_none()
        return None if row is None else _case(row, int(row.item_count))

    def list_for(self, owner_id: int) -> list[Case]:
        """The owner's cases, most recently changed first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(evidence_cases, _item_count().label("item_count"))
                .where(
                    (evidence_cases.c.owner_id == owner_id)
                    & evidence_cases.c.deleted_at_ms.is_(None)
                )
                .order_by(evidence_cases.c.updated_at_ms.desc(), evidence_cases.c.id.desc())
            ).all()
        return [_case(r, int(r.item_count)) for r in rows]

    def update(
        self,
        owner_id: int,
        case_id: int,
        *,
        now: dt.datetime,
        title: str | None = None,
        description: str | None = None,
    ) -> Case | None:
        values: dict[str, object] = {"updated_at_ms": to_ms(now)}
        if title is not None:
            values["title"] = title
        if description is not None:
            values["description"] = description
        with self.engine.begin() as conn:
            conn.execute(update(evidence_cases).where(self._mine(owner_id, case_id)).values(values))
        return self.get(owner_id, case_id)

    def delete(self, owner_id: int, case_id: int, *, now: dt.datetime) -> bool:
        """Delete the case (its items stay sealed records); whether there was one."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(evidence_cases)
                .where(self._mine(owner_id, case_id))
                .values(deleted_at_ms=to_ms(now))
            )
        return result.rowcount == 1

    def items(self, case_id: int) -> list[CaseItem]:
        """The case's items in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(evidence_case_items)
                .where(evidence_case_items.c.case_id == case_id)
                .order_by(evidence_case_items.c.position, evidence_case_items.c.record_id)
            ).all()
        return [
            CaseItem(int(r.record_id), int(r.position), r.note, from_ms(int(r.added_at_ms)))
            for r in rows
        ]

    def put_item(
        self, owner_id: int, case_id: int, record_id: int, note: str | None, *, now: dt.datetime
    ) -> bool:
        """Add a record at the end of the case, or change its note if it is there already
        (``note=None`` keeps the note). False if the case is not the owner's. The caller
        checks that the record is the owner's too."""
        with self.engine.begin() as conn:
            case = conn.execute(
                select(evidence_cases.c.id).where(self._mine(owner_id, case_id)).with_for_update()
            ).one_or_none()
            if case is None:
                return False
            current = conn.execute(
                select(evidence_case_items.c.position).where(
                    (evidence_case_items.c.case_id == case_id)
                    & (evidence_case_items.c.record_id == record_id)
                )
            ).one_or_none()
            if current is not None:
                if note is not None:
                    conn.execute(
                        update(evidence_case_items)
                        .where(
                            (evidence_case_items.c.case_id == case_id)
                            & (evidence_case_items.c.record_id == record_id)
                        )
                        .values(note=note)
                    )
            else:
                count, last = conn.execute(
                    select(
                        func.count(), func.coalesce(func.max(evidence_case_items.c.position), 0)
                    ).where(evidence_case_items.c.case_id == case_id)
                ).one()
                if int(count) >= MAX_CASE_ITEMS:
                    raise CaseFull(f"a case holds at most {MAX_CASE_ITEMS} items")
                conn.execute(
                    insert(evidence_case_items).values(
                        case_id=case_id,
                        record_id=record_id,
                        position=int(last) + 1,
                        note=note or "",
                        added_at_ms=to_ms(now),
                    )
                )
            conn.execute(
                update(evidence_cases)
                .where(evidence_cases.c.id == case_id)
                .values(updated_at_ms=to_ms(now))
            )
        return True

    def remove_item(self, owner_id: int, case_id: int, record_id: int, *, now: dt.datetime) -> bool:
        """Take a record out of the case; whether it was in it."""
        with self.engine.begin() as conn:
            if (
                conn.execute(
                    select(evidence_cases.c.id).where(self._mine(owner_id, case_id))
                ).one_or_none()
                is None
            ):
                return False
            result = conn.execute(
                evidence_case_items.delete().where(
                    (evidence_case_items.c.case_id == case_id)
                    & (evidence_case_items.c.record_id == record_id)
                )
            )
            if result.rowcount != 1:
                return False
            conn.execute(
                update(evidence_cases)
                .where(evidence_cases.c.id == case_id)
                .values(updated_at_ms=to_ms(now))
            )
        return True

    def holding(self, owner_id: int, record_id: int) -> list[Case]:
        """The owner's cases that hold the record, most recently changed first."""
        held = (
            select(evidence_case_items.c.case_id)
            .where(evidence_case_items.c.record_id == record_id)
            .scalar_subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(evidence_cases, _item_count().label("item_count"))
                .where(
                    (evidence_cases.c.owner_id == owner_id)
                    & evidence_cases.c.deleted_at_ms.is_(None)
                    & evidence_cases.c.id.in_(held)
                )
                .order_by(evidence_cases.c.updated_at_ms.desc(), evidence_cases.c.id.desc())
            ).all()
        return [_case(r, int(r.item_count)) for r in rows]

    def record_ids_in(self, owner_id: int, case_id: int) -> list[int] | None:
        """The record ids of one of the owner's cases, in order; None if there is no such case."""
        if self.get(owner_id, case_id) is None:
            return None
        return [item.record_id for item in self.items(case_id)]

    @staticmethod
    def _mine(owner_id: int, case_id: int) -> Any:
        return (
            (evidence_cases.c.id == case_id)
            & (evidence_cases.c.owner_id == owner_id)
            & evidence_cases.c.deleted_at_ms.is_(None)
        )
