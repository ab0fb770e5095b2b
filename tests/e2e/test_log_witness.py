"""A real log and a real witness: every new checkpoint comes back cosigned."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import TIMESEAL, free_port, live_server
from timeseal.cli.data_dir import utc_now
from timeseal.core.tlog import parse_signed_checkpoint, parse_verifier_key, verify_checkpoint
from timeseal.core.tsp.request import build_request
from timeseal.server.runtime import datadir

pytestmark = pytest.mark.e2e


def _run(*args: str) -> str:
    return subprocess.run([*TIMESEAL, *args], check=True, capture_output=True, text=True).stdout


def test_the_log_serves_checkpoints_cosigned_by_its_witness(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    witness_dir = tmp_path / "witness"
    datadir.initialise(data_dir, now=utc_now())
    log_vkey = (data_dir / "log" / "log.vkey").read_text().strip()
    witness_vkey = _run("witness", "vkey", "--data-dir", str(witness_dir)).strip()
    _run("witness", "add-log", "--vkey", log_vkey, "--data-dir", str(witness_dir))
    port = free_port()
    witness = subprocess.Popen(
        [*TIMESEAL, "witness", "serve", "--port", str(port), "--data-dir", str(witness_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        witness_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{witness_url}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        _run(
            "log",
            "add-witness",
            "--url",
            witness_url,
            "--vkey",
            witness_vkey,
            "--data-dir",
            str(data_dir),
        )
        with live_server(data_dir) as server, httpx.Client() as http:
            sizes = []
            for round_ in range(3):
                for i in range(5):
                    digest = hashlib.sha256(f"{round_}-{i}".encode()).digest()
                    http.post(
                        server.tsa_url,
                        content=build_request(digest).der,
                        headers={"Content-Type": "application/timestamp-query"},
                    )
                want = 5 * (round_ + 1)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    signed = parse_signed_checkpoint(
                        http.get(f"{server.url}/log/checkpoint").content
                    )
                    if signed.checkpoint.size == want and len(signed.note.signatures) == 2:
                        break
                    time.sleep(0.2)
                result = verify_checkpoint(
                    signed,
                    parse_verifier_key(log_vkey),
                    cosigners=[parse_verifier_key(witness_vkey)],
                    quorum=1,
                )
                assert signed.checkpoint.size == want
                assert result.ok, result.failed
                sizes.append(signed.checkpoint.size)
        assert sizes == [5, 10, 15]
    finally:
        witness.terminate()
        witness.wait(timeout=20)
