"""The canonical bytes of TimeSeal's log entries (the leaves of the Merkle log).

Two kinds exist: ``timeseal/tsa-token/v1`` (every token the TSA issues) and
``timeseal/evidence/v1`` (every sealed evidence record, see :class:`EvidenceEntry`).

A leaf holds hashes and identifiers, never evidence itself. Each entry is a short UTF-8 text,
every line ending in ``\\n``, the first line naming the kind and version. A TSA token::

    timeseal/tsa-token/v1
    serial 2000000000000001a
    gen-time 2026-11-29T11:37:48.147Z
    imprint sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03
    policy 2.25.184649298134412919690597352564283285301
    token-sha256 9f2c...

``serial`` is lowercase hex without leading zeros, ``gen-time`` is UTC with exactly three
fraction digits, ``token-sha256`` is SHA-256 over the TimeStampToken's DER (the ContentInfo,
as in ``proofs/<item>.tsr`` after the status). Anyone holding a token can rebuild its entry with
:func:`tsa_token_entry` and check its inclusion; see docs/log.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import parse_evidence_number
from timeseal.core.text import is_ascii_decimal
from timeseal.core.tsp.response import TimeStampToken

TSA_TOKEN_HEADER = "timeseal/tsa-token/v1"
MAX_ENTRY_SIZE = 65_535  # C2SP tlog-tiles: an entry fits a uint16 length

_HEX = re.compile(r"[0-9a-f]+")
_OID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@dataclass(frozen=True, slots=True)
class TsaTokenEntry:
    """The log entry for one issued time-stamp token."""

    serial_number: int
    gen_time: dt.datetime
    hash_algorithm: HashAlgorithm
    message_imprint: bytes
    policy: str
    token_sha256: bytes

    def __post_init__(self) -> None:
        if self.serial_number <= 0:
            raise ValueError("serial_number must be positive")
        if self.gen_time.tzinfo is None or self.gen_time.microsecond % 1000:
            raise ValueError("gen_time must be timezone-aware with whole milliseconds")
        if len(self.message_imprint) != self.hash_algorithm.digest_size:
            raise ValueError("message_imprint has the wrong length for hash_algorithm")
        if not _OID.fullmatch(self.policy):
            raise ValueError(f"policy {self.policy!r} is not a dotted OID")
        if len(self.token_sha256) != 32:
            raise ValueError("token_sha256 must be 32 bytes")


def tsa_token_entry(token: TimeStampToken) -> TsaTokenEntry:
    """The entry the TSA logged for ``token`` (from its TSTInfo and its DER)."""
    tst = token.tst_info
    return TsaTokenEntry(
        serial_number=tst.serial_number,
        gen_time=tst.gen_time,
        hash_algorithm=tst.hash_algorithm,
        message_imprint=tst.message_imprint,
        policy=tst.policy,
        token_sha256=hashlib.sha256(token.der).digest(),
    )


def _format_time(t: dt.datetime) -> str:
    u = t.astimezone(dt.UTC)
    return f"{u:%Y-%m-%dT%H:%M:%S}.{u.microsecond // 1000:03d}Z"


EVIDENCE_HEADER = "timeseal/evidence/v1"

#: Kinds of evidence records (the vault's ``kind`` column uses the same words).
EVIDENCE_KINDS = (
    "screen-recording",
    "video",
    "photo",
    "screenshot",
    "web-capture",
    "document",
    "seal-record",
    "other",
)


@dataclass(frozen=True, slots=True)
class EvidenceEntry:
    """The log entry for one sealed evidence record: identifiers and hashes, nothing personal.

    ``token_sha256`` is the SHA-256 of the RFC 3161 token over ``content_sha256``;
    ``supersedes`` names the record this one corrects, if any (records are never changed).
    """

    number: str
    kind: str
    content_sha256: bytes
    size: int
    token_sha256: bytes
    supersedes: str | None = None

    def __post_init__(self) -> None:
        for name in ("number", "supersedes"):
            value = getattr(self, name)
            if value is not None and parse_evidence_number(value) != value:
                raise ValueError(f"{name} must be a canonical evidence number")
        if self.kind not in EVIDENCE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(EVIDENCE_KINDS)}")
        if len(self.content_sha256) != 32 or len(self.token_sha256) != 32:
            raise ValueError("hashes must be 32 bytes")
        if self.size < 0:
            raise ValueError("size must not be negative")


LogEntry = TsaTokenEntry | EvidenceEntry


def format_entry(entry: LogEntry) -> bytes:
    """The canonical entry bytes."""
    if isinstance(entry, EvidenceEntry):
        return (
            f"{EVIDENCE_HEADER}\n"
            f"number {entry.number}\n"
            f"kind {entry.kind}\n"
            f"content-sha256 {entry.content_sha256.hex()}\n"
            f"size {entry.size}\n"
            f"token-sha256 {entry.token_sha256.hex()}\n"
            f"supersedes {entry.supersedes or '-'}\n"
        ).encode("ascii")
    return (
        f"{TSA_TOKEN_HEADER}\n"
        f"serial {entry.serial_number:x}\n"
        f"gen-time {_format_time(entry.gen_time)}\n"
        f"imprint {entry.hash_algorithm.name.lower()}:{entry.message_imprint.hex()}\n"
        f"policy {entry.policy}\n"
        f"token-sha256 {entry.token_sha256.hex()}\n"
    ).encode("ascii")


def _fields(data: bytes, names: tuple[str, ...]) -> dict[str, str]:
    lines = data.decode("ascii").split("\n")
    if len(lines) != len(names) + 2 or lines[-1] != "":
        raise MalformedError(f"log entry: expected {len(names) + 1} lines")
    fields = {}
    for line, name in zip(lines[1:-1], names, strict=True):
        key, sep, value = line.partition(" ")
        if key != name or not sep:
            raise MalformedError(f"log entry: expected {name!r} line, got {line!r}")
        fields[name] = value
    return fields


def parse_entry(data: bytes) -> LogEntry:
    """Parse canonical entry bytes strictly; ``MalformedError`` unless they round-trip."""
    if not isinstance(data, bytes):
        raise TypeError("entry must be bytes")
    if len(data) > MAX_ENTRY_SIZE:
        raise MalformedError("log entry larger than 65,535 bytes")
    if not data.isascii():
        raise MalformedError("log entry is not ASCII")
    header = data.split(b"\n", 1)[0]
    entry: LogEntry
    try:
        if header == EVIDENCE_HEADER.encode():
            entry = _parse_evidence(data)
        elif header == TSA_TOKEN_HEADER.encode():
            entry = _parse_tsa_token(data)
        else:
            raise MalformedError("not a TimeSeal log entry")
    except (KeyError, ValueError) as exc:  # MalformedError is neither
        raise MalformedError(f"log entry: {exc}") from exc
    if format_entry(entry) != data:
        raise MalformedError("log entry is not in canonical form")
    return entry


def _parse_evidence(data: bytes) -> EvidenceEntry:
    f = _fields(data, ("number", "kind", "content-sha256", "size", "token-sha256", "supersedes"))
    if not (_HEX.fullmatch(f["content-sha256"]) and _HEX.fullmatch(f["token-sha256"])):
        raise ValueError("bad hash syntax")
    if not is_ascii_decimal(f["size"]):
        raise ValueError("bad size")
    return EvidenceEntry(
        number=f["number"],
        kind=f["kind"],
        content_sha256=bytes.fromhex(f["content-sha256"]),
        size=int(f["size"]),
        token_sha256=bytes.fromhex(f["token-sha256"]),
        supersedes=None if f["supersedes"] == "-" else f["supersedes"],
    )


def _parse_tsa_token(data: bytes) -> TsaTokenEntry:
    fields = _fields(data, ("serial", "gen-time", "imprint", "policy", "token-sha256"))
    algorithm_name, _, imprint_hex = fields["imprint"].partition(":")
    algorithm = HashAlgorithm[algorithm_name.upper()]
    if not (
        _HEX.fullmatch(fields["serial"])
        and _HEX.fullmatch(imprint_hex)
        and _HEX.fullmatch(fields["token-sha256"])
        and _TIME.fullmatch(fields["gen-time"])
        and algorithm_name == algorithm.name.lower()
    ):
        raise ValueError("bad field syntax")
    return TsaTokenEntry(
        serial_number=int(fields["serial"], 16),
        gen_time=dt.datetime.strptime(fields["gen-time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=dt.UTC
        ),
        hash_algorithm=algorithm,
        message_imprint=bytes.fromhex(imprint_hex),
        policy=fields["policy"],
        token_sha256=bytes.fromhex(fields["token-sha256"]),
    )
