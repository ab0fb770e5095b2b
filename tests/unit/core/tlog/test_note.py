"""C2SP signed-note and note keys (timeseal.core.tlog.note)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timeseal.core.errors import MalformedError, UnsupportedAlgorithm
from timeseal.core.tlog.note import (
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    SignatureType,
    SignerKey,
    VerifierKey,
    add_signature,
    find_signature,
    format_note,
    format_signer_key,
    format_verifier_key,
    generate_signer_key,
    key_id,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    signature_is_valid,
    unknown_signatures,
)

# golang.org/x/mod/sumdb/note: the package documentation's example and note_test.go.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
    "RZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox"
    "33WWd1RvMc+QQ=\n"
)
# C2SP signed-note, "Verifier keys" example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFX"
    "mRKuwHjG1Yu72IneyaQM=\n"
).encode()

PETER = parse_verifier_key(PETER_VKEY)
ENOCH = parse_verifier_key(ENOCH_VKEY)


# --- known answers ---------------------------------------------------------------------------


def test_go_key_id_and_key_formats() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert signer.key_id.hex() == "c74f20a3"
    assert format_signer_key(signer) == PETER_SKEY
    assert format_verifier_key(signer.verifier_key) == PETER_VKEY
    assert signer.verifier_key == PETER
    assert PETER.label == "PeterNeumann+c74f20a3"
    public = base64.b64decode(PETER_VKEY.split("+", 2)[2])[1:]
    assert (
        key_id("PeterNeumann", SignatureType.ED25519, public)
        == (hashlib.sha256(b"PeterNeumann\n\x01" + public).digest()[:4])
    )


def test_go_signature_is_reproduced_byte_for_byte() -> None:
    """Ed25519 is deterministic (RFC 8032): signing Go's text gives Go's note."""
    note = sign_note(GO_TEXT, [parse_signer_key(PETER_SKEY)])
    assert format_note(note) == (GO_TEXT + "\n" + PETER_SIG).encode()


def test_go_note_with_two_signatures() -> None:
    note = parse_note((GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode())
    assert note.text == GO_TEXT
    peter, enoch = note.signatures
    assert (peter.name, peter.key_id.hex()) == ("PeterNeumann", "c74f20a3")
    assert (enoch.name, enoch.key_id.hex()) == ("EnochRoot", "af0cfe78")
    assert signature_is_valid(note, peter, PETER)
    assert signature_is_valid(note, enoch, ENOCH)
    assert not signature_is_valid(note, enoch, PETER)
    short = NoteSignature(peter.name, peter.key_id, peter.signature[:10])
    assert not signature_is_valid(note, short, PETER)
    assert find_signature(note, ENOCH) == enoch
    assert unknown_signatures(note, [PETER]) == (enoch,)
    assert unknown_signatures(note, [PETER, ENOCH]) == ()


def test_spec_example_note_verifies() -> None:
    key = parse_verifier_key(SPEC_VKEY)
    note = parse_note(SPEC_NOTE)
    signature = find_signature(note, key)
    assert signature is not None and signature_is_valid(note, signature, key)
    assert format_note(note) == SPEC_NOTE
    tampered = parse_note(SPEC_NOTE.replace(b"example message", b"exemplary message"))
    assert not signature_is_valid(tampered, tampered.signatures[0], key)


# --- keys ------------------------------------------------------------------------------------


def _manglings(key: str) -> list[str]:
    """Go's TestNewVerifier/TestNewSigner: every proper substring and every byte + 1."""
    raw = key.encode()
    out = [
        raw[i:j].decode(errors="replace")
        for i in range(len(raw) + 1)
        for j in range(i + 1, len(raw) + 1)
        if (i, j) != (0, len(raw))
    ]
    for i in range(len(raw)):
        out.append((raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :]).decode(errors="replace"))
    return out


def test_mangled_verifier_keys_are_refused() -> None:
    for bad in _manglings(PETER_VKEY):
        with pytest.raises((MalformedError, UnsupportedAlgorithm)):
            parse_verifier_key(bad)


def test_mangled_signer_keys_are_refused() -> None:
    for bad in _manglings(PETER_SKEY):
        with pytest.raises((MalformedError, UnsupportedAlgorithm)) as info:
            parse_signer_key(bad)
        assert "AYEKFALV" not in str(info.value)  # errors never repeat the secret


