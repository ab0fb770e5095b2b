"""``timeseal upload``, ``timeseal list``, ``timeseal download``: the vault from the command line.

``upload`` is a tus 1.0.0 client (creation, checksum, termination; see
:mod:`timeseal.server.api.uploads`): it hashes the file first (streamed), creates the upload with
the whole file's SHA-256 in ``Upload-Metadata``, and sends it in 8 MiB ``PATCH`` chunks, each
with ``Upload-Checksum: sha256 <base64>``. The upload URL is kept in
``$XDG_CONFIG_HOME/timeseal/uploads.json``, keyed by server, absolute path, size and mtime, so
that a later run (after a crash, a lost network, Ctrl-C) asks the server where it stopped
(``HEAD``) and continues from there. A failed request is retried with exponential backoff.

``download`` streams the content to ``FILE.part``, resumes with ``Range`` from the part's size,
checks the SHA-256 against the record, and only then renames the part to ``FILE``.

Exit codes: 0 success, 1 a file failed (each reason printed), 2 usage error.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urljoin

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from timeseal import __version__
from timeseal.cli.account_cmd import (
    ServerOption,
    _accept_language,
    _resolve_server,
    _write_private,
    config_dir,
    stored_token,
)
from timeseal.cli.errors import CliError
from timeseal.core.digest import digest_file
from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import parse_evidence_number
from timeseal.core.files import write_durably
from timeseal.core.log_entry import EVIDENCE_KINDS
from timeseal.core.package.layout import item_id
from timeseal.core.text import is_ascii_decimal

TUS_VERSION = "1.0.0"
CHUNK_SIZE = 8 * 1024 * 1024
READ_SIZE = 1024 * 1024
UPLOADS_FILE = "uploads.json"
EVIDENCE_NUMBER_HEADER = "TimeSeal-Evidence-Number"
DEFAULT_RETRIES = 8
DEFAULT_BACKOFF = 0.5
MAX_BACKOFF = 8.0
TIMEOUT = httpx.Timeout(60.0, connect=10.0)

Advance = Callable[[int], None]


def register(app: typer.Typer) -> None:
    """Add ``upload``, ``list`` and ``download`` to ``app``."""
    app.command("upload")(upload)
    app.command("list")(list_records)
    app.command("download")(download)


# --- errors and HTTP --------------------------------------------------------------------


class VaultCallFailed(CliError):
    """A request failed; ``retryable`` when trying again may help (network, 5xx, 409)."""

    def __init__(self, message: str, *, retryable: bool, code: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


def make_client(
    server: str, token: str, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An HTTP client for ``server`` with the API token; ``transport`` for tests."""
    headers = {
        "User-Agent": f"timeseal/{__version__}",
        "Accept-Language": _accept_language(),
        "Authorization": f"Bearer {token}",
    }
    return httpx.Client(base_url=server, headers=headers, timeout=TIMEOUT, transport=transport)


def _failure(reply: httpx.Response) -> VaultCallFailed:
    code, message = "http_error", f"HTTP {reply.status_code}"
    try:
        error = reply.json()["error"]
        code, message = str(error["code"]), f"{error['message']} (HTTP {reply.status_code})"
    except (ValueError, KeyError, TypeError):
        pass
    retryable = reply.status_code >= 500 or reply.status_code == 409 or code == "checksum_mismatch"
    return VaultCallFailed(message, retryable=retryable, code=code)


def call_api(
    client: httpx.Client, method: str, url: str, *, expect: int = 200, **kwargs: Any
) -> Any:
    """One JSON API call: the decoded answer (None for 204), or VaultCallFailed."""
    reply = _send(client, method, url, **kwargs)
    if reply.status_code != expect:
        raise _failure(reply)
    return None if reply.status_code == 204 else reply.json()


def _send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise VaultCallFailed(
            f"无法连接 cannot reach {client.base_url}: {exc!r}", retryable=True
        ) from exc


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
            _write_private(path, json.dumps({"uploads": uploads}, indent=2, sort_keys=True) + "\n")


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


