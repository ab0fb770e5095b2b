from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.pki import make_pki
from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import new_evidence_number
from timeseal.core.log_entry import (
    EvidenceEntry,
    TsaTokenEntry,
    format_entry,
    parse_entry,
    tsa_token_entry,
)
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import parse_response

ENTRY = TsaTokenEntry(
    serial_number=0x2000000000000001A,
    gen_time=dt.datetime(2026, 11, 29, 11, 37, 48, 147000, tzinfo=dt.UTC),
    hash_algorithm=HashAlgorithm.SHA256,
    message_imprint=bytes(range(32)),
    policy="2.25.1234",
    token_sha256=bytes(32),
)


def test_known_answer() -> None:
    assert format_entry(ENTRY) == (
        b"timeseal/tsa-token/v1\n"
        b"serial 2000000000000001a\n"
        b"gen-time 2026-11-29T11:37:48.147Z\n"
        b"imprint sha256:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
        b"policy 2.25.1234\n"
        b"token-sha256 " + b"00" * 32 + b"\n"
    )
    assert parse_entry(format_entry(ENTRY)) == ENTRY


def test_entry_is_rebuilt_from_the_token() -> None:
    pki = make_pki()
    authority = pki.authority()
    digest = hashlib.sha512(b"x").digest()
    issued = authority.issue(
        authority.check(build_request(digest, HashAlgorithm.SHA512).der),
        gen_time=dt.datetime(2026, 11, 29, 12, 0, 0, 5000, tzinfo=dt.UTC),
        serial_number=77,
    )
    token = parse_response(issued.response_der).token
    assert token is not None
    entry = tsa_token_entry(token)
    assert entry.token_sha256 == issued.token_sha256
    assert entry.serial_number == 77
    assert entry.message_imprint == digest
    assert b"gen-time 2026-11-29T12:00:00.005Z\n" in format_entry(entry)


@pytest.mark.parametrize(
    "bad",
    [
        format_entry(ENTRY).replace(b"serial 2", b"serial 02"),
        format_entry(ENTRY).replace(b"sha256:", b"SHA256:"),
        format_entry(ENTRY).replace(b".147Z", b".147000Z"),
        format_entry(ENTRY).replace(b"00\n", b"00"),
        format_entry(ENTRY) + b"extra\n",
        format_entry(ENTRY).replace(b"policy 2.25.1234", b"policy 2.025.1234"),
        format_entry(ENTRY).replace(b"imprint sha256:00", b"imprint sha256:"),
    ],
)
def test_non_canonical_entries_are_rejected(bad: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_entry(bad)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_malformed(data: bytes) -> None:
    try:
        entry = parse_entry(data)
    except MalformedError:
        return
    assert format_entry(entry) == data


EVIDENCE = EvidenceEntry(
    number=new_evidence_number(dt.date(2026, 11, 29), "7Q4KM2X"),
    kind="screen-recording",
    content_sha256=bytes(range(32)),
    size=123_456_789,
    token_sha256=bytes(32),
)


def test_evidence_entry_known_answer() -> None:
    data = format_entry(EVIDENCE)
    assert data == (
        b"timeseal/evidence/v1\n"
        b"number " + EVIDENCE.number.encode() + b"\n"
        b"kind screen-recording\n"
        b"content-sha256 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
        b"size 123456789\n"
        b"token-sha256 " + b"00" * 32 + b"\n"
        b"supersedes -\n"
    )
    assert parse_entry(data) == EVIDENCE
    correction = dataclasses.replace(
        EVIDENCE, number=new_evidence_number(dt.date(2026, 11, 30)), supersedes=EVIDENCE.number
    )
    assert parse_entry(format_entry(correction)) == correction


@pytest.mark.parametrize(
    "bad",
    [
        format_entry(EVIDENCE).replace(b"kind screen-recording", b"kind movie"),
        format_entry(EVIDENCE).replace(b"size 123456789", b"size +123456789"),
        format_entry(EVIDENCE).replace(b"supersedes -", b"supersedes TS-1"),
        format_entry(EVIDENCE).replace(EVIDENCE.number.encode(), EVIDENCE.number.lower().encode()),
        format_entry(EVIDENCE)[:-1],
    ],
)
def test_non_canonical_evidence_entries_are_rejected(bad: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_entry(bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"serial_number": 0}, "serial_number must be positive"),
        ({"gen_time": ENTRY.gen_time.replace(tzinfo=None)}, "whole milliseconds"),
        ({"gen_time": ENTRY.gen_time.replace(microsecond=1)}, "whole milliseconds"),
        ({"message_imprint": bytes(20)}, "wrong length for hash_algorithm"),
        ({"policy": "not an oid"}, "is not a dotted OID"),
        ({"token_sha256": bytes(20)}, "token_sha256 must be 32 bytes"),
    ],
)
def test_a_malformed_token_entry_cannot_be_made(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(ENTRY, **change)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"content_sha256": bytes(20)}, "hashes must be 32 bytes"),
        ({"size": -1}, "size must not be negative"),
    ],
)
def test_a_malformed_evidence_entry_cannot_be_made(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(EVIDENCE, **change)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x" * 65_536, "larger than 65,535 bytes"),
        (format_entry(ENTRY).replace(b"policy", b"policies"), "expected 'policy' line"),
        (format_entry(ENTRY).replace(b"policy ", b"policy"), "expected 'policy' line"),
        (format_entry(EVIDENCE).replace(b"content-sha256 00", b"content-sha256 0g"), "bad hash"),
        (format_entry(EVIDENCE)[:-14], "expected 7 lines"),
    ],
    ids=["too-large", "wrong-key", "no-space", "bad-hash", "missing-line"],
)
def test_malformed_entries_say_why(data: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        parse_entry(data)


def test_only_bytes_are_parsed() -> None:
    with pytest.raises(TypeError, match="entry must be bytes"):
        parse_entry(format_entry(ENTRY).decode())  # type: ignore[arg-type]
