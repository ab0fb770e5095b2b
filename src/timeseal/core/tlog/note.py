"""C2SP signed-note: text signed by one or more keys, with Ed25519 note keys.

A note is its text (ending in a newline), a blank line, then one line per signature::

    If you think cryptography is the answer to your problem,
    then you don't know what your problem is.

    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKv[...]

Each signature line is an em dash (U+2014), a space, the key name, a space, and
base64(4-byte key ID || signature). A key is written as a *verifier key* (vkey),
``<name>+<hex key ID>+base64(<signature type> || <public key>)``, and, as Go's
``golang.org/x/mod/sumdb/note`` does (C2SP defines no private key format), a signer key
``PRIVATE+KEY+<name>+<hex key ID>+base64(<signature type> || <Ed25519 seed>)``.

:func:`parse_note` checks syntax only: the signatures are parsed but *not* verified. Callers
verify the signatures of the keys they know (``timeseal.core.tlog.checkpoint``) and, as the
spec requires, ignore the others; :func:`unknown_signatures` lists those. We are stricter than
Go's ``note.Open`` in two places: a note with two signatures by the same key (name and key ID)
is malformed rather than silently deduplicated, and base64 must be canonical.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from timeseal.core.errors import MalformedError, UnsupportedAlgorithm
from timeseal.core.tlog import _crypto
from timeseal.core.tlog._checks import require_bytes, require_str
from timeseal.core.tlog._text import (
    decode_base64,
    encode_base64,
    has_control_characters,
    is_valid_key_name,
)

#: Verifiers "MUST accept at least up to 16 signatures"; Go's note.Open stops at 100.
MAX_SIGNATURES = 100
#: Go's tlog.ParseTree bound; a note with 100 post-quantum signatures is ~700 kB.
MAX_NOTE_SIZE = 1_000_000
KEY_ID_SIZE = 4
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
_MAX_KEY_STRING = 1_000


class SignatureType(enum.IntEnum):
    """Signature type identifier bytes we implement (C2SP signed-note "Signature types")."""

    ED25519 = 0x01  # Ed25519 note signatures (C2SP signed-note)
    COSIGNATURE_V1 = 0x04  # timestamped Ed25519 checkpoint cosignatures (C2SP tlog-cosignature)


#: Assigned types that we refuse with ``UnsupportedAlgorithm`` rather than ``MalformedError``.
_ASSIGNED_UNSUPPORTED = {
    0x02: "ECDSA (transparency-dev/witness)",
    0x03: "reserved",
    0x05: "RFC 6962 TreeHeadSignature",
    0x06: "ML-DSA-44 cosignature",
    0xFF: "unassigned-identifier signature",
}


def key_id(name: str, signature_type: SignatureType, public_key: bytes) -> bytes:
    """SHA-256(key name || 0x0A || signature type || public key)[:4]. C2SP signed-note."""
    data = name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key
    return hashlib.sha256(data).digest()[:KEY_ID_SIZE]


def _require_name(value: object) -> str:
    name = require_str(value, "name")
    if not is_valid_key_name(name):
        raise ValueError(f"invalid key name {name!r}: empty, or has a space, '+' or control")
    return name


def _require_type(signature_type: object) -> SignatureType:
    if not isinstance(signature_type, SignatureType):
        raise TypeError("signature_type must be a SignatureType")
    return signature_type


def _require_key_bytes(value: object, what: str) -> bytes:
    key = require_bytes(value, what)
    if len(key) != _crypto.KEY_SIZE:
        raise ValueError(f"{what} must be {_crypto.KEY_SIZE} bytes, got {len(key)}")
    return key


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A note verifier key: who signs (``name``), how, and the 32-byte Ed25519 public key."""

    name: str
    signature_type: SignatureType
    public_key: bytes

    def __post_init__(self) -> None:
        _require_name(self.name)
        _require_type(self.signature_type)
        _require_key_bytes(self.public_key, "public_key")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.signature_type, self.public_key)

    @property
    def label(self) -> str:
        """``name+hexkeyid``, how Go names a key in messages."""
        return f"{self.name}+{self.key_id.hex()}"


@dataclass(frozen=True, slots=True)
class SignerKey:
    """A note signer key; ``seed`` is the 32-byte Ed25519 private key (RFC 8032), never shown."""

    name: str
    signature_type: SignatureType
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _require_name(self.name)
        _require_type(self.signature_type)
        _require_key_bytes(self.seed, "seed")

    @property
    def verifier_key(self) -> VerifierKey:
        return VerifierKey(self.name, self.signature_type, _crypto.public_key(self.seed))

    @property
    def key_id(self) -> bytes:
        return self.verifier_key.key_id


def generate_signer_key(
    name: str, signature_type: SignatureType = SignatureType.ED25519
) -> SignerKey:
    """A new random key named ``name``."""
    return SignerKey(name, signature_type, _crypto.generate_seed())


