"""The recordings store keeps one chain per recording under concurrency: threads on their own
connections (as several server processes would be) race to chain the same index, or to chain
while the recording is being closed. On SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.support.accounts import PHONE, START, database_url, migrated_engine
from tests.support.races import race
from timeseal.core.segment_chain import segment_link, start_link
from timeseal.store.login_codes import LoginCodes
from timeseal.store.login_policy import CodeIssued, LoggedIn
from timeseal.store.recording_tables import recording_chunks
from timeseal.store.recordings import NewRecording, RecordingStore

RID = bytes(range(16))
CODE = b"\x01" * 32


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_url(request.param, tmp_path) as url, migrated_engine(url) as engine:
        yield engine


@pytest.fixture
def owner(engine: Engine) -> int:
    codes = LoginCodes(engine)
    assert isinstance(codes.issue(PHONE, "10.0.0.1", CODE, now=START), CodeIssued)
    logged = codes.redeem(PHONE, "10.0.0.1", CODE, now=START)
    assert isinstance(logged, LoggedIn)
    return logged.account.id


def new(owner: int, rid: bytes = RID, at: dt.datetime = START) -> NewRecording:
    return NewRecording(
        id=rid.hex(),
        owner_id=owner,
        kind="camera_recording",
        mime_type="video/webm",
        title=None,
        case_id=None,
        declared={"browser_environment": {"language": "zh-CN"}, "location": None},
        client_ip="10.0.0.1",
        head=start_link(rid),
        started_at=at,
    )


def link(previous: bytes, index: int, data: bytes) -> bytes:
    return segment_link(previous, index, len(data), hashlib.sha256(data).digest())


def test_an_index_is_chained_once_however_many_race(engine: Engine, owner: int) -> None:
    store = RecordingStore(engine)
    assert store.create(new(owner))
    assert not store.create(new(owner))  # the id is taken: nothing changes
    first = link(start_link(RID), 0, b"chunk 0")
    won = race(
        8,
        lambda i: store.append_chunk(
            RID.hex(), 0, 7, hashlib.sha256(b"chunk 0").digest(), first, now=START
        ),
    )
    assert won.count(True) == 1
    recording = store.get(RID.hex())
    assert recording is not None
    assert (recording.chunks, recording.total_bytes, recording.head) == (1, 7, first)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(recording_chunks)).scalar_one()
    assert rows == 1
    # Not the next index: refused, whether behind or ahead.
    for index in (0, 2):
        assert not store.append_chunk(RID.hex(), index, 1, b"\0" * 32, b"\0" * 32, now=START)


def test_closing_and_chaining_exclude_each_other(engine: Engine, owner: int) -> None:
    store = RecordingStore(engine)
    rids = [bytes([i]) * 16 for i in range(6)]
    for rid in rids:
        assert store.create(new(owner, rid))

    def chain_or_close(i: int) -> bool:
        rid = rids[i // 2].hex()
        if i % 2:
            return store.claim_close(rid, "finishing", chunks=0)
        return store.append_chunk(rid, 0, 1, b"\1" * 32, b"\2" * 32, now=START)

    results = race(12, chain_or_close)
    for n, rid in enumerate(rids):
        chained, closed = results[2 * n], results[2 * n + 1]
        recording = store.get(rid.hex())
        assert recording is not None
        # Exactly one wins: a chunk in a closed recording, or a close that missed a chunk,
        # would each break the chain's promise.
        assert chained != closed
        assert recording.state == ("finishing" if closed else "recording")
        assert recording.chunks == (1 if chained else 0)


def test_tokens_move_the_seal_forward_only(engine: Engine, owner: int) -> None:
    store = RecordingStore(engine)
    store.create(new(owner))
    head = start_link(RID)
    for index in range(3):
        data = f"chunk {index}".encode()
        head = link(head, index, data)
        assert store.append_chunk(
            RID.hex(), index, len(data), hashlib.sha256(data).digest(), head, now=START
        )
    t1, t2 = START + dt.timedelta(seconds=1), START + dt.timedelta(seconds=2)
    store.note_chunk_token(RID.hex(), 2, b"token over 2", t2)
    store.note_chunk_token(RID.hex(), 1, b"token over 1", t1)  # late: the seal stays at 2
    store.note_chunk_token(RID.hex(), 2, b"another token", t1)  # the first token stays
    recording = store.get(RID.hex())
    assert recording is not None
    assert recording.sealed_through == 2 and recording.last_token_time == t2
    assert recording.first_token_time == t2
    assert [c.tsr for c in store.chunks(RID.hex())] == [None, b"token over 1", b"token over 2"]


def test_idle_recordings_and_the_bytes_they_hold(engine: Engine, owner: int) -> None:
    store = RecordingStore(engine)
    old, fresh = b"\x0a" * 16, b"\x0b" * 16
    store.create(new(owner, old, START))
    store.create(new(owner, fresh, START + dt.timedelta(minutes=9)))
    assert store.append_chunk(
        fresh.hex(), 0, 5, b"\3" * 32, b"\4" * 32, now=START + dt.timedelta(minutes=12)
    )
    assert store.open_bytes(owner) == 5
    later = START + dt.timedelta(minutes=15)
    assert [r.id for r in store.idle(later - dt.timedelta(minutes=10))] == [old.hex()]
    assert store.claim_close(old.hex(), "cutting_off", chunks=0)
    assert [r.id for r in store.idle(later - dt.timedelta(minutes=10))] == [old.hex()]
    store.note_filed(old.hex(), None)
    closed = store.get(old.hex())
    assert closed is not None and closed.state == "cut_off"
    assert store.idle(later - dt.timedelta(minutes=10)) == []
    # Filed as evidence, a recording's bytes count as the item (not here) from then on.
    assert store.claim_close(fresh.hex(), "finishing", chunks=1)
    store.note_filed(fresh.hex(), "TS-20261129-000001")
    assert store.open_bytes(owner) == 0
