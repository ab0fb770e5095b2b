"""C2SP tlog-proof offline receipts (timeseal.core.tlog.proof)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.core.tlog.helpers import MemoryHashes, entries
from timeseal.core.errors import MalformedError
from timeseal.core.tlog.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    cosign_checkpoint,
    format_signed_checkpoint,
    sign_checkpoint,
)
from timeseal.core.tlog.merkle import inclusion_proof, leaf_hash
from timeseal.core.tlog.note import SignatureType, generate_signer_key
from timeseal.core.tlog.proof import (
    TlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
)
from timeseal.core.verification import Check

ORIGIN = "timeseal.example/log"
LOG = generate_signer_key(ORIGIN)
WITNESS = generate_signer_key("witness.example", SignatureType.COSIGNATURE_V1)
DATA = entries(1000)
STORE = MemoryHashes([leaf_hash(e) for e in DATA])
SIGNED = sign_checkpoint(Checkpoint(ORIGIN, 1000, STORE.state.root_hash), LOG)
AT = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def _proof(index: int = 777, extra: bytes = b"", signed: SignedCheckpoint = SIGNED) -> TlogProof:
    path = inclusion_proof(STORE, leaf_index=index, tree_size=signed.checkpoint.size)
    return TlogProof(index, path, signed, extra)


def test_layout_follows_the_spec() -> None:
    proof = _proof(extra=b"age-v1.2.1")
    text = format_tlog_proof(proof)
    lines = text.split(b"\n")
    assert lines[0] == b"c2sp.org/tlog-proof@v1"
    assert lines[1] == b"extra " + base64.b64encode(b"age-v1.2.1")  # extra comes before index
    assert lines[2] == b"index 777"
    assert lines[3 : 3 + len(proof.inclusion_path)] == [
        base64.b64encode(h) for h in proof.inclusion_path
    ]
    assert lines[3 + len(proof.inclusion_path)] == b""
    assert text.endswith(b"\n\n" + format_signed_checkpoint(SIGNED))
    assert format_tlog_proof(_proof()).split(b"\n")[1] == b"index 777"  # no extra, no line


def test_round_trip_and_verify() -> None:
    for index in (0, 1, 511, 512, 777, 999):
        proof = _proof(index, extra=bytes([index % 256]) * (index % 3))
        parsed = parse_tlog_proof(format_tlog_proof(proof))
        assert parsed == proof
        result = verify_tlog_proof(parsed, leaf=DATA[index], log_key=LOG.verifier_key)
        assert result.ok, result
        assert [c.check for c in result.checks] == [
            Check.CHECKPOINT_ORIGIN,
            Check.CHECKPOINT_SIGNATURE,
            Check.INCLUSION_PROOF,
        ]


def test_single_entry_log_has_an_empty_path() -> None:
    one = MemoryHashes([leaf_hash(DATA[0])])
    signed = sign_checkpoint(Checkpoint(ORIGIN, 1, one.state.root_hash), LOG)
    proof = TlogProof(0, (), signed)
    text = format_tlog_proof(proof)
    assert text.startswith(b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + ORIGIN.encode())
    assert verify_tlog_proof(parse_tlog_proof(text), leaf=DATA[0], log_key=LOG.verifier_key).ok


def test_with_witnesses() -> None:
    proof = _proof(signed=cosign_checkpoint(SIGNED, WITNESS, at=AT))
    parsed = parse_tlog_proof(format_tlog_proof(proof))
    result = verify_tlog_proof(
        parsed, leaf=DATA[777], log_key=LOG.verifier_key, cosigners=[WITNESS.verifier_key], at=AT
    )
    assert result.ok
    assert [c.check for c in result.checks] == [
        Check.CHECKPOINT_ORIGIN,
        Check.CHECKPOINT_SIGNATURE,
        Check.COSIGNATURE,
        Check.INCLUSION_PROOF,
    ]
    other = generate_signer_key("witness2.example", SignatureType.COSIGNATURE_V1)
    result = verify_tlog_proof(
        parsed, leaf=DATA[777], log_key=LOG.verifier_key, cosigners=[other.verifier_key]
    )
    assert result.failed == (Check.COSIGNATURE,)


def test_failures_are_named() -> None:
    proof = _proof()
    wrong_leaf = verify_tlog_proof(proof, leaf=DATA[778], log_key=LOG.verifier_key)
    assert wrong_leaf.failed == (Check.INCLUSION_PROOF,)
    assert "root mismatch" in wrong_leaf.checks[2].detail
    other_log = generate_signer_key(ORIGIN).verifier_key
    assert verify_tlog_proof(proof, leaf=DATA[777], log_key=other_log).failed == (
        Check.CHECKPOINT_SIGNATURE,
    )
    wrong_origin = verify_tlog_proof(
        proof, leaf=DATA[777], log_key=LOG.verifier_key, origin="other.example"
    )
    assert wrong_origin.failed == (Check.CHECKPOINT_ORIGIN,)
    moved = TlogProof(776, proof.inclusion_path, SIGNED)
    assert verify_tlog_proof(moved, leaf=DATA[777], log_key=LOG.verifier_key).failed == (
        Check.INCLUSION_PROOF,
    )
    beyond = TlogProof(1000, proof.inclusion_path, SIGNED)
    result = verify_tlog_proof(beyond, leaf=DATA[777], log_key=LOG.verifier_key)
    assert "not below tree_size" in result.checks[2].detail
    with pytest.raises(TypeError):
        verify_tlog_proof(format_tlog_proof(proof), leaf=b"", log_key=LOG.verifier_key)  # type: ignore[arg-type]


GOOD = format_tlog_proof(_proof(extra=b"x"))
HEAD, NOTE = GOOD.split(b"\n\n", 1)


@pytest.mark.parametrize(
    "data",
    [
        b"c2sp.org/tlog-proof@v2" + GOOD[22:],
        GOOD.replace(b"index 777", b"index 0777"),
        GOOD.replace(b"index 777", b"index +777"),
        GOOD.replace(b"index 777", b"index  777"),
        GOOD.replace(b"index 777", b"Index 777"),
        GOOD.replace(b"index 777", b"index 9223372036854775807"),
        GOOD.replace(b"extra eA==", b"extra "),  # an empty extra: omit the line instead
        GOOD.replace(b"extra eA==", b"extra eA"),
        GOOD.replace(b"extra eA==\nindex 777", b"index 777\nextra eA=="),  # wrong order
        GOOD.replace(b"extra eA==\nindex 777\n", b""),  # no index
        HEAD + b"\n" + base64.b64encode(bytes(31)) + b"\n\n" + NOTE,
        HEAD + b"\n" + (base64.b64encode(bytes(32)) + b"\n") * 60 + b"\n" + NOTE,  # 70 hashes
        HEAD + b"\n\n\n" + NOTE,  # two empty lines
        HEAD + b"\n" + NOTE,  # none
        HEAD + b"\n\n" + NOTE[:-1],
        HEAD + b"\n\n" + b"not a checkpoint\n\n" + NOTE.split(b"\n\n")[1],
        HEAD.replace(b"\n", b"\r\n") + b"\n\n" + NOTE,
        "c2sp.org/tlog-proof@v1\nindex ٧\n\n".encode() + NOTE,
        GOOD + b"\n",
        b"",
        b"\n\n",
        b"c2sp.org/tlog-proof@v1",
        b"x" * 2_000_001,
    ],
)
def test_malformed_proofs(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_tlog_proof(data)


def test_tlog_proof_values() -> None:
    path = _proof().inclusion_path
    with pytest.raises(ValueError, match="beyond"):
        TlogProof(2**63 - 1, path, SIGNED)
    with pytest.raises(ValueError, match="at most 63"):
        TlogProof(0, (bytes(32),) * 64, SIGNED)
    with pytest.raises(ValueError, match="32 bytes"):
        TlogProof(0, (bytes(31),), SIGNED)
    with pytest.raises(TypeError):
        TlogProof(0, list(path), SIGNED)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TlogProof(0, path, format_signed_checkpoint(SIGNED))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TlogProof(0, path, SIGNED, "extra")  # type: ignore[arg-type]


@settings(max_examples=400)
@given(
    data=st.binary(max_size=200)
    | st.tuples(st.integers(0, len(GOOD)), st.binary(max_size=2), st.integers(0, 2)).map(
        lambda t: GOOD[: t[0]] + t[1] + GOOD[t[0] + t[2] :]
    )
)
def test_parse_tlog_proof_fuzz(data: bytes) -> None:
    """Any input is malformed, or a proof that formats back to exactly the same bytes."""
    try:
        proof = parse_tlog_proof(data)
    except MalformedError:
        return
    assert format_tlog_proof(proof) == data
