"""What workers and the journal process say to each other over their Unix socket.

A worker sends *batches* of journal entries; the journal process answers each batch with an
*acknowledgement* once the batch is committed (or its commit failed). All integers are
big-endian.

Batch: ``u32`` length of the rest, ``u64`` batch id, then the entries, each::

    serial number (20 bytes: RFC 3161 allows up to 160 bits)
    genTime       (i64, microseconds since 1970-01-01 UTC)
    token SHA-256 (32 bytes)
    u8 length of the hash algorithm's name, u8 length of the imprint, u16 length of the policy,
    then the name (ASCII), the imprint and the policy (ASCII)

Acknowledgement: ``u64`` batch id, ``u8`` status (:data:`COMMITTED` or :data:`FAILED`).
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Sequence

from timeseal.store.issuance import JournalEntry

COMMITTED = 0
FAILED = 1

#: A batch larger than this is a broken peer, not a busy one.
MAX_BATCH_BYTES = 16 * 1024 * 1024

_HEADER = struct.Struct(">IQ")
_ENTRY = struct.Struct(">20sq32sBBH")
_ACK = struct.Struct(">QB")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


class WireError(Exception):
    """The peer sent something that is not this protocol."""


def encode_batch(batch_id: int, entries: Sequence[JournalEntry]) -> bytes:
    parts: list[bytes] = []
    for e in entries:
        algorithm = e.hash_algorithm.encode("ascii")
        policy = e.policy.encode("ascii")
        fixed = _ENTRY.pack(
            e.serial_number.to_bytes(20, "big"),
            (e.gen_time - _EPOCH) // _MICROSECOND,
            e.token_sha256,
            len(algorithm),
            len(e.message_imprint),
            len(policy),
        )
        parts += (fixed, algorithm, e.message_imprint, policy)
    body = b"".join(parts)
    return _HEADER.pack(len(body) + 8, batch_id) + body


def _decode_entries(body: memoryview) -> list[JournalEntry]:
    entries = []
    at = 0
    while at < len(body):
        if len(body) - at < _ENTRY.size:
            raise WireError("truncated journal entry")
        serial, micros, token_sha256, n_alg, n_imprint, n_policy = _ENTRY.unpack_from(body, at)
        at += _ENTRY.size
        end = at + n_alg + n_imprint + n_policy
        if end > len(body):
            raise WireError("truncated journal entry")
        try:
            algorithm = bytes(body[at : at + n_alg]).decode("ascii")
            policy = bytes(body[at + n_alg + n_imprint : end]).decode("ascii")
            gen_time = _EPOCH + micros * _MICROSECOND
        except (UnicodeDecodeError, OverflowError) as exc:
            raise WireError(f"malformed journal entry: {exc}") from None
        entries.append(
            JournalEntry(
                serial_number=int.from_bytes(serial, "big"),
                gen_time=gen_time,
                hash_algorithm=algorithm,
                message_imprint=bytes(body[at + n_alg : at + n_alg + n_imprint]),
                policy=policy,
                token_sha256=token_sha256,
            )
        )
        at = end
    return entries


class BatchReader:
    """Reassembles batches from a byte stream that arrives in arbitrary pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, list[JournalEntry]]]:
        """The batches completed by ``data``, in order. Raises :class:`WireError`."""
        self._buffer += data
        batches = []
        at = 0
        view = memoryview(self._buffer)
        try:
            while len(view) - at >= _HEADER.size:
                length, batch_id = _HEADER.unpack_from(view, at)
                if not 8 <= length <= MAX_BATCH_BYTES:
                    raise WireError(f"batch of {length} bytes")
                end = at + 4 + length
                if end > len(view):
                    break
                batches.append((batch_id, _decode_entries(view[at + _HEADER.size : end])))
                at = end
        finally:
            view.release()
        del self._buffer[:at]
        return batches


def encode_ack(batch_id: int, status: int) -> bytes:
    return _ACK.pack(batch_id, status)


class AckReader:
    """Reassembles acknowledgements: (batch id, status) pairs."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        buffer = self._buffer + data
        whole = len(buffer) - len(buffer) % _ACK.size
        self._buffer = buffer[whole:]
        return [_ACK.unpack_from(buffer, at) for at in range(0, whole, _ACK.size)]