def file_sha256(path: Path, advance: Advance | None = None) -> str:
    """The file's SHA-256 in hex; ``advance`` is told every piece hashed."""
    return digest_file(path, progress=advance).hex()


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failing step is tried again, waiting ``backoff`` × 2ⁿ (at most ``cap``)."""

    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    cap: float = MAX_BACKOFF

    def wait(self, failures: int) -> float:
        return float(min(self.backoff * 2 ** (failures - 1), self.cap))


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
        Raises :class:`VaultCallFailed`."""
        key = resume_key(self.server, path)
        size = path.stat().st_size
        entry = _saved(key)
        url: str | None = None
        sha = ""
        if entry is not None:
            url, sha = entry["url"], str(entry.get("sha256", ""))
        offset: int | None = None
        number: str | None = None
        failures = 0
        with path.open("rb") as f:
            while number is None:
                try:
                    if url is None:
                        sha = sha or file_sha256(path, hashing)
                        url, number = self._create(path, size, sha, kind, title, capture)
                        _save(key, {"url": url, "sha256": sha})
                        if created is not None:
                            created(url)
                        offset = 0
                    elif offset is None:
                        found = self._head(url)
                        if found is None:  # the server no longer knows it: start again
                            _save(key, None)
                            url = None
                            continue
                        offset, number = found
                    if sending is not None:
                        sending(offset, size)
                    if number is None:
                        f.seek(offset)
                        offset, number = self._patch(url, offset, f.read(self.chunk_size))
                        failures = 0
                except VaultCallFailed as exc:
                    failures += 1
                    if not exc.retryable or failures > self.policy.retries:
                        if exc.code == "sha256_mismatch":
                            _save(key, None)
                        raise
                    self._sleep(self.policy.wait(failures))
                    offset = None  # ask the server where it stands
        if sending is not None:
            sending(size, size)
        _save(key, None)
        return number

    def finished_number(self, url: str) -> str | None:
        """The evidence number of the upload at ``url`` once the server has sealed it; None
        while it is unfinished or unknown. Raises :class:`VaultCallFailed`."""
        found = self._head(url)
        return None if found is None else found[1]

    def _create(
        self, path: Path, size: int, sha: str, kind: str, title: str | None, capture: str | None
    ) -> tuple[str, str | None]:
        meta = {"filename": path.name, "kind": kind, "sha256": sha}
        if title:
            meta["title"] = title
        if capture:
            meta["capture"] = capture
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Length": str(size),
            "Upload-Metadata": _metadata(**meta),
        }
        reply = _send(self.client, "POST", "/api/v1/uploads", headers=headers)
        if reply.status_code != 201 or "location" not in reply.headers:
            raise _failure(reply)
        url = urljoin(str(self.client.base_url).rstrip("/") + "/", reply.headers["location"])
        return url, reply.headers.get(EVIDENCE_NUMBER_HEADER)

    def _head(self, url: str) -> tuple[int, str | None] | None:
        reply = _send(self.client, "HEAD", url, headers={"Tus-Resumable": TUS_VERSION})
        if reply.status_code in (404, 410):  # unknown, or expired unfinished: start again
            return None
        if reply.status_code != 200 or not is_ascii_decimal(reply.headers.get("upload-offset", "")):
            raise _failure(reply)
        return int(reply.headers["upload-offset"]), reply.headers.get(EVIDENCE_NUMBER_HEADER)

    def _patch(self, url: str, offset: int, chunk: bytes) -> tuple[int, str | None]:
        digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
            "Upload-Checksum": f"sha256 {digest}",
        }
        reply = _send(self.client, "PATCH", url, headers=headers, content=chunk)
        if reply.status_code != 204 or not is_ascii_decimal(reply.headers.get("upload-offset", "")):
            raise _failure(reply)
        return int(reply.headers["upload-offset"]), reply.headers.get(EVIDENCE_NUMBER_HEADER)


# --- downloading ------------------------------------------------------------------------


