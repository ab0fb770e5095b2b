"""A tus 1.0.0 client for the vault (creation, checksum, termination; see
:mod:`timeseal.server.api.uploads`) that resumes where the server stopped.

It hashes the file first (streamed), creates the upload with the whole file's SHA-256 in
``Upload-Metadata``, and sends it in 8 MiB ``PATCH`` chunks, each with
``Upload-Checksum: sha256 <base64>``. The upload URL is kept in
``$XDG_CONFIG_HOME/timeseal/uploads.json``, keyed by server, absolute path, size and mtime, so
that a later run (after a crash, a lost network, Ctrl-C) asks the server where it stopped
(``HEAD``) and continues from there. A failed request is retried with exponential backoff.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import httpx

from timeseal.cli.credentials import config_dir, write_private
from timeseal.cli.server_client import ServerCallFailed, failure, send
from timeseal.cli.vault.transfer import Advance, RetryPolicy, file_sha256
from timeseal.core.text import is_ascii_decimal

TUS_VERSION = "1.0.0"
CHUNK_SIZE = 8 * 1024 * 1024
UPLOADS_FILE = "uploads.json"
EVIDENCE_NUMBER_HEADER = "TimeSeal-Evidence-Number"


# --- the resume state -------------------------------------------------------------------


def uploads_path() -> Path:
    return config_dir() / UPLOADS_FILE


@contextmanager
def _upload_state() -> Iterator[dict[str, Any]]:
    """The unfinished uploads, read and written back atomically under a lock (several
    uploads at once, from threads or processes, do not lose each other's entries)."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / f".{UPLOADS_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = directory / UPLOADS_FILE
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            data = {}  # a damaged state file only costs a fresh upload
        uploads = data.get("uploads") if isinstance(data, dict) else None
        if not isinstance(uploads, dict):
            uploads = {}
        before = json.dumps(uploads, sort_keys=True)
        yield uploads
        if json.dumps(uploads, sort_keys=True) != before:
            write_private(path, json.dumps({"uploads": uploads}, indent=2, sort_keys=True) + "\n")


def resume_key(server: str, path: Path) -> str:
    """Server, absolute path, size and mtime: a changed file is a new upload."""
    st = path.stat()
    return f"{server} {path.resolve()} {st.st_size} {st.st_mtime_ns}"


def _saved(key: str) -> dict[str, Any] | None:
    with _upload_state() as uploads:
        entry = uploads.get(key)
    ok = isinstance(entry, dict) and isinstance(entry.get("url"), str)
    return entry if ok else None


def _save(key: str, entry: dict[str, Any] | None) -> None:
    with _upload_state() as uploads:
        if entry is None:
            uploads.pop(key, None)
        else:
            uploads[key] = entry


# --- uploading --------------------------------------------------------------------------


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


@dataclass(slots=True)
class _Upload:
    """One file's upload and where it stands: its URL once created (None: create it), the
    file's SHA-256 (empty until hashed), the server's offset (None: ask the server), the
    evidence number once sealed."""

    path: Path
    key: str
    size: int
    meta: dict[str, str]
    hashing: Advance | None
    sending: Callable[[int, int], None] | None
    created: Callable[[str], None] | None
    url: str | None = None
    sha256: str = ""
    offset: int | None = None
    number: str | None = None


class TusUploader:
    """Uploads files to one server over one HTTP client, resuming where the server stopped."""

    def __init__(
        self,
        client: httpx.Client,
        server: str,
        *,
        chunk_size: int = CHUNK_SIZE,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.client = client
        self.server = server
        self.chunk_size = chunk_size
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    def upload(
        self,
        path: Path,
        *,
        kind: str = "other",
        title: str | None = None,
        hashing: Advance | None = None,
        sending: Callable[[int, int], None] | None = None,
        capture: str | None = None,
        created: Callable[[str], None] | None = None,
    ) -> str:
        """Upload ``path``; its evidence number. ``hashing(n)`` reports bytes hashed,
        ``sending(offset, total)`` the server's offset. ``capture`` is the capture metadata
        (a JSON object's text, sent as tus metadata ``capture``); ``created(url)`` is told the
        new upload's URL before any byte is sent, so a caller with its own durable state (the
        offline queue) can later ask :meth:`finished_number` whether it was sealed.
        Raises :class:`ServerCallFailed`."""
        meta = {"filename": path.name, "kind": kind, "sha256": ""}  # the hash comes later
        if title:
            meta["title"] = title
        if capture:
            meta["capture"] = capture
        key = resume_key(self.server, path)
        job = _Upload(path, key, path.stat().st_size, meta, hashing, sending, created)
        entry = _saved(key)
        if entry is not None:
            job.url, job.sha256 = entry["url"], str(entry.get("sha256", ""))
        with path.open("rb") as f:
            number = self._until_sealed(job, f)
        if sending is not None:
            sending(job.size, job.size)
        _save(key, None)
        return number

    def finished_number(self, url: str) -> str | None:
        """The evidence number of the upload at ``url`` once the server has sealed it; None
        while it is unfinished or unknown. Raises :class:`ServerCallFailed`."""
        found = self._head(url)
        return None if found is None else found[1]

    def _until_sealed(self, job: _Upload, f: IO[bytes]) -> str:
        """Take steps until the server names the evidence number, retrying a failed step
        (after asking the server where it stands) as the policy allows."""
        failures = 0
        while job.number is None:
            try:
                if self._step(job, f):
                    failures = 0
            except ServerCallFailed as exc:
                failures += 1
                if not exc.retryable or failures > self.policy.retries:
                    if exc.code == "sha256_mismatch":
                        _save(job.key, None)
                    raise
                self._sleep(self.policy.wait(failures))
                job.offset = None  # ask the server where it stands
        return job.number

    def _step(self, job: _Upload, f: IO[bytes]) -> bool:
        """Create the upload, or learn its offset, then send one chunk; True when a chunk
        was accepted."""
        if job.url is None:
            job.sha256 = job.sha256 or file_sha256(job.path, job.hashing)
            job.url, job.number = self._create(job.size, {**job.meta, "sha256": job.sha256})
            _save(job.key, {"url": job.url, "sha256": job.sha256})
            if job.created is not None:
                job.created(job.url)
            job.offset = 0
        elif job.offset is None:
            found = self._head(job.url)
            if found is None:  # the server no longer knows it: start again
                _save(job.key, None)
                job.url = None
                return False
            job.offset, job.number = found
        if job.sending is not None:
            job.sending(job.offset, job.size)
        if job.number is not None:
            return False
        f.seek(job.offset)
        job.offset, job.number = self._patch(job.url, job.offset, f.read(self.chunk_size))
        return True

    def _create(self, size: int, meta: dict[str, str]) -> tuple[str, str | None]:
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Length": str(size),
            "Upload-Metadata": _metadata(**meta),
        }
        reply = send(self.client, "POST", "/api/v1/uploads", headers=headers)
        if reply.status_code != 201 or "location" not in reply.headers:
            raise failure(reply)
        url = urljoin(str(self.client.base_url).rstrip("/") + "/", reply.headers["location"])
        return url, reply.headers.get(EVIDENCE_NUMBER_HEADER)

    def _head(self, url: str) -> tuple[int, str | None] | None:
        reply = send(self.client, "HEAD", url, headers={"Tus-Resumable": TUS_VERSION})
        if reply.status_code in (404, 410):  # unknown, or expired unfinished: start again
            return None
        if reply.status_code != 200 or not is_ascii_decimal(reply.headers.get("upload-offset", "")):
            raise failure(reply)
        return int(reply.headers["upload-offset"]), reply.headers.get(EVIDENCE_NUMBER_HEADER)

    def _patch(self, url: str, offset: int, chunk: bytes) -> tuple[int, str | None]:
        digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
            "Upload-Checksum": f"sha256 {digest}",
        }
        reply = send(self.client, "PATCH", url, headers=headers, content=chunk)
        if reply.status_code != 204 or not is_ascii_decimal(reply.headers.get("upload-offset", "")):
            raise failure(reply)
        return int(reply.headers["upload-offset"]), reply.headers.get(EVIDENCE_NUMBER_HEADER)
