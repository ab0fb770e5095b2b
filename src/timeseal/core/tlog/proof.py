"""C2SP tlog-proof: an offline-verifiable receipt that an entry is in a log (``log/<item>.proof``).

::

    c2sp.org/tlog-proof@v1
    extra <base64 opaque data>                     optional, and *not* authenticated
    index <leaf index>                             decimal, no leading zeroes
    <base64 hash>                                  the inclusion path, zero or more lines,
    ...                                            leaf sibling first (RFC 6962 §2.1.1)
                                                   an empty line
    <the checkpoint note, verbatim>                C2SP tlog-checkpoint, with its signatures

Note the order: the ``extra`` line comes straight after the header, before ``index``.
Proofs should be stored with the extension ``.tlog-proof`` (TimeSeal packages use ``.proof``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from timeseal.core.errors import MalformedError
from timeseal.core.tlog._checks import MAX_TREE_SIZE, require_bytes, require_hash, require_int
from timeseal.core.tlog._text import decode_base64, encode_base64, parse_decimal
from timeseal.core.tlog.checkpoint import (
    SignedCheckpoint,
    format_signed_checkpoint,
    parse_signed_checkpoint,
    verify_checkpoint,
)
from timeseal.core.tlog.merkle import MAX_INCLUSION_PATH, leaf_hash
from timeseal.core.tlog.note import MAX_NOTE_SIZE, VerifierKey
from timeseal.core.tlog.verify import verify_inclusion
from timeseal.core.verification import VerificationResult

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
#: A checkpoint note (at most 1 MB) plus the header, index, 63 hashes and extra data.
MAX_TLOG_PROOF_SIZE = 2 * MAX_NOTE_SIZE
_EXTRA = "extra "
_INDEX = "index "


@dataclass(frozen=True, slots=True)
class TlogProof:
    """Entry ``leaf_index`` of the log, its inclusion path, and the signed checkpoint."""

    leaf_index: int
    inclusion_path: tuple[bytes, ...]
    checkpoint: SignedCheckpoint
    extra: bytes = b""  # opaque application data, NOT authenticated; b"" means none

    def __post_init__(self) -> None:
        if require_int(self.leaf_index, "leaf_index") >= MAX_TREE_SIZE:
            raise ValueError(f"leaf_index {self.leaf_index} is beyond any tree")
        if not isinstance(self.inclusion_path, tuple):
            raise TypeError("inclusion_path must be a tuple of hashes")
        if len(self.inclusion_path) > MAX_INCLUSION_PATH:
            raise ValueError(f"an inclusion path has at most {MAX_INCLUSION_PATH} hashes")
        for i, h in enumerate(self.inclusion_path):
            require_hash(h, f"inclusion_path[{i}]")
        if not isinstance(self.checkpoint, SignedCheckpoint):
            raise TypeError("checkpoint must be a SignedCheckpoint")
        require_bytes(self.extra, "extra")


def format_tlog_proof(proof: TlogProof) -> bytes:
    """The proof's text, ending with the checkpoint note's bytes."""
    lines = [TLOG_PROOF_HEADER]
    if proof.extra:
        lines.append(_EXTRA + encode_base64(proof.extra))
    lines.append(f"{_INDEX}{proof.leaf_index}")
    lines.extend(encode_base64(h) for h in proof.inclusion_path)
    head = "\n".join(lines) + "\n\n"
    return head.encode("ascii") + format_signed_checkpoint(proof.checkpoint)


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Parse a tlog-proof; neither the checkpoint signatures nor the path are verified.

    ``MalformedError`` unless the header is exact; ``extra``, if present, is non-empty
    canonical base64; the index is a canonical decimal below 2**63 - 1; there are at most 63
    path lines, each the canonical base64 of 32 bytes; one empty line follows them; and the
    rest is a well-formed checkpoint note.
    """
    require_bytes(data, "data")
    if len(data) > MAX_TLOG_PROOF_SIZE:
        raise MalformedError(f"tlog-proof of {len(data)} bytes exceeds {MAX_TLOG_PROOF_SIZE}")
    head, blank, rest = data.partition(b"\n\n")
    if not blank:
        raise MalformedError("tlog-proof has no empty line before its checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as exc:
        raise MalformedError("tlog-proof header lines are not ASCII") from exc
    if lines[0] != TLOG_PROOF_HEADER:
        raise MalformedError(f"tlog-proof must start with {TLOG_PROOF_HEADER}")
    at = 1
    extra = b""
    if at < len(lines) and lines[at].startswith(_EXTRA):
        extra = decode_base64(lines[at][len(_EXTRA) :], "tlog-proof extra")
        if not extra:
            raise MalformedError("tlog-proof extra line with no data (omit the line instead)")
        at += 1
    if at == len(lines) or not lines[at].startswith(_INDEX):
        raise MalformedError("tlog-proof has no index line")
    leaf_index = parse_decimal(lines[at][len(_INDEX) :], "tlog-proof index", MAX_TREE_SIZE - 1)
    hashes = lines[at + 1 :]
    if len(hashes) > MAX_INCLUSION_PATH:
        raise MalformedError(f"tlog-proof has more than {MAX_INCLUSION_PATH} proof hashes")
    path = []
    for number, line in enumerate(hashes):
        h = decode_base64(line, f"tlog-proof hash {number}")
        if len(h) != 32:
            raise MalformedError(f"tlog-proof hash {number} is {len(h)} bytes, expected 32")
        path.append(h)
    checkpoint = parse_signed_checkpoint(rest)
    return TlogProof(leaf_index, tuple(path), checkpoint, extra)


def verify_tlog_proof(
    proof: TlogProof,
    *,
    leaf: bytes,
    log_key: VerifierKey,
    origin: str | None = None,
    cosigners: Sequence[VerifierKey] = (),
    quorum: int | None = None,
    at: dt.datetime | None = None,
) -> VerificationResult:
    """Verify that ``leaf`` (the log entry) is in the log, following C2SP tlog-proof
    "Verifying a tlog proof":

    (1) the leaf hash is the RFC 6962 leaf hash of ``leaf``
    (2) CHECKPOINT_ORIGIN, CHECKPOINT_SIGNATURE  the origin and the log's signature
    (3) COSIGNATURE           only with ``cosigners``: see ``verify_checkpoint``
    (4) INCLUSION_PROOF       the path binds the leaf hash to the checkpoint's root hash

    (4) runs even if (2) fails, so that the report shows both; ``ok`` needs every check.
    ``extra`` plays no part. Errors are raised as in ``verify_checkpoint``.
    """
    if not isinstance(proof, TlogProof):
        raise TypeError("proof must be a TlogProof")
    leaf_hash_value = leaf_hash(leaf)
    signatures = verify_checkpoint(
        proof.checkpoint, log_key, origin=origin, cosigners=cosigners, quorum=quorum, at=at
    )
    checkpoint = proof.checkpoint.checkpoint
    inclusion = verify_inclusion(
        leaf_hash=leaf_hash_value,
        leaf_index=proof.leaf_index,
        tree_size=checkpoint.size,
        inclusion_path=proof.inclusion_path,
        root_hash=checkpoint.root_hash,
    )
    return VerificationResult((*signatures.checks, *inclusion.checks))
