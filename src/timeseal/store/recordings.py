"""Live browser recordings (docs/segment-chain.md): the chain the server keeps per recording.

The tables, and the states a recording goes through, are in
:mod:`timeseal.store.recording_tables`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, func, insert, select, update

from timeseal.store.db import StoreError, from_ms, to_ms
from timeseal.store.recording_tables import (
    RecordingState,
    recording_chunks,
    recordings,
)


class RecordingStoreError(StoreError):
    """A recording store operation failed."""


@dataclass(frozen=True, slots=True)
class Recording:
    id: str
    owner_id: int
    kind: str
    mime_type: str
    title: str | None
    case_id: int | None
    declared: dict[str, Any]
    client_ip: str
    state: RecordingState
    chunks: int
    total_bytes: int
    head: bytes
    sealed_through: int | None
    first_token_time: dt.datetime | None
    last_token_time: dt.datetime | None
    started_at: dt.datetime
    last_chunk_at: dt.datetime
    ended_at: dt.datetime | None
    joined_sha256: bytes | None
    joined_size: int | None
    end_link: bytes | None
    end_tsr: bytes | None
    end_token_time: dt.datetime | None
    evidence_number: str | None


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    size: int
    sha256: bytes
    link: bytes
    tsr: bytes | None
    token_time: dt.datetime | None
    received_at: dt.datetime


def _opt_time(ms: Any) -> dt.datetime | None:
    return None if ms is None else from_ms(int(ms))


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _recording(row: Any) -> Recording:
    return Recording(
        id=row.id,
        owner_id=int(row.owner_id),
        kind=row.kind,
        mime_type=row.mime_type,
        title=row.title,
        case_id=None if row.case_id is None else int(row.case_id),
        declared=json.loads(row.declared),
        client_ip=row.client_ip,
        state=row.state,
        chunks=int(row.chunks),
        total_bytes=int(row.bytes),
        head=bytes(row.head),
        sealed_through=None if row.sealed_through is None else int(row.sealed_through),
        first_token_time=_opt_time(row.first_token_ms),
        last_token_time=_opt_time(row.last_token_ms),
        started_at=from_ms(int(row.started_at_ms)),
        last_chunk_at=from_ms(int(row.last_chunk_at_ms)),
        ended_at=_opt_time(row.ended_at_ms),
        joined_sha256=_opt_bytes(row.joined_sha256),
        joined_size=None if row.joined_size is None else int(row.joined_size),
        end_link=_opt_bytes(row.end_link),
        end_tsr=_opt_bytes(row.end_tsr),
        end_token_time=_opt_time(row.end_token_ms),
        evidence_number=row.evidence_number,
    )


def _chunk(row: Any) -> Chunk:
    return Chunk(
        index=int(row.chunk_index),
        size=int(row.size),
        sha256=bytes(row.sha256),
        link=bytes(row.link),
        tsr=_opt_bytes(row.tsr),
        token_time=_opt_time(row.token_ms),
        received_at=from_ms(int(row.received_at_ms)),
    )


@dataclass(frozen=True, slots=True)
class NewRecording:
    id: str
    owner_id: int
    kind: str
    mime_type: str
    title: str | None
    case_id: int | None
    declared: dict[str, Any]
    client_ip: str
    head: bytes  # link[-1]
    started_at: dt.datetime


class RecordingStore:
    """Recordings and their chunks on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, new: NewRecording) -> bool:
        """Insert a new recording; False if the id exists already (nothing changes)."""
        if self.get(new.id) is not None:
            return False
        at = to_ms(new.started_at)
        with self.engine.begin() as conn:
            conn.execute(
                insert(recordings).values(
                    id=new.id,
                    owner_id=new.owner_id,
                    kind=new.kind,
                    mime_type=new.mime_type,
                    title=new.title,
                    case_id=new.case_id,
                    declared=json.dumps(new.declared, sort_keys=True),
                    client_ip=new.client_ip[:64],
                    state="recording",
                    chunks=0,
                    bytes=0,
                    head=new.head,
                    started_at_ms=at,
                    last_chunk_at_ms=at,
                )
            )
        return True

    def get(self, recording_id: str) -> Recording | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(recordings).where(recordings.c.id == recording_id)
            ).one_or_none()
        return None if row is None else _recording(row)

    def chunk(self, recording_id: str, index: int) -> Chunk | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(recording_chunks).where(
                    (recording_chunks.c.recording_id == recording_id)
                    & (recording_chunks.c.chunk_index == index)
                )
            ).one_or_none()
        return None if row is None else _chunk(row)

    def chunks(self, recording_id: str) -> list[Chunk]:
        """Every chained chunk, by index."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(recording_chunks)
                .where(recording_chunks.c.recording_id == recording_id)
                .order_by(recording_chunks.c.chunk_index)
            ).all()
        return [_chunk(r) for r in rows]

    def append_chunk(
        self,
        recording_id: str,
        index: int,
        size: int,
        sha256: bytes,
        link: bytes,
        *,
        now: dt.datetime,
    ) -> bool:
        """Chain chunk ``index`` (its bytes already durable in the blob store): the chunk row
        and the new head in one transaction, only while the recording is ``recording`` and
        expects exactly this index. False if it does not (a racing request won, or it was
        closed meanwhile)."""
        at = to_ms(now)
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(recordings)
                .where(
                    (recordings.c.id == recording_id)
                    & (recordings.c.state == "recording")
                    & (recordings.c.chunks == index)
                )
                .values(
                    chunks=index + 1,
                    bytes=recordings.c.bytes + size,
                    head=link,
                    last_chunk_at_ms=at,
                )
            ).rowcount
            if claimed != 1:
                return False
            conn.execute(
                insert(recording_chunks).values(
                    recording_id=recording_id,
                    chunk_index=index,
                    size=size,
                    sha256=sha256,
                    link=link,
                    tsr=None,
                    token_ms=None,
                    received_at_ms=at,
                )
            )
        return True

    def note_chunk_token(
        self, recording_id: str, index: int, tsr: bytes, token_time: dt.datetime
    ) -> None:
        """Keep the token over chunk ``index``'s link (the first one only) and move the
        recording's sealed head forward to it (never back)."""
        at = to_ms(token_time)
        c = recordings.c
        with self.engine.begin() as conn:
            conn.execute(
                update(recording_chunks)
                .where(
                    (recording_chunks.c.recording_id == recording_id)
                    & (recording_chunks.c.chunk_index == index)
                    & recording_chunks.c.tsr.is_(None)
                )
                .values(tsr=tsr, token_ms=at)
            )
            conn.execute(
                update(recordings)
                .where(
                    (c.id == recording_id)
                    & (c.sealed_through.is_(None) | (c.sealed_through < index))
                )
                .values(
                    sealed_through=index,
                    last_token_ms=at,
                    first_token_ms=func.coalesce(c.first_token_ms, at),
                )
            )

    def claim_close(
        self, recording_id: str, state: Literal["finishing", "cutting_off"], *, chunks: int
    ) -> bool:
        """Move a ``recording`` with exactly ``chunks`` chunks to ``state``: from here on
        it takes no chunk. False if it is not in that state or has another count."""
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(recordings)
                .where(
                    (recordings.c.id == recording_id)
                    & (recordings.c.state == "recording")
                    & (recordings.c.chunks == chunks)
                )
                .values(state=state)
            ).rowcount
        return claimed == 1

    def note_end(
        self,
        recording_id: str,
        *,
        joined_sha256: bytes,
        joined_size: int,
        end_link: bytes | None,
        end_tsr: bytes | None,
        end_token_time: dt.datetime | None,
        ended_at: dt.datetime,
    ) -> Recording:
        """Keep the joined file's digest, the end link and its token (none for a cut-off)
        the first time; a closer retried after a crash gets what the first one kept."""
        with self.engine.begin() as conn:
            conn.execute(
                update(recordings)
                .where((recordings.c.id == recording_id) & recordings.c.joined_sha256.is_(None))
                .values(
                    joined_sha256=joined_sha256,
                    joined_size=joined_size,
                    end_link=end_link,
                    end_tsr=end_tsr,
                    end_token_ms=None if end_token_time is None else to_ms(end_token_time),
                    ended_at_ms=to_ms(ended_at),
                )
            )
        found = self.get(recording_id)
        if found is None:
            raise RecordingStoreError(f"no recording {recording_id}")
        return found

    def note_filed(self, recording_id: str, number: str | None) -> None:
        """The recording became evidence ``number`` (None: it had nothing to file):
        ``finishing`` → ``finished``, ``cutting_off`` → ``cut_off``."""
        c = recordings.c
        with self.engine.begin() as conn:
            for closing, closed in (("finishing", "finished"), ("cutting_off", "cut_off")):
                conn.execute(
                    update(recordings)
                    .where((c.id == recording_id) & (c.state == closing))
                    .values(state=closed, evidence_number=number)
                )

    def idle(self, before: dt.datetime) -> list[Recording]:
        """Recordings still open (or left half-closed) with no chunk since ``before``."""
        c = recordings.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(recordings)
                .where(
                    c.state.in_(("recording", "finishing", "cutting_off"))
                    & (c.last_chunk_at_ms < to_ms(before))
                )
                .order_by(c.last_chunk_at_ms)
            ).all()
        return [_recording(r) for r in rows]

    def open_bytes(self, owner_id: int) -> int:
        """Bytes received by the owner's recordings that are not evidence yet (the quota
        counts them like an upload in progress)."""
        c = recordings.c
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(c.bytes), 0)).where(
                    (c.owner_id == owner_id) & c.evidence_number.is_(None)
                )
            ).scalar_one()
        return int(total)
