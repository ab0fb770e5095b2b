"""The data directory is the owner's alone (issue 12, point 8): it was created 0755 with a
0644 database (every account's phone number, sessions, the custody trail), 0644
``config.json`` and world-readable uploads in progress, readable by every user of the machine.

Checked with the usual umask (022), so that what is private is private because the server
made it so: on creation, and by tightening a data directory found looser at start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.accounts import log_in, server_database_url
from tests.support.tus import TUS, tus_metadata
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.runtime import datadir
from timeseal.server.tsa.clock import LocalSource
from timeseal.store.uploads import STAGING_DIR

DATA = b"half of a recording " * 500


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def start_and_stage_an_upload(data_dir: Path) -> None:
    """Start the server, log in (the SMS outbox), stage half an upload (tus), stop."""
    app = create_app(
        ServerSettings(
            database_url=server_database_url(), data_dir=data_dir, clock_source=LocalSource()
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        token = log_in(client, data_dir / "sms-outbox.log", kind="token", token_name="t")
        auth = {"Authorization": f"Bearer {token['token']['token']}", **TUS}
        meta = tus_metadata(filename="a.webm", sha256=hashlib.sha256(DATA).hexdigest())
        created = client.post(
            "/api/v1/uploads",
            headers={**auth, "Upload-Length": str(len(DATA)), "Upload-Metadata": meta},
        )
        assert created.status_code == 201, created.text
        half = client.patch(
            created.headers["location"],
            content=DATA[:1000],
            headers={
                **auth,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
            },
        )
        assert half.status_code == 204, half.text


def private_paths(data_dir: Path) -> list[Path]:
    """Everything that must be the owner's alone and exists now."""
    staging = data_dir / STAGING_DIR
    names = ("config.json", "timeseal.db", "timeseal.db-wal", "timeseal.db-shm", "sms-outbox.log")
    paths = [data_dir / n for n in names if (data_dir / n).exists()]
    return paths + [staging, *staging.rglob("*")]


def test_a_new_data_directory_is_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=dt.datetime.now(dt.UTC))
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "config.json") == 0o600
    start_and_stage_an_upload(data_dir)
    paths = private_paths(data_dir)
    assert {p.name for p in paths} >= {"timeseal.db", "sms-outbox.log", "data", "state.json"}
    assert mode(data_dir / "auth.key") == 0o600
    loose = {str(p.relative_to(data_dir)): oct(mode(p)) for p in paths if mode(p) & 0o077}
    assert loose == {}
    assert mode(data_dir) == 0o700


def test_a_looser_data_directory_is_tightened_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=dt.datetime.now(dt.UTC))
    start_and_stage_an_upload(data_dir)
    # As a data directory made by an older version, or copied with a loose umask, is.
    for path in [data_dir, *private_paths(data_dir)]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    with caplog.at_level(logging.WARNING, logger="timeseal.server"):
        app = create_app(
            ServerSettings(
                database_url=server_database_url(), data_dir=data_dir, clock_source=LocalSource()
            )
        )
        # Building the application changes no file: its lifespan's start tightens.
        assert mode(data_dir) == 0o755
        with TestClient(app):
            assert mode(data_dir) == 0o700
    assert mode(data_dir) == 0o700
    loose = {str(p.relative_to(data_dir)): oct(mode(p)) for p in private_paths(data_dir)}
    assert {p: m for p, m in loose.items() if int(m, 8) & 0o077} == {}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{data_dir} was readable by other users" in logged
    assert "timeseal.db was readable by other users" in logged
