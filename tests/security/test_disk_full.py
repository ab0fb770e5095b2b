"""A full disk: 507 with the API's JSON error (or the site's error page), never a bare 500, and
``/healthz`` says ``disk_low`` before it comes to that (issue 12, point 8).

The disk is never filled: the free-space probe is injected, and the writes fail with an
injected ``OSError(ENOSPC)`` (or a database's disk-full error) where they would on a full disk.
"""

from __future__ import annotations

import errno
import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from tests.support.accounts import log_in, server_database_url
from tests.support.tus import TUS, tus_metadata
from timeseal.server.app import RouteFirst, ServerSettings, create_app
from timeseal.server.evidence.vault import VaultService
from timeseal.server.runtime.disk import is_disk_full
from timeseal.server.runtime.http import HttpConfig
from timeseal.server.tsa.clock import LocalSource
from timeseal.store import uploads
from timeseal.store.blobs import BlobRef, BlobStore, ByteSource

DATA = b"a receipt the shop deleted " * 1000
MiB = 1 << 20


def no_space() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


class FullDisk:
    """A blob store on a full disk: every write fails as the kernel would fail it."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def adopt(self, path: Path, sha256: bytes) -> BlobRef:
        raise no_space()

    def write_stream(self, source: ByteSource, expected_sha256: bytes | None = None) -> BlobRef:
        raise no_space()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class FullDatabase:
    """An evidence store whose writes fail with the database's disk-full error."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def add_custody(self, *_args: Any, **_kwargs: Any) -> None:
        cause = sqlite3.OperationalError("database or disk is full")
        cause.sqlite_errorcode = sqlite3.SQLITE_FULL
        raise OperationalError("INSERT INTO custody_events …", {}, cause)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@contextmanager
def running(data_dir: Path, **settings: Any) -> Iterator[TestClient]:
    app = create_app(
        ServerSettings(
            database_url=server_database_url(),
            data_dir=data_dir,
            clock_source=LocalSource(),
            **settings,
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def vault_of(client: TestClient) -> VaultService:
    app = client.app
    assert isinstance(app, RouteFirst)
    vault = app.app.state.timeseal_vault
    assert isinstance(vault, VaultService)
    return vault


def bearer(client: TestClient, data_dir: Path) -> dict[str, str]:
    answer = log_in(client, data_dir / "sms-outbox.log", kind="token", token_name="t")
    return {"Authorization": f"Bearer {answer['token']['token']}"}


def create_upload(client: TestClient, auth: dict[str, str]) -> str:
    meta = tus_metadata(filename="r.txt", sha256=hashlib.sha256(DATA).hexdigest())
    reply = client.post(
        "/api/v1/uploads",
        headers={**auth, **TUS, "Upload-Length": str(len(DATA)), "Upload-Metadata": meta},
    )
    assert reply.status_code == 201, reply.text
    location: str = reply.headers["location"]
    return location


def patch(client: TestClient, auth: dict[str, str], url: str, offset: int, body: bytes) -> Any:
    headers = {
        **auth,
        **TUS,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
    }
    return client.patch(url, content=body, headers=headers)


def assert_storage_full_json(reply: Any) -> None:
    assert reply.status_code == 507, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json()["error"]["code"] == "storage_full"


def test_healthz_reports_disk_low_below_the_threshold(data_dir: Path) -> None:
    free = [5 * 1024 * MiB]
    settings = {"http": HttpConfig(disk_low_mb=100), "free_space": lambda _path: free[0]}
    with running(data_dir, **settings) as client:
        ok = client.get("/healthz")
        assert ok.status_code == 200
        assert ok.json()["status"] == "ok" and ok.json()["disk"]["low"] is False
        free[0] = 99 * MiB
        low = client.get("/healthz")
    assert low.status_code == 503
    body = low.json()
    assert body["status"] == "disk_low"
    assert body["disk"] == {"free_bytes": 99 * MiB, "low_bytes": 100 * MiB, "low": True}


def test_blob_write_on_a_full_disk_is_507_and_the_upload_survives(
    data_dir: Path, db_url: str
) -> None:
    with running(data_dir) as client:
        auth = bearer(client, data_dir)
        url = create_upload(client, auth)
        vault = vault_of(client)
        blobs = vault.blobs
        vault.blobs = FullDisk(blobs)
        assert_storage_full_json(patch(client, auth, url, 0, DATA))
        # Space is freed: the client resumes where the server says, and the file is sealed.
        vault.blobs = blobs
        offset = int(client.head(url, headers={**auth, **TUS}).headers["upload-offset"])
        assert offset == len(DATA)
        sealed = patch(client, auth, url, offset, b"")
        assert sealed.status_code == 204, sealed.text
        assert sealed.headers["timeseal-evidence-number"]


def test_staging_write_on_a_full_disk_is_507(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write_all(_fd: int, _data: bytes) -> None:
        raise no_space()

    with running(data_dir) as client:
        auth = bearer(client, data_dir)
        url = create_upload(client, auth)
        monkeypatch.setattr(uploads, "write_all", write_all)  # the staging's own write
        assert_storage_full_json(patch(client, auth, url, 0, DATA[:1000]))
        monkeypatch.undo()
        assert client.head(url, headers={**auth, **TUS}).headers["upload-offset"] == "0"
        assert patch(client, auth, url, 0, DATA[:1000]).status_code == 204


def test_database_full_is_507_json_for_the_api_and_the_error_page_for_a_browser(
    data_dir: Path,
) -> None:
    with running(data_dir) as client:
        # A browser session: the cookie, and its CSRF token for the uploads.
        csrf = {"X-CSRF-Token": log_in(client, data_dir / "sms-outbox.log")["csrf_token"]}
        url = create_upload(client, csrf)
        number = patch(client, csrf, url, 0, DATA).headers["timeseal-evidence-number"]
        vault = vault_of(client)
        vault.store = FullDatabase(vault.store)  # type: ignore[assignment]
        assert_storage_full_json(client.get(f"/api/v1/evidence/{number}"))
        # The owner's page: the site's own error page, in Chinese first.
        page = client.get(f"/evidence/{number}")
    assert page.status_code == 507
    assert page.headers["content-type"].startswith("text/html")
    assert "存储空间已满" in page.text
    assert "Traceback" not in page.text and '"error"' not in page.text


def test_other_os_errors_stay_server_errors() -> None:
    assert is_disk_full(no_space())
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    wrapped = RuntimeError("while writing")
    wrapped.__cause__ = no_space()
    assert is_disk_full(wrapped)