@pytest.mark.parametrize(
    ("vkey", "error"),
    [
        # Go's: a wrong-length key with an adjusted key ID, and an unknown type (0x65).
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            MalformedError,
        ),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", MalformedError),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", MalformedError),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", MalformedError),
        ("x" * 1001, MalformedError),
        ("a+00000000+", MalformedError),
    ],
)
def test_bad_verifier_keys(vkey: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_verifier_key(vkey)


@pytest.mark.parametrize("type_byte", [0x02, 0x03, 0x05, 0x06, 0xFF])
def test_assigned_but_unsupported_types(type_byte: int) -> None:
    public = bytes(range(32))
    kid = hashlib.sha256(b"w\n" + bytes([type_byte]) + public).digest()[:4]
    vkey = f"w+{kid.hex()}+{base64.b64encode(bytes([type_byte]) + public).decode()}"
    with pytest.raises(UnsupportedAlgorithm):
        parse_verifier_key(vkey)


def test_generated_keys_round_trip() -> None:
    for kind in SignatureType:
        signer = generate_signer_key("timeseal.example/log", kind)
        assert parse_signer_key(format_signer_key(signer)) == signer
        vkey = format_verifier_key(signer.verifier_key)
        assert parse_verifier_key(vkey) == signer.verifier_key
        assert base64.b64decode(vkey.split("+", 2)[2])[0] == kind.value
    assert "seed" not in repr(generate_signer_key("k"))


@pytest.mark.parametrize(
    "name", ["", "a+b", "a b", "a\u00a0b", "a\u3000b", "a\u2028b", "a\tb", "a\x01b", "\ud800"]
)
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid key name"):
        VerifierKey(name, SignatureType.ED25519, bytes(32))


def test_key_value_checks() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        VerifierKey("k", SignatureType.ED25519, bytes(31))
    with pytest.raises(TypeError, match="SignatureType"):
        SignerKey("k", 1, bytes(32))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_verifier_key(b"k+00000000+AA==")  # type: ignore[arg-type]


# --- notes -----------------------------------------------------------------------------------

GO_BAD_NOTES = [
    GO_TEXT,
    GO_TEXT + "\n",
    GO_TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + GO_TEXT + "\n" + PETER_SIG,
    GO_TEXT
    + "\n"
    + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq",
    GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
]


@pytest.mark.parametrize(
    "data",
    [
        *(n.encode() for n in GO_BAD_NOTES),
        b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(),  # not UTF-8
        (GO_TEXT + "\n" + PETER_SIG + PETER_SIG).encode(),  # a duplicate signature
        (GO_TEXT + "\n" + PETER_SIG + "\n").encode(),  # an empty line after the signatures
        (GO_TEXT + "\n" + PETER_SIG.replace("—", "--")).encode(),
        (GO_TEXT + "\n" + PETER_SIG.replace("— ", "—")).encode(),
        (GO_TEXT + "\n" + PETER_SIG.replace("Neumann ", "Neumann  ")).encode(),
        (GO_TEXT + "\n" + PETER_SIG.replace("AM=", "AN=")).encode(),  # non-canonical base64
        (GO_TEXT + "\n" + PETER_SIG.replace("AM=", "AM")).encode(),  # unpadded
        (GO_TEXT + "\n— PeterNeumann x08gow==\n").encode(),  # key ID but no signature
        (GO_TEXT.replace("\n", "\r\n") + "\n" + PETER_SIG).encode(),
        ("a\tb\n\n" + PETER_SIG).encode(),
        (GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann")).encode(),
        b"\n" + PETER_SIG.encode(),
        b"",
        b"x" * 1_000_001,
        (GO_TEXT + "\n" + PETER_SIG * 101).encode(),
    ],
)
def test_malformed_notes(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_note(data)


def test_at_least_sixteen_signatures_and_up_to_a_hundred() -> None:
    sigs = "".join(f"— w{i} AAAAAAA=\n" for i in range(MAX_SIGNATURES))
    note = parse_note((GO_TEXT + "\n" + sigs).encode())
    assert len(note.signatures) == MAX_SIGNATURES
    more = sigs + "— w100 AAAAAAA=\n"
    with pytest.raises(MalformedError, match="more than 100"):
        parse_note((GO_TEXT + "\n" + more).encode())


def test_the_last_blank_line_separates_text_and_signatures() -> None:
    text = "first\n\nsecond, after an empty line\n\n"
    note = parse_note((text + "\n" + PETER_SIG).encode())
    assert note.text == text
    # So a signature line before an empty line is text, not a signature.
    note = parse_note((GO_TEXT + "\n" + PETER_SIG + "\n" + ENOCH_SIG).encode())
    assert note.text == GO_TEXT + "\n" + PETER_SIG
    assert [s.name for s in note.signatures] == ["EnochRoot"]
    assert parse_note(b"\n\n" + PETER_SIG.encode()).text == "\n"


def test_note_values() -> None:
    sig = parse_note((GO_TEXT + "\n" + PETER_SIG).encode()).signatures[0]
    with pytest.raises(ValueError, match="newline"):
        Note("no newline", (sig,))
    with pytest.raises(ValueError, match="control"):
        Note("a\rb\n", (sig,))
    with pytest.raises(ValueError, match="UTF-8"):
        Note("\ud800\n", (sig,))
    with pytest.raises(ValueError, match=r"1\.\.100"):
        Note("a\n", ())
    with pytest.raises(ValueError, match="two signatures"):
        Note("a\n", (sig, sig))
    with pytest.raises(TypeError):
        Note("a\n", [sig])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exceeds"):
        Note("a" * 1_000_000 + "\n", (sig,))
    with pytest.raises(ValueError, match="key_id"):
        NoteSignature("k", b"abc", b"s")
    with pytest.raises(ValueError, match="empty"):
        NoteSignature("k", b"abcd", b"")


def test_sign_and_add_signatures() -> None:
    log = generate_signer_key("timeseal.example/log")
    other = generate_signer_key("other.example")
    note = sign_note("hello\n", [log])
    assert signature_is_valid(note, note.signatures[0], log.verifier_key)
    both = add_signature(note, sign_note("hello\n", [other]).signatures[0])
    assert [s.name for s in both.signatures] == ["timeseal.example/log", "other.example"]
    again = sign_note("hello\n", [log]).signatures[0]
    assert add_signature(both, again).signatures[-1] == again  # replaces, does not duplicate
    with pytest.raises(ValueError, match="only Ed25519"):
        sign_note("hello\n", [generate_signer_key("w", SignatureType.COSIGNATURE_V1)])
    with pytest.raises(TypeError):
        sign_note("hello\n", [log.verifier_key])  # type: ignore[list-item]
    cosigner = generate_signer_key("w", SignatureType.COSIGNATURE_V1).verifier_key
    with pytest.raises(ValueError, match="not an Ed25519 note key"):
        signature_is_valid(note, note.signatures[0], cosigner)


# --- fuzzing ---------------------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), blacklist_characters="+"
    ),
    min_size=1,
    max_size=12,
)
signatures = st.builds(
    NoteSignature, names, st.binary(min_size=4, max_size=4), st.binary(min_size=1, max_size=80)
)
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.just("\n"), max_size=80
).map(lambda t: t + "\n")


