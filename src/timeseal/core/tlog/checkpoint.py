"""C2SP tlog-checkpoint: a log's signed tree head, as a signed note.

The note text is at least three non-empty lines::

    example.com/behind-the-sofa                       origin
    20852163                                          tree size: decimal, no leading zeroes
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=      root hash: base64 of 32 bytes
    [extension lines, each non-empty]

signed by the log's Ed25519 note key (whose name should be the origin) and possibly
cosigned by witnesses (C2SP tlog-cosignature). Parsing is strict and canonical, like Go's
``ParseTree``: ``format_checkpoint(parse_checkpoint(text)) == text`` or it is malformed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from timeseal.core.errors import MalformedError
from timeseal.core.tlog._checks import MAX_TREE_SIZE, require_hash, require_size, require_str
from timeseal.core.tlog._text import decode_base64, encode_base64, has_control_characters
from timeseal.core.tlog.cosignature import (
    cosignature_is_valid,
    make_cosignature,
    parse_cosignature,
    posix_seconds,
)
from timeseal.core.tlog.note import (
    MAX_NOTE_SIZE,
    Note,
    SignatureType,
    SignerKey,
    VerifierKey,
    add_signature,
    find_signature,
    format_note,
    parse_note,
    sign_note,
    signature_is_valid,
    unknown_signatures,
)
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult

_SIZE_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)


def _require_line(value: object, what: str) -> str:
    line = require_str(value, what)
    if not line or "\n" in line or has_control_characters(line):
        raise ValueError(f"{what} must be a non-empty line without control characters")
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} must be encodable as UTF-8") from exc
    return line


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Signed tree head, C2SP tlog-checkpoint."""

    origin: str
    size: int
    root_hash: bytes  # 32 raw bytes, not hex
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require_line(self.origin, "origin")
        require_size(self.size, "size")
        require_hash(self.root_hash, "root_hash")
        if not isinstance(self.extensions, tuple):
            raise TypeError("extensions must be a tuple of str")
        for i, line in enumerate(self.extensions):
            _require_line(line, f"extensions[{i}]")


