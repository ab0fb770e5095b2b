"""Downloads from the vault that resume and are checked.

An item's bytes, or an evidence package, stream to ``FILE.part``; a later run resumes with
``Range`` from the part's size; the SHA-256 is checked against the record (or the package's
ETag), and only then is the part renamed to ``FILE``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from timeseal.cli.errors import CliError
from timeseal.cli.server_client import ServerCallFailed, failure, send
from timeseal.cli.vault.transfer import READ_SIZE, RetryPolicy, file_sha256
from timeseal.core.files import write_durably

Progress = Callable[[int, int], None]


def download_record(
    client: httpx.Client,
    number: str,
    out: Path | None,
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Fetch record ``number``'s content to ``out`` (default: its filename here) by way of
    ``out.part``; the path and the record. Raises :class:`ServerCallFailed`."""
    policy = policy or RetryPolicy()
    reply = send(client, "GET", f"/api/v1/evidence/{number}")
    if reply.status_code != 200:
        raise failure(reply)
    record: dict[str, Any] = reply.json()
    size = int(record["size"])
    target = out if out is not None else Path(Path(str(record["filename"])).name or number)
    part = target.with_name(target.name + ".part")
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if progress is not None:
            progress(have, size)
        if have == size:
            break
        try:
            _fetch_into(
                client, f"/api/v1/evidence/{record['number']}/content", part, have, progress
            )
            failures = 0
        except ServerCallFailed as exc:
            failures += 1
            if not exc.retryable or failures > policy.retries:
                raise
            sleep(policy.wait(failures))
    got = file_sha256(part)
    if got != record["sha256"]:
        part.unlink()
        raise ServerCallFailed(
            f"SHA-256 不一致 mismatch: expected {record['sha256']}, got {got}; the partial file "
            "was removed",
            retryable=False,
            code="sha256_mismatch",
        )
    part.replace(target)
    return target, record


def download_package(
    client: httpx.Client,
    url: str,
    out: Path,
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> str:
    """Fetch the evidence package at ``url`` (an API path) to ``out`` by way of ``out.part``,
    resuming a part left by an earlier run; its SHA-256 (the server's ETag), checked.

    A package never changes once sealed, so a part is resumed only while the server still
    names the same package (``out.part.etag``); a changed case gets a fresh download."""
    policy = policy or RetryPolicy()
    part = out.with_name(out.name + ".part")
    tag_file = out.with_name(out.name + ".part.etag")
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() and tag_file.exists() else 0
        expected = tag_file.read_text().strip() if have else None
        try:
            etag, size = _fetch_into(client, url, part, have, progress, expected_etag=expected)
            write_durably(tag_file, etag.encode())
            failures = 0
        except _PackageChanged:
            part.unlink(missing_ok=True)
            tag_file.unlink(missing_ok=True)
            continue
        except ServerCallFailed as exc:
            failures += 1
            if not exc.retryable or failures > policy.retries:
                raise
            sleep(policy.wait(failures))
            continue
        if part.stat().st_size == size:
            break
    got = file_sha256(part)
    tag_file.unlink(missing_ok=True)
    if got != etag:
        part.unlink()
        raise ServerCallFailed(
            f"SHA-256 不一致 mismatch: the server named {etag}, got {got}; the partial file "
            "was removed",
            retryable=False,
            code="sha256_mismatch",
        )
    part.replace(out)
    return got


class _PackageChanged(CliError):
    """The server now serves other bytes than the part holds (its ETag changed)."""


def _fetch_into(
    client: httpx.Client,
    url: str,
    part: Path,
    have: int,
    progress: Progress | None,
    *,
    expected_etag: str | None = None,
) -> tuple[str, int]:
    """Append ``url``'s bytes from offset ``have`` to ``part`` (all of it, from 0, when the
    server ignores the range); the answer's ETag (unquoted) and the total size."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with client.stream("GET", url, headers=headers) as r:
            if r.status_code not in (200, 206):
                r.read()
                raise failure(r)
            etag = r.headers.get("etag", "").strip('"')
            if expected_etag is not None and etag != expected_etag:
                raise _PackageChanged
            if r.status_code == 206:
                mode, done = "ab", have
                size = int(r.headers["content-range"].rsplit("/", 1)[1])
            else:
                mode, done = "wb", 0
                size = int(r.headers.get("content-length", "0"))
            with part.open(mode) as f:
                for piece in r.iter_bytes(READ_SIZE):
                    f.write(piece)
                    done += len(piece)
                    if progress is not None:
                        progress(done, size)
            return etag, size
    except httpx.TransportError as exc:
        raise ServerCallFailed(f"下载中断 download interrupted: {exc!r}", retryable=True) from exc
