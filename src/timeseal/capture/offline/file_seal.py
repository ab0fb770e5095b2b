"""Sealing an existing file (``timeseal capture file``): its hash, its token, its record.

A chat export or a downloaded screenshot was made before TimeSeal ever saw it, so a token over
it proves only that the file existed, exactly so, **no later than** the token's genTime — not
when, where or by whom it was made. The record ``FILE.capture.json`` says exactly that
(``"semantics": "existed_no_later_than"`` and a statement in both languages), with the
environment report of the machine that sealed it and the time of sealing by the local clock
(``captured_at``; the environment report's ``clock_offset`` says how far to trust it).

Written beside the file::

    FILE.capture.json   canonical JSON, integers only (format timeseal-file-capture/1)
    FILE.tsr            RFC 3161 TimeStampResp over FILE's SHA-256 (once the TSA answered)

Offline the record is still written (``"tsa_reachable_at_capture": false``) and the token is
fetched later by ``timeseal sync``; its genTime is then the sync time, and nothing here
pretends otherwise.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from timeseal.capture.clients.tsa import TSAClient, TSAClientError
from timeseal.capture.recording.capture_json import device_info, rfc3339, timeseal_version
from timeseal.core.digest import digest_file
from timeseal.core.errors import MalformedError
from timeseal.core.files import write_durably
from timeseal.core.package.canonical import JSONValue, format_canonical_json
from timeseal.core.tsp.response import parse_response

FORMAT: Final = "timeseal-file-capture/1"
RECORD_SUFFIX: Final = ".capture.json"
TOKEN_SUFFIX: Final = ".tsr"
SEMANTICS: Final = "existed_no_later_than"
STATEMENT: Final[dict[str, JSONValue]] = {
    "zh": "现有文件：时间戳仅证明该文件（内容如此）不晚于时间戳时间已经存在，"
    "不证明其制作时间、地点或制作者。",
    "en": "Existing file: the timestamp proves only that this file existed, exactly so, no "
    "later than the timestamp time; not when, where or by whom it was made.",
}


@dataclass(frozen=True, slots=True)
class SealedFile:
    """One file as sealed: its record and, once the TSA answered, its token."""

    path: Path
    record: Path
    sha256: bytes
    size: int
    token: Path | None


def record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def token_path(path: Path) -> Path:
    return path.with_name(path.name + TOKEN_SUFFIX)


def file_sha256(path: Path) -> bytes:
    return digest_file(path)


def guess_kind(path: Path) -> str:
    """The vault kind for a file, from its media type: image → photo, video → video, anything
    else → document (a chat export, an agreement)."""
    media_type = mimetypes.guess_type(path.name)[0] or ""
    if media_type.startswith("image/"):
        return "photo"
    if media_type.startswith("video/"):
        return "video"
    return "document"


def stamp_file(client: TSAClient, path: Path, sha256: bytes) -> Path:
    """Fetch a token over ``sha256`` and write ``FILE.tsr``. Raises ``TSAClientError``."""
    result = client.stamp_digest(sha256)
    out = token_path(path)
    write_durably(out, result.response.der)
    return out


def token_covers(path: Path, sha256: bytes) -> bool:
    """Does ``FILE.tsr`` exist and hold a granted token over exactly ``sha256``? (Parsed only:
    ``timeseal verify`` checks the signature; this decides whether a token is still missing.)"""
    token = token_path(path)
    if not token.is_file():
        return False
    try:
        response = parse_response(token.read_bytes())
    except MalformedError:
        return False
    return response.token is not None and response.token.tst_info.message_imprint == sha256


def token_gen_time(token: Path) -> dt.datetime:
    """The genTime of the token in ``token`` (parsed, not verified: for display)."""
    parsed = parse_response(token.read_bytes()).token
    if parsed is None:
        raise MalformedError(f"{token}: not a granted token")
    return parsed.tst_info.gen_time


def seal_file(
    path: Path,
    *,
    environment: Mapping[str, JSONValue],
    client: TSAClient | None,
    now: dt.datetime,
) -> SealedFile:
    """Hash ``path``, try for its token (``client`` None: offline, do not try), write its
    record. Raises ``FileExistsError`` if it was sealed before (a record is never replaced)."""
    record = record_path(path)
    if record.exists():
        raise FileExistsError(f"{record} exists: this file was sealed before")
    sha256 = file_sha256(path)
    size = path.stat().st_size
    token: Path | None = None
    if client is not None:
        try:
            token = stamp_file(client, path, sha256)
        except TSAClientError:
            token = None
    meta: dict[str, JSONValue] = {
        "format": FORMAT,
        "kind": "file",
        "semantics": SEMANTICS,
        "statement": STATEMENT,
        "file": {
            "name": path.name,
            "size": size,
            "sha256": sha256.hex(),
            "media_type": mimetypes.guess_type(path.name)[0],
        },
        "captured_at": rfc3339(now),
        "tsa_reachable_at_capture": token is not None,
        "device": device_info(),
        "software": {"timeseal": timeseal_version()},
        "environment_check": dict(environment),
    }
    write_durably(record, format_canonical_json(meta))
    return SealedFile(path, record, sha256, size, token)