def format_verifier_key(key: VerifierKey) -> str:
    """``<name>+<hex key ID>+base64(<type> || <public key>)``. C2SP signed-note "Verifier keys"."""
    material = encode_base64(bytes([key.signature_type]) + key.public_key)
    return f"{key.name}+{key.key_id.hex()}+{material}"


def format_signer_key(key: SignerKey) -> str:
    """``PRIVATE+KEY+<name>+<hex key ID>+base64(<type> || <seed>)``, Go's format. Secret!"""
    material = encode_base64(bytes([key.signature_type]) + key.seed)
    return f"{_PRIVATE_KEY_PREFIX}{key.name}+{key.key_id.hex()}+{material}"


def _split_key(text: str, what: str) -> tuple[str, bytes, SignatureType, bytes]:
    """name, key ID, type and key material of ``name+hex+base64``; messages never echo it."""
    parts = text.split("+", 2)  # names have no "+", base64 may
    if len(parts) != 3:
        raise MalformedError(f"{what}: expected name+keyid+key")
    name, hex_id, encoded = parts
    if not is_valid_key_name(name):
        raise MalformedError(f"{what}: invalid key name")
    if len(hex_id) != 2 * KEY_ID_SIZE or any(c not in "0123456789abcdef" for c in hex_id):
        raise MalformedError(f"{what}: the key ID must be 8 lowercase hex digits")
    material = decode_base64(encoded, what)
    if not material:
        raise MalformedError(f"{what}: no key material")
    type_byte = material[0]
    if type_byte in _ASSIGNED_UNSUPPORTED:
        raise UnsupportedAlgorithm(
            f"{what}: signature type {type_byte:#04x} ({_ASSIGNED_UNSUPPORTED[type_byte]})"
        )
    if type_byte not in SignatureType._value2member_map_:
        raise MalformedError(f"{what}: unknown signature type {type_byte:#04x}")
    if len(material) != 1 + _crypto.KEY_SIZE:
        raise MalformedError(f"{what}: an Ed25519 key is 32 bytes, got {len(material) - 1}")
    return name, bytes.fromhex(hex_id), SignatureType(type_byte), material[1:]


def parse_verifier_key(vkey: str) -> VerifierKey:
    """A vkey as :func:`format_verifier_key` writes it; ``MalformedError`` if it is not one,
    or its key ID is not the one its name, type and key give; ``UnsupportedAlgorithm`` for
    assigned signature types other than 0x01 and 0x04."""
    require_str(vkey, "vkey")
    if len(vkey) > _MAX_KEY_STRING:
        raise MalformedError("verifier key: too long")
    name, claimed, signature_type, public = _split_key(vkey, "verifier key")
    key = VerifierKey(name, signature_type, public)
    if key.key_id != claimed:
        raise MalformedError(f"verifier key: key ID {claimed.hex()}, computed {key.key_id.hex()}")
    return key


def parse_signer_key(skey: str) -> SignerKey:
    """A signer key as :func:`format_signer_key` writes it (errors never repeat the key)."""
    require_str(skey, "skey")
    if len(skey) > _MAX_KEY_STRING or not skey.startswith(_PRIVATE_KEY_PREFIX):
        raise MalformedError("signer key: must start with PRIVATE+KEY+")
    name, claimed, signature_type, seed = _split_key(skey[len(_PRIVATE_KEY_PREFIX) :], "signer key")
    key = SignerKey(name, signature_type, seed)
    if key.key_id != claimed:
        raise MalformedError("signer key: the key ID does not match the key")
    return key


# --- notes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: the key's name and ID, and the signature bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _require_name(self.name)
        if len(require_bytes(self.key_id, "key_id")) != KEY_ID_SIZE:
            raise ValueError(f"key_id must be {KEY_ID_SIZE} bytes")
        if not require_bytes(self.signature, "signature"):
            raise ValueError("signature must not be empty")

    @property
    def line(self) -> str:
        """``— <name> base64(key ID || signature)`` and the newline."""
        return f"{SIGNATURE_PREFIX}{self.name} {encode_base64(self.key_id + self.signature)}\n"

    def is_by(self, key: VerifierKey) -> bool:
        """True if this line names ``key`` (name and key ID): then it must verify with it."""
        return self.name == key.name and self.key_id == key.key_id


