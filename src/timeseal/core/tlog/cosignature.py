"""C2SP tlog-cosignature ``cosignature/v1``: timestamped Ed25519 cosignatures of checkpoints.

A cosignature is a note signature (signature type 0x04) on a checkpoint::

    — <cosigner name> base64(key ID || timestamp || Ed25519 signature)

with ``key ID = SHA-256(<name> || 0x0A || 0x04 || public key)[:4]``, ``timestamp`` a big-endian
u64 of POSIX seconds (at most 2**63 - 1) and the signature over the message::

    cosignature/v1
    time <timestamp>
    <the checkpoint note text, with its final newline>

Only the Ed25519 type is implemented; ML-DSA-44 (0x06) vkeys are refused as unsupported.
Time is always an argument here.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass

from timeseal.core.errors import MalformedError
from timeseal.core.tlog import _crypto
from timeseal.core.tlog._checks import require_bytes, require_int, require_str
from timeseal.core.tlog.note import NoteSignature, SignatureType, SignerKey, VerifierKey

COSIGNATURE_V1_HEADER = "cosignature/v1"
MAX_TIMESTAMP = 2**63 - 1
_TIMESTAMP_SIZE = 8


def posix_seconds(at: dt.datetime) -> int:
    """Whole seconds since the Epoch; naive datetimes are refused (``ValueError``)."""
    if not isinstance(at, dt.datetime):
        raise TypeError("at must be a datetime")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    return int((at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(seconds=1))


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The message a cosignature/v1 signs. C2SP tlog-cosignature "Ed25519 signed message"."""
    require_str(checkpoint_text, "checkpoint_text")
    _require_timestamp(timestamp)
    return f"{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n{checkpoint_text}".encode()


def _require_timestamp(timestamp: object) -> int:
    value = require_int(timestamp, "timestamp")
    if value > MAX_TIMESTAMP:
        raise ValueError(f"timestamp {value} exceeds 2**63 - 1")
    return value


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A parsed cosignature/v1: who, when (``timestamp``, POSIX seconds), and the signature."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes  # 64-byte Ed25519 signature

    def __post_init__(self) -> None:
        # NoteSignature checks the name and key ID.
        NoteSignature(self.name, self.key_id, b"\x00")
        _require_timestamp(self.timestamp)
        if len(require_bytes(self.signature, "signature")) != _crypto.SIGNATURE_SIZE:
            raise ValueError(f"an Ed25519 signature is {_crypto.SIGNATURE_SIZE} bytes")

    @property
    def time(self) -> dt.datetime:
        """``timestamp`` as an aware UTC datetime."""
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=self.timestamp)

    @property
    def note_signature(self) -> NoteSignature:
        """The note signature line carrying this cosignature."""
        stamp = struct.pack(">Q", self.timestamp)
        return NoteSignature(self.name, self.key_id, stamp + self.signature)

    def is_by(self, key: VerifierKey) -> bool:
        return self.name == key.name and self.key_id == key.key_id


def parse_cosignature(signature: NoteSignature) -> Cosignature:
    """Read a note signature as a cosignature/v1; *not* verified.

    ``MalformedError`` unless it is 8 + 64 bytes after the key ID and the timestamp is at
    most 2**63 - 1.
    """
    if not isinstance(signature, NoteSignature):
        raise TypeError("signature must be a NoteSignature")
    raw = signature.signature
    if len(raw) != _TIMESTAMP_SIZE + _crypto.SIGNATURE_SIZE:
        raise MalformedError(
            f"cosignature by {signature.name}: {len(raw)} bytes after the key ID, expected "
            f"{_TIMESTAMP_SIZE + _crypto.SIGNATURE_SIZE}"
        )
    (timestamp,) = struct.unpack(">Q", raw[:_TIMESTAMP_SIZE])
    if timestamp > MAX_TIMESTAMP:
        raise MalformedError(f"cosignature by {signature.name}: timestamp exceeds 2**63 - 1")
    return Cosignature(signature.name, signature.key_id, timestamp, raw[_TIMESTAMP_SIZE:])


def make_cosignature(key: SignerKey, checkpoint_text: str, at: dt.datetime) -> Cosignature:
    """``key``'s cosignature/v1 of ``checkpoint_text`` at time ``at`` (whole seconds).

    The caller is the cosigner: it must have checked the checkpoint's signature and its
    consistency with every checkpoint it cosigned before.
    """
    if not isinstance(key, SignerKey):
        raise TypeError("key must be a SignerKey")
    if key.signature_type is not SignatureType.COSIGNATURE_V1:
        raise ValueError(f"{key.name}: a cosignature needs a cosignature/v1 (0x04) key")
    timestamp = posix_seconds(at)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"time {at.isoformat()} is before the Epoch")
    message = cosigned_message(checkpoint_text, timestamp)
    return Cosignature(key.name, key.key_id, timestamp, _crypto.sign(key.seed, message))


def cosignature_is_valid(cosignature: Cosignature, key: VerifierKey, checkpoint_text: str) -> bool:
    """True if ``cosignature`` names ``key`` and signs ``checkpoint_text`` at its timestamp."""
    if key.signature_type is not SignatureType.COSIGNATURE_V1:
        raise ValueError(f"{key.label} is not a cosignature/v1 (0x04) key")
    message = cosigned_message(checkpoint_text, cosignature.timestamp)
    return cosignature.is_by(key) and _crypto.is_valid(
        key.public_key, message, cosignature.signature
    )
