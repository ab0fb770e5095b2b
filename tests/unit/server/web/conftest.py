"""A running application (SQLite and PostgreSQL) with one sealed record, for the public API
and the verify page."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import bearer
from tests.support.tus import TUS, patch_upload, tus_metadata
from tests.unit.server.conftest import running_app

DATA = b"TimeSeal verify page \x00\x01\x02 " * 3000


@dataclass(frozen=True)
class Sealed:
    number: str
    sha256: str
    tsr: bytes  # the RFC 3161 TimeStampResp of the record
    auth: dict[str, str]


def seal(
    client: TestClient, auth: dict[str, str], data: bytes, **metadata: str
) -> tuple[str, bytes]:
    """Upload ``data`` through tus as the owner of ``auth``: (number, .tsr DER)."""
    meta = {
        "filename": "合同-secret.pdf",
        "kind": "document",
        "title": "私密标题 private title",
        "filetype": "application/pdf",
        "sha256": hashlib.sha256(data).hexdigest(),
        **metadata,
    }
    reply = client.post(
        "/api/v1/uploads",
        headers={
            **auth,
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus_metadata(**meta),
        },
    )
    assert reply.status_code == 201, reply.text
    status, headers = patch_upload(client, auth, reply.headers["location"], 0, data)
    assert status == 204
    number = headers["timeseal-evidence-number"]
    detail = client.get(f"/api/v1/evidence/{number}", headers=auth).json()
    return number, base64.b64decode(detail["timestamp_response"])


def wait_sequenced(client: TestClient, number: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if client.get(f"/api/v1/public/evidence/{number}").json()["log"]["sequenced"]:
            return
        time.sleep(0.05)
    raise AssertionError(f"{number} was not sequenced")


@pytest.fixture
def app_client(data_dir: Path, db_url: str) -> Iterator[TestClient]:
    with running_app(data_dir) as client:
        yield client


@pytest.fixture
def sealed(app_client: TestClient, data_dir: Path) -> Sealed:
    auth = bearer(app_client, data_dir)
    number, tsr = seal(app_client, auth, DATA)
    return Sealed(number, hashlib.sha256(DATA).hexdigest(), tsr, auth)


@pytest.fixture
def anonymous(app_client: TestClient) -> TestClient:
    """A second client on the same app with no cookies and no credentials."""
    return TestClient(app_client.app, raise_server_exceptions=False)