@dataclass(frozen=True, slots=True)
class Note:
    """A signed note: ``text`` (ending in a newline) and 1..100 signatures, one per key."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        require_str(self.text, "text")
        if not self.text.endswith("\n"):
            raise ValueError("note text must end with a newline")
        if has_control_characters(self.text):
            raise ValueError("note text must not have control characters other than newline")
        try:
            self.text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("note text must be encodable as UTF-8") from exc
        if not isinstance(self.signatures, tuple) or not all(
            isinstance(s, NoteSignature) for s in self.signatures
        ):
            raise TypeError("signatures must be a tuple of NoteSignature")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise ValueError(f"a note has 1..{MAX_SIGNATURES} signatures")
        seen = set()
        for s in self.signatures:
            if (s.name, s.key_id) in seen:
                raise ValueError(f"two signatures by {s.name}+{s.key_id.hex()}")
            seen.add((s.name, s.key_id))
        size = len(self.text.encode("utf-8")) + 1
        size += sum(len(s.line.encode("utf-8")) for s in self.signatures)
        if size > MAX_NOTE_SIZE:
            raise ValueError(f"note of {size} bytes exceeds {MAX_NOTE_SIZE}")

    @property
    def message(self) -> bytes:
        """The signed bytes: the text, with its final newline, as UTF-8."""
        return self.text.encode("utf-8")


def format_note(note: Note) -> bytes:
    """The note's bytes: text, blank line, signature lines."""
    return (note.text + "\n" + "".join(s.line for s in note.signatures)).encode("utf-8")


def parse_note(data: bytes) -> Note:
    """Parse a signed note; its signatures are *not* verified.

    ``MalformedError`` unless ``data`` is at most 1 MB of UTF-8 with no control characters but
    newline; has a text ending in a newline, a blank line, and 1..100 signature lines each of
    an em dash, space, valid key name, space, and canonical base64 of at least 5 bytes; and no
    two signatures by the same name and key ID.
    """
    require_bytes(data, "data")
    if len(data) > MAX_NOTE_SIZE:
        raise MalformedError(f"note of {len(data)} bytes exceeds {MAX_NOTE_SIZE}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError("note is not UTF-8") from exc
    if has_control_characters(text):
        raise MalformedError("note has a control character other than newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise MalformedError("note has no blank line before its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedError("note signatures must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError(f"note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    seen = set()
    for number, line in enumerate(lines, 1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise MalformedError(f"signature line {number} does not start with an em dash")
        name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not space or not is_valid_key_name(name):
            raise MalformedError(f"signature line {number}: invalid key name")
        raw = decode_base64(encoded, f"signature line {number}")
        if len(raw) <= KEY_ID_SIZE:
            raise MalformedError(f"signature line {number}: too short")
        if (name, raw[:KEY_ID_SIZE]) in seen:
            raise MalformedError(f"two signatures by {name}+{raw[:KEY_ID_SIZE].hex()}")
        seen.add((name, raw[:KEY_ID_SIZE]))
        signatures.append(NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]))
    return Note(body, tuple(signatures))  # every rule Note checks was checked above


def sign_note(text: str, keys: Iterable[SignerKey]) -> Note:
    """``text`` signed by each of ``keys`` (type ``ED25519``: Ed25519 over the text).

    Cosignatures, which sign a different message, are made by
    ``timeseal.core.tlog.checkpoint.cosign_checkpoint``.
    """
    require_str(text, "text")
    message = text.encode("utf-8")
    signatures = []
    for key in keys:
        if not isinstance(key, SignerKey):
            raise TypeError("keys must be SignerKey objects")
        if key.signature_type is not SignatureType.ED25519:
            raise ValueError(f"{key.name}: sign_note makes only Ed25519 (0x01) signatures")
        signatures.append(NoteSignature(key.name, key.key_id, _crypto.sign(key.seed, message)))
    return Note(text, tuple(signatures))


def add_signature(note: Note, signature: NoteSignature) -> Note:
    """``note`` with ``signature`` added, replacing one by the same key."""
    kept = tuple(
        s for s in note.signatures if (s.name, s.key_id) != (signature.name, signature.key_id)
    )
    return Note(note.text, (*kept, signature))


def find_signature(note: Note, key: VerifierKey) -> NoteSignature | None:
    """The signature by ``key`` (same name and key ID), if the note has one."""
    return next((s for s in note.signatures if s.is_by(key)), None)


def unknown_signatures(note: Note, keys: Iterable[VerifierKey]) -> tuple[NoteSignature, ...]:
    """The signatures by none of ``keys``, which verifiers must ignore (and may report)."""
    known = {(k.name, k.key_id) for k in keys}
    return tuple(s for s in note.signatures if (s.name, s.key_id) not in known)


def signature_is_valid(note: Note, signature: NoteSignature, key: VerifierKey) -> bool:
    """True if ``signature``, by ``key``, is an Ed25519 signature over the note text.

    Only for ``SignatureType.ED25519`` keys; cosignatures are checked with the cosigned
    message (``timeseal.core.tlog.cosignature``).
    """
    if key.signature_type is not SignatureType.ED25519:
        raise ValueError(f"{key.label} is not an Ed25519 note key")
    return signature.is_by(key) and _crypto.is_valid(
        key.public_key, note.message, signature.signature
    )
