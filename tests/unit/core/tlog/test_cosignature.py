"""C2SP tlog-cosignature cosignature/v1 (timeseal.core.tlog.cosignature)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timeseal.core.errors import MalformedError
from timeseal.core.tlog.cosignature import (
    Cosignature,
    cosignature_is_valid,
    cosigned_message,
    make_cosignature,
    parse_cosignature,
    posix_seconds,
)
from timeseal.core.tlog.note import (
    NoteSignature,
    SignatureType,
    generate_signer_key,
    parse_note,
)

# C2SP tlog-cosignature: the example checkpoint, its witness line and signed message.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SPEC_NOTE = (
    SPEC_CHECKPOINT
    + "\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhc"
    "yv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2"
    "oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
).encode()
SPEC_MESSAGE = (
    b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
AT = dt.datetime(2026, 5, 1, 8, 30, 15, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_spec_example_cosignature_parses() -> None:
    witness = parse_note(SPEC_NOTE).signatures[1]
    cosignature = parse_cosignature(witness)
    assert cosignature.name == "witness.example.com/w1"
    assert cosignature.key_id.hex() == "8d66cf3f"
    assert cosignature.timestamp == 1679315147
    assert cosignature.time == dt.datetime(2023, 3, 20, 12, 25, 47, tzinfo=dt.UTC)
    assert cosignature.note_signature == witness


def test_spec_example_signed_message() -> None:
    assert cosigned_message(SPEC_CHECKPOINT, 1679315147) == SPEC_MESSAGE


def test_cosignature_key_id_uses_type_0x04() -> None:
    key = generate_signer_key("witness.example/w", SignatureType.COSIGNATURE_V1)
    public = key.verifier_key.public_key
    assert key.key_id == hashlib.sha256(b"witness.example/w\n\x04" + public).digest()[:4]


def test_make_and_check_a_cosignature() -> None:
    key = generate_signer_key("witness.example/w", SignatureType.COSIGNATURE_V1)
    cosignature = make_cosignature(key, SPEC_CHECKPOINT, AT)
    assert cosignature.timestamp == 1777595415  # 2026-05-01T00:30:15Z, microseconds dropped
    assert cosignature_is_valid(cosignature, key.verifier_key, SPEC_CHECKPOINT)
    assert not cosignature_is_valid(cosignature, key.verifier_key, SPEC_CHECKPOINT + "ext\n")
    other = generate_signer_key("witness.example/w", SignatureType.COSIGNATURE_V1)
    assert not cosignature_is_valid(cosignature, other.verifier_key, SPEC_CHECKPOINT)
    restamped = Cosignature(
        cosignature.name, cosignature.key_id, cosignature.timestamp + 1, cosignature.signature
    )
    assert not cosignature_is_valid(restamped, key.verifier_key, SPEC_CHECKPOINT)
    assert parse_cosignature(cosignature.note_signature) == cosignature


def test_bad_cosignatures() -> None:
    with pytest.raises(MalformedError, match="71 bytes"):
        parse_cosignature(NoteSignature("w", bytes(4), bytes(71)))
    with pytest.raises(MalformedError, match="exceeds"):
        parse_cosignature(NoteSignature("w", bytes(4), b"\x80" + bytes(71)))
    with pytest.raises(TypeError):
        parse_cosignature(b"")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="64 bytes"):
        Cosignature("w", bytes(4), 0, bytes(63))
    with pytest.raises(ValueError, match="exceeds"):
        cosigned_message(SPEC_CHECKPOINT, 2**63)


def test_key_types_are_enforced() -> None:
    log_key = generate_signer_key("log.example")
    with pytest.raises(ValueError, match="0x04"):
        make_cosignature(log_key, SPEC_CHECKPOINT, AT)
    witness = generate_signer_key("w", SignatureType.COSIGNATURE_V1)
    cosignature = make_cosignature(witness, SPEC_CHECKPOINT, AT)
    with pytest.raises(ValueError, match="not a cosignature/v1"):
        cosignature_is_valid(cosignature, log_key.verifier_key, SPEC_CHECKPOINT)
    with pytest.raises(TypeError):
        make_cosignature(witness.verifier_key, SPEC_CHECKPOINT, AT)  # type: ignore[arg-type]


def test_time_is_an_aware_argument() -> None:
    assert posix_seconds(dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC)) == 1
    assert posix_seconds(dt.datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=dt.UTC)) == -1
    with pytest.raises(ValueError, match="aware"):
        posix_seconds(dt.datetime(2026, 1, 1))
    with pytest.raises(TypeError):
        posix_seconds(1679315147)  # type: ignore[arg-type]
    witness = generate_signer_key("w", SignatureType.COSIGNATURE_V1)
    with pytest.raises(ValueError, match="before the Epoch"):
        make_cosignature(witness, SPEC_CHECKPOINT, dt.datetime(1969, 1, 1, tzinfo=dt.UTC))


@settings(max_examples=300)
@given(payload=st.binary(min_size=1, max_size=90))
def test_parse_cosignature_fuzz(payload: bytes) -> None:
    try:
        cosignature = parse_cosignature(NoteSignature("w", bytes(4), payload))
    except MalformedError:
        return
    assert cosignature.note_signature.signature == payload