@st.composite
def notes(draw: st.DrawFn) -> Note:
    sigs = draw(
        st.lists(signatures, min_size=1, max_size=5, unique_by=lambda s: (s.name, s.key_id))
    )
    return Note(draw(texts), tuple(sigs))


@settings(max_examples=300)
@given(note=notes())
def test_note_round_trip(note: Note) -> None:
    assert parse_note(format_note(note)) == note


@settings(max_examples=400)
@given(
    data=st.binary(max_size=300)
    | notes()
    .map(format_note)
    .flatmap(
        lambda b: st.tuples(st.integers(0, len(b)), st.binary(max_size=2), st.integers(0, 2)).map(
            lambda t: b[: t[0]] + t[1] + b[t[0] + t[2] :]
        )
    )
)
def test_parse_note_fuzz(data: bytes) -> None:
    """Anything is either malformed or a note that formats back to exactly the same bytes."""
    try:
        note = parse_note(data)
    except MalformedError:
        return
    assert format_note(note) == data


@settings(max_examples=300)
@given(text=st.text(max_size=120) | st.sampled_from(_manglings(PETER_VKEY)[:200]))
def test_parse_verifier_key_fuzz(text: str) -> None:
    try:
        key = parse_verifier_key(text)
    except (MalformedError, UnsupportedAlgorithm):
        return
    assert format_verifier_key(key) == text


@settings(max_examples=300)
@given(text=st.text(max_size=120) | st.sampled_from(_manglings(PETER_SKEY)[:200]))
def test_parse_signer_key_fuzz(text: str) -> None:
    try:
        key = parse_signer_key(text)
    except (MalformedError, UnsupportedAlgorithm):
        return
    assert format_signer_key(key) == text
