"""Offline → sync end to end, with real processes: ``timeseal capture file --upload`` against
a server that is not there queues the file; ``timeseal sync`` is ``kill -9``-ed as soon as its
upload has started; a second ``timeseal sync`` finishes it. Exactly one record, the token
verifies, the record carries the capture metadata, and the queue is empty."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from typer.testing import CliRunner

from tests.support.accounts import code_prompt_input, invoke_answering
from tests.support.server import TIMESEAL, free_port, live_server
from timeseal.cli.main import app
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder

pytestmark = pytest.mark.e2e

PHONE = "+8613812345678"
SIZE = 64 * 1024 * 1024 + 5


def test_offline_capture_then_a_killed_sync_then_sync(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_DATA_HOME": str(tmp_path / "share"),
        "LANG": "en_GB.UTF-8",
    }
    env.pop("TIMESEAL_SERVER", None)
    (tmp_path / "home").mkdir()
    video = tmp_path / "courier.mp4"
    with video.open("wb") as f:
        for i in range(SIZE // (1 << 20) + 1):
            f.write(hashlib.sha256(i.to_bytes(4, "big")).digest() * 32768)
        f.truncate(SIZE)
    sha = hashlib.sha256(video.read_bytes()).hexdigest()
    queue = tmp_path / "share" / "timeseal" / "queue"

    offline = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [*TIMESEAL, "capture", "file", str(video), "--server", offline, "--upload"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    (entry_file,) = queue.glob("*.json")

    with live_server(tmp_path / "data") as live:
        login = invoke_answering(
            CliRunner(env={k: env[k] for k in ("HOME", "XDG_CONFIG_HOME", "LANG")}),
            app,
            ["login", "--server", live.url, "--phone", PHONE],
            code_prompt_input(tmp_path / "data" / "sms-outbox.log", PHONE),
        )
        assert login.exit_code == 0, login.output
        token = json.loads((tmp_path / "xdg" / "timeseal" / "credentials.json").read_text())
        auth = {"Authorization": f"Bearer {token['servers'][live.url]['token']}"}

        sync = [*TIMESEAL, "sync", "--server", live.url]
        first = subprocess.Popen(sync, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first.poll() is None:
            try:
                entry = json.loads(entry_file.read_text())
            except (OSError, ValueError):
                entry = None
            if entry is not None and entry["items"][0]["upload_url"]:
                break
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert first.stdout is not None
        first.stdout.close()

        second = subprocess.run(sync, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
        assert list(queue.glob("*.json")) == []

        listed = httpx.get(f"{live.url}/api/v1/evidence", params={"limit": 500}, headers=auth)
        (record,) = [r for r in listed.json()["items"] if r["sha256"] == sha]
        detail = httpx.get(f"{live.url}/api/v1/evidence/{record['number']}", headers=auth).json()
        assert detail["capture"]["semantics"] == "existed_no_later_than"
        assert detail["capture"]["tsa_reachable_at_capture"] is False

        response = parse_response(video.with_name("courier.mp4.tsr").read_bytes())
        root = x509.load_pem_x509_certificate(live.root_pem.read_bytes())
        result = (
            TimestampVerifierBuilder().add_root(root).build().verify(response, bytes.fromhex(sha))
        )
        assert result.ok, result.failed
