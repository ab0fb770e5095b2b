"""C2SP tlog-checkpoint: parsing, signing, cosigning, verifying (timeseal.core.tlog.checkpoint)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timeseal.core.errors import MalformedError
from timeseal.core.tlog.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    cosign_checkpoint,
    format_checkpoint,
    format_signed_checkpoint,
    parse_checkpoint,
    parse_signed_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from timeseal.core.tlog.note import (
    NoteSignature,
    SignatureType,
    add_signature,
    format_note,
    generate_signer_key,
    sign_note,
)
from timeseal.core.verification import Check, Status

SPEC_TEXT = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_SIGNED = (
    SPEC_TEXT
    + (
        "\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
        "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
        "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    ).encode()
)
ROOT = bytes(range(32))
ORIGIN = "timeseal.example/log"
LOG = generate_signer_key(ORIGIN)
W1 = generate_signer_key("w1.example", SignatureType.COSIGNATURE_V1)
W2 = generate_signer_key("w2.example", SignatureType.COSIGNATURE_V1)
W3 = generate_signer_key("w3.example", SignatureType.COSIGNATURE_V1)
AT = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def test_spec_example() -> None:
    checkpoint = parse_checkpoint(SPEC_TEXT)
    assert checkpoint == Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    assert format_checkpoint(checkpoint) == SPEC_TEXT
    signed = parse_signed_checkpoint(SPEC_SIGNED)
    assert signed.checkpoint == checkpoint
    assert format_signed_checkpoint(signed) == SPEC_SIGNED
    # Without the spec's public key nothing verifies, and the unknown signatures are listed.
    result = verify_checkpoint(signed, LOG.verifier_key, origin="example.com/behind-the-sofa")
    assert result.failed == (Check.CHECKPOINT_SIGNATURE,)
    detail = result.checks[1].detail
    assert "ignored 2 signature(s)" in detail
    assert "example.com/behind-the-sofa+033de0ae, witness.example.com/w1+8d66cf3f" in detail


@pytest.mark.parametrize(
    "text",
    [
        b"o\n+5\n" + SPEC_TEXT.split(b"\n")[2] + b"\n",  # Go: "+5" is not FormatInt(5)
        b"o\n05\n" + SPEC_TEXT.split(b"\n")[2] + b"\n",
        b"o\n00\n" + SPEC_TEXT.split(b"\n")[2] + b"\n",
        b"o\n-1\n" + SPEC_TEXT.split(b"\n")[2] + b"\n",
        b"o\n5 \n" + SPEC_TEXT.split(b"\n")[2] + b"\n",
        b"o\n\xd9\xa5\n" + SPEC_TEXT.split(b"\n")[2] + b"\n",  # an Arabic-Indic five
        b"o\n9223372036854775808\n" + SPEC_TEXT.split(b"\n")[2] + b"\n",  # 2**63
        b"o\n99999999999999999999\n" + SPEC_TEXT.split(b"\n")[2] + b"\n",
        b"o\n5\nAAAA\n",  # a 3-byte root
        b"o\n5\n" + base64.b64encode(bytes(33)) + b"\n",
        b"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",  # non-canonical base64
        b"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",  # unpadded
        SPEC_TEXT[:-1],  # no final newline
        SPEC_TEXT + b"\n",  # an empty extension line
        SPEC_TEXT + b"ext\n\n",
        b"\n" + SPEC_TEXT.split(b"\n", 1)[1],  # an empty origin
        b"o\n5\n",
        b"",
        SPEC_TEXT.replace(b"\n", b"\r\n"),
        SPEC_TEXT + b"ext\tension\n",
        b"\xff" + SPEC_TEXT,
        SPEC_TEXT + b"x" * 1_000_000 + b"\n",
    ],
)
def test_malformed_checkpoints(text: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_checkpoint(text)


def test_sizes_and_extensions() -> None:
    top = b"o\n9223372036854775807\n" + SPEC_TEXT.split(b"\n")[2] + b"\n"
    assert parse_checkpoint(top).size == 2**63 - 1
    zero = parse_checkpoint(b"o\n0\n" + SPEC_TEXT.split(b"\n")[2] + b"\n")
    assert zero.size == 0
    with_ext = SPEC_TEXT + b"ext one\n\xe6\x97\xb6\xe5\x8d\xb0 two\n"
    assert parse_checkpoint(with_ext).extensions == ("ext one", "时印 two")
    assert format_checkpoint(parse_checkpoint(with_ext)) == with_ext


def test_checkpoint_values() -> None:
    with pytest.raises(ValueError, match="origin"):
        Checkpoint("", 1, ROOT)
    with pytest.raises(ValueError, match="origin"):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(ValueError, match="UTF-8"):
        Checkpoint("\ud800", 1, ROOT)
    with pytest.raises(ValueError, match="32 bytes"):
        Checkpoint("o", 1, ROOT.hex().encode())
    with pytest.raises(ValueError, match="exceeds"):
        Checkpoint("o", 2**63, ROOT)
    with pytest.raises(ValueError, match="extensions"):
        Checkpoint("o", 1, ROOT, ("",))
    with pytest.raises(TypeError):
        Checkpoint("o", 1, ROOT, ["x"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_checkpoint(SPEC_TEXT.decode())  # type: ignore[arg-type]


lines = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
checkpoints = st.builds(
    Checkpoint,
    lines,
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(lines, max_size=3).map(tuple),
)


@settings(max_examples=300)
@given(checkpoint=checkpoints)
def test_checkpoint_round_trip(checkpoint: Checkpoint) -> None:
    assert parse_checkpoint(format_checkpoint(checkpoint)) == checkpoint


@settings(max_examples=400)
@given(
    text=st.binary(max_size=200)
    | checkpoints.map(format_checkpoint).flatmap(
        lambda b: st.tuples(st.integers(0, len(b)), st.binary(max_size=2), st.integers(0, 2)).map(
            lambda t: b[: t[0]] + t[1] + b[t[0] + t[2] :]
        )
    )
)
def test_parse_checkpoint_fuzz(text: bytes) -> None:
    try:
        checkpoint = parse_checkpoint(text)
    except MalformedError:
        return
    assert format_checkpoint(checkpoint) == text


@settings(max_examples=200)
@given(data=st.binary(max_size=300))
def test_parse_signed_checkpoint_fuzz(data: bytes) -> None:
    try:
        signed = parse_signed_checkpoint(data)
    except MalformedError:
        return
    assert format_signed_checkpoint(signed) == data


# --- signing and verifying -------------------------------------------------------------------


def _signed(size: int = 5) -> SignedCheckpoint:
    return sign_checkpoint(Checkpoint(ORIGIN, size, ROOT), LOG)


def test_sign_and_verify() -> None:
    signed = _signed()
    again = parse_signed_checkpoint(format_signed_checkpoint(signed))
    assert again == signed
    result = verify_checkpoint(again, LOG.verifier_key)
    assert result.ok
    assert [c.check for c in result.checks] == [
        Check.CHECKPOINT_ORIGIN,
        Check.CHECKPOINT_SIGNATURE,
    ]
    assert result.checks[1].detail == f"signed by {LOG.verifier_key.label}"


def test_wrong_origin() -> None:
    result = verify_checkpoint(_signed(), LOG.verifier_key, origin="other.example/log")
    assert result.failed == (Check.CHECKPOINT_ORIGIN,)
    assert "expected 'other.example/log'" in result.checks[0].detail


def test_bad_or_missing_log_signature() -> None:
    signed = _signed()
    forged = NoteSignature(ORIGIN, LOG.key_id, bytes(64))
    tampered = SignedCheckpoint(signed.checkpoint, add_signature(signed.note, forged))
    result = verify_checkpoint(tampered, LOG.verifier_key)
    assert result.failed == (Check.CHECKPOINT_SIGNATURE,)
    assert "does not verify" in result.checks[1].detail
    impostor = generate_signer_key(ORIGIN)  # same name, another key: an unknown key
    result = verify_checkpoint(sign_checkpoint(signed.checkpoint, impostor), LOG.verifier_key)
    assert result.failed == (Check.CHECKPOINT_SIGNATURE,)
    assert "no signature by" in result.checks[1].detail
    assert "ignored 1 signature(s)" in result.checks[1].detail


def test_unknown_signatures_are_ignored_and_reported() -> None:
    signed = _signed()
    stranger = sign_note(signed.note.text, [generate_signer_key("stranger.example")])
    noisy = SignedCheckpoint(signed.checkpoint, add_signature(signed.note, stranger.signatures[0]))
    result = verify_checkpoint(noisy, LOG.verifier_key)
    assert result.ok
    assert "ignored 1 signature(s) by unknown keys: stranger.example+" in result.checks[1].detail


def test_cosignatures_and_quorum() -> None:
    signed = cosign_checkpoint(cosign_checkpoint(_signed(), W1, at=AT), W2, at=AT)
    text = format_signed_checkpoint(signed)
    assert text.count("— ".encode()) == 3
    parsed = parse_signed_checkpoint(text)
    cosigners = [W1.verifier_key, W2.verifier_key, W3.verifier_key]
    result = verify_checkpoint(parsed, LOG.verifier_key, cosigners=cosigners, quorum=2)
    assert result.ok
    assert result.checks[2].check is Check.COSIGNATURE
    assert result.checks[2].detail.startswith("2 of 3 cosigners: w1.example+")
    assert "2026-05-01T00:00:00+00:00" in result.checks[2].detail
    # All three required by default: W3 never cosigned.
    result = verify_checkpoint(parsed, LOG.verifier_key, cosigners=cosigners)
    assert result.failed == (Check.COSIGNATURE,)
    assert "2 valid cosignature(s), 3 required; missing: w3.example+" in result.checks[2].detail
    # Recosigning replaces the older cosignature.
    later = cosign_checkpoint(signed, W1, at=AT + dt.timedelta(hours=1))
    assert len(later.note.signatures) == 3


def test_a_bad_cosignature_fails_even_with_a_quorum() -> None:
    signed = cosign_checkpoint(cosign_checkpoint(_signed(), W1, at=AT), W2, at=AT)
    bad = NoteSignature(W2.name, W2.key_id, bytes(72))
    short = NoteSignature(W2.name, W2.key_id, bytes(10))
    cosigners = [W1.verifier_key, W2.verifier_key]
    for line, why in [(bad, "does not verify"), (short, "10 bytes")]:
        tampered = SignedCheckpoint(signed.checkpoint, add_signature(signed.note, line))
        result = verify_checkpoint(tampered, LOG.verifier_key, cosigners=cosigners, quorum=1)
        assert result.failed == (Check.COSIGNATURE,)
        assert why in result.checks[2].detail


def test_cosignatures_from_the_future() -> None:
    signed = cosign_checkpoint(_signed(), W1, at=AT)
    ok = verify_checkpoint(signed, LOG.verifier_key, cosigners=[W1.verifier_key], at=AT)
    assert ok.ok
    result = verify_checkpoint(
        signed, LOG.verifier_key, cosigners=[W1.verifier_key], at=AT - dt.timedelta(seconds=1)
    )
    assert result.failed == (Check.COSIGNATURE,)
    assert "in the future" in result.checks[2].detail


def test_verify_arguments() -> None:
    signed = _signed()
    with pytest.raises(ValueError, match="not a ED25519 key"):
        verify_checkpoint(signed, W1.verifier_key)
    with pytest.raises(ValueError, match="not a COSIGNATURE_V1 key"):
        verify_checkpoint(signed, LOG.verifier_key, cosigners=[LOG.verifier_key])
    with pytest.raises(ValueError, match="twice"):
        verify_checkpoint(signed, LOG.verifier_key, cosigners=[W1.verifier_key] * 2)
    with pytest.raises(ValueError, match=r"quorum must be 1\.\.1"):
        verify_checkpoint(signed, LOG.verifier_key, cosigners=[W1.verifier_key], quorum=2)
    with pytest.raises(ValueError, match=r"quorum must be 1\.\.0"):
        verify_checkpoint(signed, LOG.verifier_key, quorum=1)
    with pytest.raises(TypeError):
        verify_checkpoint(signed, LOG.verifier_key, cosigners=[W1.verifier_key], quorum=True)
    with pytest.raises(TypeError):
        verify_checkpoint(format_signed_checkpoint(signed), LOG.verifier_key)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_checkpoint(signed, format_note(signed.note))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware"):
        verify_checkpoint(signed, LOG.verifier_key, at=dt.datetime(2026, 1, 1))


def test_signed_checkpoint_must_match_its_note() -> None:
    signed = _signed()
    with pytest.raises(ValueError, match="not this checkpoint"):
        SignedCheckpoint(Checkpoint(ORIGIN, 6, ROOT), signed.note)
    with pytest.raises(TypeError):
        SignedCheckpoint(signed.checkpoint, format_note(signed.note))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sign_checkpoint(format_checkpoint(signed.checkpoint), LOG)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cosign_checkpoint(signed.note, W1, at=AT)  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        parse_signed_checkpoint(format_note(sign_note("not a checkpoint\n", [LOG])))
    assert parse_signed_checkpoint(format_signed_checkpoint(signed)).checkpoint.size == 5
    assert isinstance(signed.checkpoint, Checkpoint) and signed.note.signatures
    assert Status.PASS is verify_checkpoint(signed, LOG.verifier_key).checks[0].status
