"""C2SP tlog-witness ``add-checkpoint``: the request and response bodies, and the witness's
decision, all pure (the caller holds the state and the clock).

A log asks a witness to cosign a new checkpoint with ``POST <prefix>/add-checkpoint``::

    old 20852014                                     the size the witness last cosigned
    PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=     consistency proof from that size,
    jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=     0..63 lines of base64 hashes
                                                     an empty line
    example.com/behind-the-sofa                      the signed checkpoint note
    20852163
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

    — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zh...

The witness answers ``200`` with one or more note signature lines (its cosignatures), or
``409 Conflict`` with ``Content-Type: text/x.tlog.size`` and the size it holds (``"12\\n"``)
when ``old`` is not that size, or ``400``/``403``/``404``/``422`` (see
:func:`decide_add_checkpoint`). The parsers are strict and canonical like the other C2SP
parsers here: ``format(parse(data)) == data`` or ``MalformedError``.

Not implemented: the optional ``sign-subtree`` call and ML-DSA-44 cosignatures (which the
spec recommends; we cosign with Ed25519 ``cosignature/v1``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from timeseal.core.errors import MalformedError
from timeseal.core.tlog._checks import (
    MAX_TREE_SIZE,
    require_bytes,
    require_hash,
    require_size,
)
from timeseal.core.tlog._text import decode_base64, encode_base64, parse_decimal
from timeseal.core.tlog.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    format_signed_checkpoint,
    parse_signed_checkpoint,
)
from timeseal.core.tlog.merkle import EMPTY_ROOT, HASH_SIZE
from timeseal.core.tlog.note import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    SIGNATURE_PREFIX,
    NoteSignature,
    SignatureType,
    VerifierKey,
    find_signature,
    parse_note,
    signature_is_valid,
)
from timeseal.core.tlog.verify import verify_consistency

#: "The client MUST NOT send more than 63 consistency proof lines." (A valid RFC 9162 proof can
#: need 64 hashes, but only between trees of more than 2**62 entries.)
MAX_WITNESS_PROOF = 63
#: The old size line, 63 proof lines and the empty line fit easily in 4 KiB.
MAX_ADD_CHECKPOINT_SIZE = MAX_NOTE_SIZE + 4096
#: The 409 body's media type.
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD = "old "
_PLACEHOLDER = b"response\n\n"  # a note text to parse a bare signature block under


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """An add-checkpoint request body: ``old_size``, the proof from it, the checkpoint note.

    Only the syntax is checked here. Whether ``old_size`` is at most the checkpoint's size,
    whether the proof is empty when it must be, and whether it verifies, are the witness's
    decisions (400 and 422), made by :func:`decide_add_checkpoint`.
    """

    old_size: int
    consistency_proof: tuple[bytes, ...]
    checkpoint: SignedCheckpoint

    def __post_init__(self) -> None:
        require_size(self.old_size, "old_size")
        if not isinstance(self.consistency_proof, tuple):
            raise TypeError("consistency_proof must be a tuple of hashes")
        if len(self.consistency_proof) > MAX_WITNESS_PROOF:
            raise ValueError(f"a witness takes at most {MAX_WITNESS_PROOF} proof hashes")
        for i, h in enumerate(self.consistency_proof):
            require_hash(h, f"consistency_proof[{i}]")
        if not isinstance(self.checkpoint, SignedCheckpoint):
            raise TypeError("checkpoint must be a SignedCheckpoint")


def format_add_checkpoint(request: AddCheckpointRequest) -> bytes:
    """The request body: ``old <size>``, one base64 line per proof hash, an empty line, and
    the checkpoint note. C2SP tlog-witness "add-checkpoint"."""
    if not isinstance(request, AddCheckpointRequest):
        raise TypeError("request must be an AddCheckpointRequest")
    lines = [f"{_OLD}{request.old_size}", *(encode_base64(h) for h in request.consistency_proof)]
    head = "\n".join(lines) + "\n\n"
    return head.encode("ascii") + format_signed_checkpoint(request.checkpoint)


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse an add-checkpoint request body; the checkpoint's signatures are *not* verified.

    ``MalformedError`` unless the body is at most ``MAX_ADD_CHECKPOINT_SIZE`` bytes; starts
    with ``old <size>``, the size a decimal without sign or leading zeroes (``0`` for zero)
    below 2**63; then has at most 63 lines, each the canonical base64 of a 32-byte hash; one
    empty line; and a well-formed checkpoint note (C2SP tlog-checkpoint, signed-note).
    """
    require_bytes(body, "body")
    if len(body) > MAX_ADD_CHECKPOINT_SIZE:
        raise MalformedError(f"add-checkpoint body of {len(body)} bytes is too large")
    # Every head line is non-empty, so the first empty line is the one before the note.
    head, blank, note = body.partition(b"\n\n")
    if not blank:
        raise MalformedError("add-checkpoint body has no empty line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as exc:
        raise MalformedError("add-checkpoint old size and proof lines are not ASCII") from exc
    if not lines[0].startswith(_OLD):
        raise MalformedError("add-checkpoint body must start with 'old <size>'")
    old_size = parse_decimal(lines[0][len(_OLD) :], "add-checkpoint old size", MAX_TREE_SIZE)
    if len(lines) - 1 > MAX_WITNESS_PROOF:
        raise MalformedError(f"add-checkpoint has more than {MAX_WITNESS_PROOF} proof lines")
    proof = []
    for number, line in enumerate(lines[1:], 1):
        h = decode_base64(line, f"add-checkpoint proof line {number}")
        if len(h) != HASH_SIZE:
            raise MalformedError(f"add-checkpoint proof line {number} is {len(h)} bytes, not 32")
        proof.append(h)
    request = AddCheckpointRequest(old_size, tuple(proof), parse_signed_checkpoint(note))
    if format_add_checkpoint(request) != body:  # pragma: no cover - each part is canonical
        raise AssertionError("bad round trip in parse_add_checkpoint")
    return request


# --- responses ---------------------------------------------------------------------------------


def format_cosignature_response(signatures: Sequence[NoteSignature]) -> bytes:
    """The 200 body: one or more note signature lines (``— <name> <base64>`` and a newline)."""
    if isinstance(signatures, NoteSignature) or not isinstance(signatures, Sequence):
        raise TypeError("signatures must be a sequence of NoteSignature")
    if not all(isinstance(s, NoteSignature) for s in signatures):
        raise TypeError("signatures must be a sequence of NoteSignature")
    if not 1 <= len(signatures) <= MAX_SIGNATURES:
        raise ValueError(f"a response has 1..{MAX_SIGNATURES} signature lines")
    return "".join(s.line for s in signatures).encode("utf-8")


def parse_cosignature_response(body: bytes) -> tuple[NoteSignature, ...]:
    """Parse a 200 body into its signature lines; *not* verified (nor read as cosignatures).

    ``MalformedError`` unless it is 1..100 lines, each a signed-note signature line ending in
    a newline, with no two by the same key (name and key ID): the rules of
    ``parse_note`` for the lines after a note's empty line.
    """
    require_bytes(body, "body")
    if not body:
        raise MalformedError("cosignature response is empty")
    if not body.endswith(b"\n"):
        raise MalformedError("cosignature response must end with a newline")
    lines = body[:-1].split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line.startswith(SIGNATURE_PREFIX.encode("utf-8")):
            raise MalformedError(f"cosignature response line {number} is not a signature line")
    # Under a placeholder text the body is exactly a note's signature block; with every line
    # a signature line, parse_note can neither split it elsewhere nor drop a line.
    return parse_note(_PLACEHOLDER + body).signatures


def format_size_response(size: int) -> bytes:
    """The 409 body: the witness's tree size for the origin in decimal, and a newline."""
    return f"{require_size(size, 'size')}\n".encode("ascii")


def parse_size_response(body: bytes) -> int:
    """Parse a 409 (``text/x.tlog.size``) body; ``MalformedError`` unless it is a decimal
    without sign or leading zeroes, below 2**63, followed by one newline."""
    require_bytes(body, "body")
    if len(body) > 21 or not body.endswith(b"\n"):
        raise MalformedError("tlog size response must be a decimal and a newline")
    try:
        text = body[:-1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedError("tlog size response is not ASCII") from exc
    return parse_decimal(text, "tlog size response", MAX_TREE_SIZE)


# --- the witness's decision --------------------------------------------------------------------


class WitnessStatus(enum.IntEnum):
    """The HTTP status C2SP tlog-witness gives each add-checkpoint outcome."""

    OK = 200  # cosign, after recording the checkpoint
    BAD_REQUEST = 400  # malformed body, or old size above the checkpoint size
    FORBIDDEN = 403  # no valid signature by a trusted key for the origin
    NOT_FOUND = 404  # unknown origin
    CONFLICT = 409  # old size is not the size the witness holds
    UNPROCESSABLE = 422  # the checkpoint is not consistent with the one the witness holds


@dataclass(frozen=True, slots=True)
class Decision:
    """What the witness answers: ``status``, and ``detail`` saying why (for logs and bodies)."""

    status: WitnessStatus
    detail: str

    @property
    def accepted(self) -> bool:
        return self.status is WitnessStatus.OK


def decide_add_checkpoint(
    request: AddCheckpointRequest,
    *,
    log_keys: Sequence[VerifierKey],
    latest: Checkpoint,
) -> Decision:
    """Decide an add-checkpoint request for a known origin. C2SP tlog-witness "add-checkpoint".

    ``log_keys`` are the keys the witness trusts for the checkpoint's origin; ``latest`` is the
    checkpoint it last cosigned for that origin, or ``Checkpoint(origin, 0, EMPTY_ROOT)`` if
    none. The steps, in the spec's order (the first that fails decides):

    (1) 403  a signature by a trusted key is present, and no trusted key's signature fails
             (signatures by other keys are ignored)
    (2) 400  ``old_size`` is at most the checkpoint's size
    (3) 409  ``old_size`` is ``latest.size``; the answer carries ``latest.size``
    (4) 422  a checkpoint of size 0 has the empty tree's root hash
    (5) 422  from ``old_size`` 0 the proof is empty (the empty tree is consistent with any)
    (6) 422  at the same size, the root hash is ``latest``'s (and the proof is empty)
    (7) 422  otherwise the proof is an RFC 9162 §2.1.4 consistency proof from ``latest``

    An accepted checkpoint is at least as large as ``latest`` and extends it, so a witness
    that records every accepted checkpoint before answering never cosigns a rollback or a
    fork. The 404 for an unknown origin is the caller's (it has no keys to pass). Raises
    ``ValueError`` for no keys, a key that is not Ed25519 (0x01), or a ``latest`` of another
    origin.
    """
    if not isinstance(request, AddCheckpointRequest):
        raise TypeError("request must be an AddCheckpointRequest")
    if not isinstance(latest, Checkpoint):
        raise TypeError("latest must be a Checkpoint")
    keys = _require_log_keys(log_keys)
    checkpoint = request.checkpoint.checkpoint
    if latest.origin != checkpoint.origin:
        raise ValueError(f"latest is for {latest.origin!r}, not {checkpoint.origin!r}")
    signer = _trusted_signer(request.checkpoint, keys)  # (1)
    if isinstance(signer, Decision):
        return signer
    old, size = request.old_size, checkpoint.size
    if old > size:  # (2)
        return Decision(
            WitnessStatus.BAD_REQUEST, f"old size {old} is above checkpoint size {size}"
        )
    if old != latest.size:  # (3)
        return Decision(
            WitnessStatus.CONFLICT, f"old size {old}, but the witness has {latest.size}"
        )
    refusal = _refuse_inconsistent(old, checkpoint, latest, request.consistency_proof)
    if refusal is not None:  # (4)-(7)
        return refusal
    return Decision(WitnessStatus.OK, f"{checkpoint.origin} at {size}, signed by {signer}")


def _require_log_keys(log_keys: Sequence[VerifierKey]) -> tuple[VerifierKey, ...]:
    keys = tuple(log_keys)
    if not keys:
        raise ValueError("no log keys: an unknown origin is a 404")
    for key in keys:
        if not isinstance(key, VerifierKey):
            raise TypeError("log_keys must be VerifierKey objects")
        if key.signature_type is not SignatureType.ED25519:
            raise ValueError(f"log key {key.label} is not an Ed25519 (0x01) note key")
    return keys


def _trusted_signer(signed: SignedCheckpoint, keys: Sequence[VerifierKey]) -> Decision | str:
    """Step (1): the label of the first trusted key that signed, or the 403 when none did or
    a trusted key's signature fails."""
    signed_by: list[str] = []
    for key in keys:
        signature = find_signature(signed.note, key)
        if signature is None:
            continue
        if not signature_is_valid(signed.note, signature, key):
            return Decision(WitnessStatus.FORBIDDEN, f"the signature by {key.label} is invalid")
        signed_by.append(key.label)
    if not signed_by:
        labels = ", ".join(k.label for k in keys)
        return Decision(WitnessStatus.FORBIDDEN, f"no signature by a trusted key ({labels})")
    return signed_by[0]


def _refuse_inconsistent(
    old: int, checkpoint: Checkpoint, latest: Checkpoint, proof: Sequence[bytes]
) -> Decision | None:
    """Steps (4)-(7): the 422 when ``checkpoint`` does not extend ``latest`` (of size ``old``)
    by ``proof``; None when it does."""
    size = checkpoint.size
    if size == 0 and checkpoint.root_hash != EMPTY_ROOT:  # (4)
        return Decision(
            WitnessStatus.UNPROCESSABLE,
            f"a tree of size 0 has root {EMPTY_ROOT.hex()}, not {checkpoint.root_hash.hex()}",
        )
    if old == 0:  # (5)
        if proof:
            return Decision(WitnessStatus.UNPROCESSABLE, "a proof from size 0 must be empty")
    elif old == size:  # (6)
        if checkpoint.root_hash != latest.root_hash:
            return Decision(
                WitnessStatus.UNPROCESSABLE,
                f"fork at size {size}: root {checkpoint.root_hash.hex()}, "
                f"cosigned {latest.root_hash.hex()}",
            )
        if proof:
            return Decision(WitnessStatus.UNPROCESSABLE, "a proof between equal sizes is empty")
    else:  # (7)
        result = verify_consistency(
            first=old,
            second=size,
            first_hash=latest.root_hash,
            second_hash=checkpoint.root_hash,
            consistency_path=proof,
        )
        if not result.ok:
            reason = result.checks[0].detail
            return Decision(WitnessStatus.UNPROCESSABLE, f"consistency {old} -> {size}: {reason}")
    return None