def format_checkpoint(checkpoint: Checkpoint) -> bytes:
    """The checkpoint's note text: origin, size, base64 root hash, extensions, each + newline."""
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        encode_base64(checkpoint.root_hash),
        *checkpoint.extensions,
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_checkpoint(text: bytes) -> Checkpoint:
    """Parse a checkpoint's note text (without the signatures); ``MalformedError`` unless it
    is UTF-8 with at least three non-empty lines, each ending in a newline, a tree size below
    2**63 written without sign or leading zeroes, and a 32-byte root hash in canonical base64.
    """
    if not isinstance(text, bytes):
        raise TypeError("text must be bytes")
    if len(text) > MAX_NOTE_SIZE:
        raise MalformedError(f"checkpoint of {len(text)} bytes exceeds {MAX_NOTE_SIZE}")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError("checkpoint is not UTF-8") from exc
    if has_control_characters(decoded) or not decoded.endswith("\n"):
        raise MalformedError("checkpoint must be lines ending in newlines, without controls")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise MalformedError("checkpoint must be at least three lines, none empty")
    origin, size_line, root_line, *extensions = lines
    if not _SIZE_DIGITS.fullmatch(size_line) or int(size_line) > MAX_TREE_SIZE:
        raise MalformedError(f"checkpoint tree size {size_line[:30]!r} is not 0..2**63-1")
    root_hash = decode_base64(root_line, "checkpoint root hash")
    if len(root_hash) != 32:
        raise MalformedError(f"checkpoint root hash is {len(root_hash)} bytes, expected 32")
    checkpoint = Checkpoint(origin, int(size_line), root_hash, tuple(extensions))
    if format_checkpoint(checkpoint) != text:
        raise MalformedError(f"non-canonical checkpoint: tree size {size_line[:30]!r}")
    return checkpoint


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint and the note that carries it, signatures included (not yet verified)."""

    checkpoint: Checkpoint
    note: Note

    def __post_init__(self) -> None:
        if not isinstance(self.checkpoint, Checkpoint) or not isinstance(self.note, Note):
            raise TypeError("expected a Checkpoint and a Note")
        if self.note.message != format_checkpoint(self.checkpoint):
            raise ValueError("the note text is not this checkpoint")


def parse_signed_checkpoint(data: bytes) -> SignedCheckpoint:
    """Parse a checkpoint note as served at ``<prefix>/checkpoint``; signatures *not* verified
    (use :func:`verify_checkpoint`)."""
    note = parse_note(data)
    return SignedCheckpoint(parse_checkpoint(note.message), note)


def format_signed_checkpoint(signed: SignedCheckpoint) -> bytes:
    return format_note(signed.note)


def sign_checkpoint(checkpoint: Checkpoint, key: SignerKey) -> SignedCheckpoint:
    """``checkpoint`` signed by the log's Ed25519 note key (whose name should be the origin).

    The caller must have checked that ``checkpoint`` is consistent with every checkpoint the
    log signed before: a log never signs two inconsistent checkpoints.
    """
    if not isinstance(checkpoint, Checkpoint):
        raise TypeError("checkpoint must be a Checkpoint")
    note = sign_note(format_checkpoint(checkpoint).decode("utf-8"), [key])
    return SignedCheckpoint(checkpoint, note)


def cosign_checkpoint(
    signed: SignedCheckpoint, key: SignerKey, *, at: dt.datetime
) -> SignedCheckpoint:
    """``signed`` with ``key``'s cosignature/v1 at time ``at`` added (replacing an older one
    by the same key). The caller, the witness, must have verified the checkpoint and its
    consistency with the last one it cosigned."""
    if not isinstance(signed, SignedCheckpoint):
        raise TypeError("signed must be a SignedCheckpoint")
    cosignature = make_cosignature(key, signed.note.text, at)
    return SignedCheckpoint(
        signed.checkpoint, add_signature(signed.note, cosignature.note_signature)
    )


def verify_checkpoint(
    signed: SignedCheckpoint,
    log_key: VerifierKey,
    *,
    origin: str | None = None,
    cosigners: Sequence[VerifierKey] = (),
    quorum: int | None = None,
    at: dt.datetime | None = None,
) -> VerificationResult:
    """Verify a checkpoint's log signature and, when ``cosigners`` are given, cosignatures.

    (1) CHECKPOINT_ORIGIN     the origin line is ``origin`` (default: ``log_key``'s name)
    (2) CHECKPOINT_SIGNATURE  the note has a signature by ``log_key`` (name and key ID), and
                              it verifies
    (3) COSIGNATURE           only with ``cosigners``: no cosignature by one of them fails to
                              verify or, when ``at`` is given, is dated after ``at``; and at
                              least ``quorum`` (default: all) of them cosigned

    Signatures by any other key are ignored, as C2SP signed-note requires, and listed in
    (2)'s detail. Raises ``ValueError`` for a log key that is not Ed25519 (0x01), a cosigner
    key that is not cosignature/v1 (0x04), the same cosigner twice, or a quorum outside
    1..len(cosigners).
    """
    if not isinstance(signed, SignedCheckpoint):
        raise TypeError("signed must be a SignedCheckpoint")
    _require_key(log_key, SignatureType.ED25519, "log_key")
    expected_origin = log_key.name if origin is None else require_str(origin, "origin")
    cosigners = tuple(cosigners)
    for key in cosigners:
        _require_key(key, SignatureType.COSIGNATURE_V1, "cosigners")
    if len({(k.name, k.key_id) for k in cosigners}) != len(cosigners):
        raise ValueError("the same cosigner key is given twice")
    needed = len(cosigners) if quorum is None else quorum
    if cosigners or quorum is not None:
        if isinstance(needed, bool) or not isinstance(needed, int):
            raise TypeError("quorum must be an int")
        if not 1 <= needed <= len(cosigners):
            raise ValueError(f"quorum must be 1..{len(cosigners)}, got {needed}")
    deadline = None if at is None else posix_seconds(at)

    checks = [
        _check_origin(signed, expected_origin),
        _check_log_signature(signed, log_key, (log_key, *cosigners)),
    ]
    if cosigners:
        checks.append(_check_cosignatures(signed, cosigners, needed, deadline))
    return VerificationResult(tuple(checks))


def _require_key(key: object, signature_type: SignatureType, what: str) -> None:
    if not isinstance(key, VerifierKey):
        raise TypeError(f"{what} must be VerifierKey objects")
    if key.signature_type is not signature_type:
        raise ValueError(f"{what}: {key.label} is not a {signature_type.name} key")


def _check_origin(signed: SignedCheckpoint, origin: str) -> CheckResult:
    got = signed.checkpoint.origin
    if got != origin:
        return CheckResult(
            Check.CHECKPOINT_ORIGIN, Status.FAIL, f"origin {got!r}, expected {origin!r}"
        )
    return CheckResult(Check.CHECKPOINT_ORIGIN, Status.PASS, origin)


def _check_log_signature(
    signed: SignedCheckpoint, log_key: VerifierKey, known: Sequence[VerifierKey]
) -> CheckResult:
    others = unknown_signatures(signed.note, known)
    ignored = (
        f"; ignored {len(others)} signature(s) by unknown keys: "
        + ", ".join(f"{s.name}+{s.key_id.hex()}" for s in others)
        if others
        else ""
    )
    signature = find_signature(signed.note, log_key)
    if signature is None:
        return CheckResult(
            Check.CHECKPOINT_SIGNATURE, Status.FAIL, f"no signature by {log_key.label}{ignored}"
        )
    if not signature_is_valid(signed.note, signature, log_key):
        return CheckResult(
            Check.CHECKPOINT_SIGNATURE,
            Status.FAIL,
            f"the signature by {log_key.label} does not verify{ignored}",
        )
    return CheckResult(
        Check.CHECKPOINT_SIGNATURE, Status.PASS, f"signed by {log_key.label}{ignored}"
    )


def _check_cosignatures(
    signed: SignedCheckpoint, cosigners: Sequence[VerifierKey], quorum: int, deadline: int | None
) -> CheckResult:
    valid: list[str] = []
    invalid: list[str] = []
    missing: list[str] = []
    for key in cosigners:
        signature = find_signature(signed.note, key)
        if signature is None:
            missing.append(key.label)
            continue
        try:
            cosignature = parse_cosignature(signature)
        except MalformedError as exc:
            invalid.append(str(exc))
            continue
        when = cosignature.time.isoformat()
        if not cosignature_is_valid(cosignature, key, signed.note.text):
            invalid.append(f"the cosignature by {key.label} does not verify")
        elif deadline is not None and cosignature.timestamp > deadline:
            invalid.append(f"the cosignature by {key.label} is dated {when}, in the future")
        else:
            valid.append(f"{key.label} at {when}")
    if invalid:
        return CheckResult(Check.COSIGNATURE, Status.FAIL, "; ".join(invalid))
    if len(valid) < quorum:
        return CheckResult(
            Check.COSIGNATURE,
            Status.FAIL,
            f"{len(valid)} valid cosignature(s), {quorum} required; missing: {', '.join(missing)}",
        )
    return CheckResult(
        Check.COSIGNATURE,
        Status.PASS,
        f"{len(valid)} of {len(cosigners)} cosigners: {', '.join(valid)}",
    )
