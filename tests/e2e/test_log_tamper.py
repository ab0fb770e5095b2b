"""`timeseal log verify` against a real server whose database is then tampered with."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import TIMESEAL, live_server
from timeseal.cli.data_dir import utc_now
from timeseal.core.tsp.request import build_request
from timeseal.server.runtime import datadir
from timeseal.store.db import make_engine

pytestmark = pytest.mark.e2e


def _audit(url: str, vkey: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *TIMESEAL,
            "log",
            "verify",
            "--server",
            url,
            "--vkey",
            vkey,
            "--state",
            str(state),
            "--json",
        ],
        capture_output=True,
        text=True,
    )


def _failed(stdout: str) -> list[str]:
    report = json.loads(stdout)
    assert report["consistent"] is False
    return [c["check"] for c in report["checks"] if c["status"] == "fail"]


def _stamp(url: str, n: int, tag: str) -> None:
    with httpx.Client() as http:
        for i in range(n):
            digest = hashlib.sha256(f"{tag}-{i}".encode()).digest()
            http.post(
                f"{url}/tsa",
                content=build_request(digest).der,
                headers={"Content-Type": "application/timestamp-query"},
            )


def _wait_size(url: str, size: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/log/checkpoint").text.split("\n")[1] == str(size):
            return
        time.sleep(0.2)
    raise AssertionError(f"log never reached size {size}")


@pytest.mark.parametrize(
    ("sql", "failed"),
    [
        (
            "UPDATE log_tiles SET data = zeroblob(length(data)) WHERE path LIKE 'tile/0/%'",
            "log_tiles",
        ),
        (
            "UPDATE log_tiles SET data = replace(data, 'serial', 'SERIAL') "
            "WHERE path LIKE 'tile/entries/%'",
            "log_entries",
        ),
    ],
    ids=["tile", "entry-bundle"],
)
def test_tampering_is_detected(tmp_path: Path, sql: str, failed: str) -> None:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=utc_now())
    vkey = (data_dir / "log" / "log.vkey").read_text().strip()
    state = tmp_path / "audit.json"
    with live_server(data_dir) as server:
        _stamp(server.url, 20, "a")
        _wait_size(server.url, 20)
        assert _audit(server.url, vkey, state).returncode == 0
        engine = make_engine(f"sqlite:///{data_dir / 'timeseal.db'}")
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
        engine.dispose()
        # the server caches tiles it has read; a fresh start serves what the database holds
    with live_server(data_dir) as server:
        result = _audit(server.url, vkey, tmp_path / "fresh.json")
    assert result.returncode == 1, result.stdout
    assert _failed(result.stdout) == [failed]


def test_rollback_is_detected(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=utc_now())
    vkey = (data_dir / "log" / "log.vkey").read_text().strip()
    state = tmp_path / "audit.json"
    backup = tmp_path / "backup.db"
    with live_server(data_dir) as server:
        _stamp(server.url, 5, "a")
        _wait_size(server.url, 5)
        engine = make_engine(f"sqlite:///{data_dir / 'timeseal.db'}")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"VACUUM INTO '{backup}'")
        engine.dispose()
        _stamp(server.url, 5, "b")
        _wait_size(server.url, 10)
        assert _audit(server.url, vkey, state).returncode == 0
    # The operator restores the old database: the log is 5 entries again.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data_dir / 'timeseal.db'}{suffix}").unlink(missing_ok=True)
    backup.rename(data_dir / "timeseal.db")
    with live_server(data_dir) as server:
        result = _audit(server.url, vkey, state)
    assert result.returncode == 1
    assert _failed(result.stdout) == ["consistency_proof"]
