"""The journal process's wire format: what a worker encodes is what the journal process
decodes, however the stream is cut, and a broken peer is told apart from a slow one."""

from __future__ import annotations

import datetime as dt
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timeseal.server.journal.wire import (
    COMMITTED,
    FAILED,
    MAX_BATCH_BYTES,
    AckReader,
    BatchReader,
    WireError,
    encode_ack,
    encode_batch,
)
from timeseal.store.issuance import JournalEntry

ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)

entries = st.builds(
    JournalEntry,
    serial_number=st.integers(min_value=0, max_value=(1 << 160) - 1),
    gen_time=st.datetimes(
        min_value=dt.datetime(1970, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    hash_algorithm=st.sampled_from(["SHA256", "SHA384", "SHA512"]) | ascii_text,
    message_imprint=st.binary(max_size=255),
    policy=ascii_text,
    token_sha256=st.binary(min_size=32, max_size=32),
)
batches = st.lists(
    st.tuples(st.integers(min_value=0, max_value=(1 << 64) - 1), st.lists(entries, max_size=5)),
    max_size=5,
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(batches, st.lists(st.integers(min_value=0), max_size=8))
def test_batches_survive_any_cutting_of_the_stream(
    sent: list[tuple[int, list[JournalEntry]]], cuts: list[int]
) -> None:
    stream = b"".join(encode_batch(batch_id, batch) for batch_id, batch in sent)
    reader = BatchReader()
    received = [batch for piece in split(stream, cuts) for batch in reader.feed(piece)]
    assert received == sent


batch_ids = st.integers(min_value=0, max_value=(1 << 64) - 1)


@given(
    st.lists(st.tuples(batch_ids, st.sampled_from([COMMITTED, FAILED]))),
    st.lists(st.integers(min_value=0), max_size=8),
)
def test_acknowledgements_survive_any_cutting_of_the_stream(
    sent: list[tuple[int, int]], cuts: list[int]
) -> None:
    stream = b"".join(encode_ack(batch_id, status) for batch_id, status in sent)
    reader = AckReader()
    assert [ack for piece in split(stream, cuts) for ack in reader.feed(piece)] == sent


def test_a_batch_waits_for_its_last_byte() -> None:
    entry = JournalEntry(
        serial_number=(3 << 64) | 9,
        gen_time=dt.datetime(2026, 12, 6, 8, 0, 0, 250000, tzinfo=dt.UTC),
        hash_algorithm="SHA256",
        message_imprint=bytes(32),
        policy="2.25.1",
        token_sha256=bytes(range(32)),
    )
    frame = encode_batch(7, [entry])
    reader = BatchReader()
    assert reader.feed(frame[:-1]) == []
    assert reader.feed(frame[-1:]) == [(7, [entry])]


@pytest.mark.parametrize("length", [0, 7, MAX_BATCH_BYTES + 1])
def test_an_impossible_length_is_a_wire_error(length: int) -> None:
    with pytest.raises(WireError, match="batch of"):
        BatchReader().feed(struct.pack(">IQ", length, 1))


def test_a_batch_whose_entries_do_not_fill_it_is_a_wire_error() -> None:
    with pytest.raises(WireError, match="truncated"):
        BatchReader().feed(struct.pack(">IQ", 8 + 5, 1) + b"\x00" * 5)


def test_an_entry_that_runs_past_its_batch_is_a_wire_error() -> None:
    fixed = struct.pack(">20sq32sBBH", bytes(20), 0, bytes(32), 6, 32, 200)
    with pytest.raises(WireError, match="truncated"):
        BatchReader().feed(struct.pack(">IQ", 8 + len(fixed) + 6, 1) + fixed + b"SHA256")


def test_a_non_ascii_policy_is_a_wire_error() -> None:
    fixed = struct.pack(">20sq32sBBH", bytes(20), 0, bytes(32), 0, 0, 2)
    with pytest.raises(WireError, match="malformed"):
        BatchReader().feed(struct.pack(">IQ", 8 + len(fixed) + 2, 1) + fixed + "é".encode())