def download_record(
    client: httpx.Client,
    number: str,
    out: Path | None,
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Fetch record ``number``'s content to ``out`` (default: its filename here) by way of
    ``out.part``; the path and the record. Raises :class:`VaultCallFailed`."""
    policy = policy or RetryPolicy()
    reply = _send(client, "GET", f"/api/v1/evidence/{number}")
    if reply.status_code != 200:
        raise _failure(reply)
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
        except VaultCallFailed as exc:
            failures += 1
            if not exc.retryable or failures > policy.retries:
                raise
            sleep(policy.wait(failures))
    got = file_sha256(part)
    if got != record["sha256"]:
        part.unlink()
        raise VaultCallFailed(
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
    progress: Callable[[int, int], None] | None = None,
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
        except VaultCallFailed as exc:
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
        raise VaultCallFailed(
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
    progress: Callable[[int, int], None] | None,
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
                raise _failure(r)
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
        raise VaultCallFailed(f"下载中断 download interrupted: {exc!r}", retryable=True) from exc


# --- commands ---------------------------------------------------------------------------


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error; the exit to raise (1: failed, 2: usage)."""
    typer.echo(f"✗ {message}", err=True)
    return typer.Exit(code)


def logged_in(server: str | None) -> tuple[str, str]:
    """The server's base URL and the stored API token for it, or exit asking to log in."""
    base = _resolve_server(server)
    token = stored_token(base)
    if token is None:
        raise fail(f"未登录 Not logged in to {base}: run `timeseal login --server {base}`.")
    return base, token


def progress_bar() -> Progress:
    """The transfer progress bar on stderr (hidden when stderr is not a terminal)."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def upload(
    files: Annotated[list[Path], typer.Argument(help="Files to upload and seal.")],
    kind: Annotated[
        str, typer.Option("--kind", help=f"Evidence kind: {', '.join(EVIDENCE_KINDS)}.")
    ] = "other",
    title: Annotated[
        str | None, typer.Option("--title", help="Title (default: the file name).")
    ] = None,
    case: Annotated[
        int | None, typer.Option("--case", min=1, help="Add each sealed item to this case.")
    ] = None,
    server: ServerOption = None,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Retries per failing step.")
    ] = DEFAULT_RETRIES,
) -> None:
    """Upload files to the vault (resumable, tus 1.0); each is sealed on arrival."""
    if kind not in EVIDENCE_KINDS:
        raise fail(f"--kind: one of {', '.join(EVIDENCE_KINDS)}", 2)
    for path in files:
        if not path.is_file() or not os.access(path, os.R_OK):
            raise fail(f"{path} is not a readable file", 2)
    base, token = logged_in(server)
    failed = False
    with make_client(base, token) as client, progress_bar() as progress:
        if case is not None:  # before any upload: a wrong case number is a usage error
            try:
                call_api(client, "GET", f"/api/v1/cases/{case}")
            except VaultCallFailed as exc:
                raise fail(f"--case {case}: {exc}", 2) from None
        uploader = TusUploader(client, base, policy=RetryPolicy(retries=retries))
        for path in files:
            size = path.stat().st_size
            hashing = progress.add_task(f"SHA-256 {path.name}", total=size)
            sending = progress.add_task(f"上传 upload {path.name}", total=size, visible=False)

            def hashed(n: int, task: TaskID = hashing) -> None:
                progress.advance(task, n)

            def show(
                offset: int, total: int, task: TaskID = sending, done: TaskID = hashing
            ) -> None:
                progress.update(done, visible=False)
                progress.update(task, completed=offset, total=total, visible=True)

            try:
                number = uploader.upload(path, kind=kind, title=title, hashing=hashed, sending=show)
            except VaultCallFailed as exc:
                progress.console.print(f"✗ {path}: {exc}", markup=False, highlight=False)
                failed = True
                continue
            except OSError as exc:
                progress.console.print(f"✗ {path}: {exc}", markup=False, highlight=False)
                failed = True
                continue
            typer.echo(f"✓ {path} -> {number}")
            if case is not None:
                try:
                    call_api(client, "PUT", f"/api/v1/cases/{case}/items/{number}", json={})
                except VaultCallFailed as exc:
                    progress.console.print(
                        f"✗ {number} sealed, not added to case {case}: {exc}", markup=False
                    )
                    failed = True
    if failed:
        raise typer.Exit(1)


def _format_time(value: str) -> str:
    from timeseal.cli.verify.report import format_time

    return format_time(dt.datetime.fromisoformat(value))


def list_records(
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None,
    case: Annotated[int | None, typer.Option("--case", min=1, help="Only this case's.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Text in the title, file name or number.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
    server: ServerOption = None,
) -> None:
    """List your evidence, newest first."""
    if kind is not None and kind not in EVIDENCE_KINDS:
        raise fail(f"--kind: one of {', '.join(EVIDENCE_KINDS)}", 2)
    base, token = logged_in(server)
    items: list[dict[str, Any]] = []
    with make_client(base, token) as client:
        while True:
            params: dict[str, Any] = {"limit": 500, "offset": len(items)}
            if kind is not None:
                params["kind"] = kind
            if case is not None:
                params["case"] = case
            if search:
                params["q"] = search
            try:
                reply = _send(client, "GET", "/api/v1/evidence", params=params)
            except VaultCallFailed as exc:
                raise fail(str(exc)) from None
            if reply.status_code != 200:
                raise fail(str(_failure(reply)))
            page = reply.json()["items"]
            items.extend(page)
            if len(page) < 500:
                break
    if as_json:
        typer.echo(json.dumps({"items": items}, ensure_ascii=False, indent=2))
        return
    if not items:
        typer.echo("没有证据 No evidence.")
        return
    for item in items:
        typer.echo(
            f"{item['number']}  {item['kind']:<16} {item['size']:>12,} B  "
            f"{_format_time(item['created_at'])}  {item['title']}"
        )


def download(
    number: Annotated[str, typer.Argument(help="Evidence number, e.g. TS-20261129-7Q4K-M2XD.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write it (default: its file name here)."),
    ] = None,
    package: Annotated[
        bool,
        typer.Option(
            "--package", help="The evidence package (ZIP, NUMBER.zip) instead of the bytes."
        ),
    ] = False,
    server: ServerOption = None,
) -> None:
    """Download an item's original bytes, or its evidence package (resumable), checked
    against its SHA-256."""
    if package:
        fetch_package(server, f"/api/v1/evidence/{number}/package", output or _zip_name(number))
        return
    base, token = logged_in(server)
    with make_client(base, token) as client, progress_bar() as progress:
        task = progress.add_task(f"下载 download {number}", total=None)
        try:
            path, record = download_record(
                client,
                number,
                output,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except VaultCallFailed as exc:
            raise fail(f"{number}: {exc}") from None
        except OSError as exc:
            raise fail(f"{number}: {exc}") from None
    typer.echo(f"✓ {record['number']} -> {path}  SHA-256 {record['sha256']} ✓")


def _zip_name(number: str) -> Path:
    """``NUMBER.zip`` in the form that is a file name everywhere (a check symbol such as ``*``
    spelled as in the package's own paths); a number that does not parse keeps its spelling
    (the server then says it knows no such item)."""
    try:
        return Path(f"{item_id(parse_evidence_number(number))}.zip")
    except MalformedError:
        return Path(f"{number}.zip")


def fetch_package(server: str | None, url: str, output: Path) -> None:
    """``download --package`` and ``case package``: the package at API path ``url``."""
    base, token = logged_in(server)
    with make_client(base, token) as client, progress_bar() as progress:
        task = progress.add_task(f"证据包 package {output.name}", total=None)
        try:
            sha256 = download_package(
                client,
                url,
                output,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except VaultCallFailed as exc:
            raise fail(f"{output.name}: {exc}") from None
        except OSError as exc:
            raise fail(f"{output.name}: {exc}") from None
    typer.echo(f"✓ {output}  SHA-256 {sha256} ✓  (timeseal verify {output})")
