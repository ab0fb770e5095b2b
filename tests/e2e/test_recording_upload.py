"""``timeseal capture camera --upload``: a recording streamed to the vault as it is recorded.

Real ffmpeg (lavfi), a real ``timeseal serve``, a real login:

1. a normal stop ends as a sealed evidence item whose package verifies, and the server's
   chain links are the local ``chain.jsonl``'s;
2. ``kill -9`` mid-recording: the server holds every segment it got, sealed, and its
   ``chain.zip`` verifies as cut off there;
3. the server stopped mid-recording: the recording goes on; restarted, ``timeseal sync``
   sends the rest and finishes it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.accounts import code_prompt_input, invoke_answering
from tests.support.server import (
    TIMESEAL,
    LiveServer,
    free_port,
    live_server,
    start_detached,
    wait_ready,
)
from timeseal.cli.main import app
from timeseal.core.segment_chain import parse_segment_chain

pytestmark = pytest.mark.e2e

PHONE = "+8613812345678"


@dataclass(frozen=True)
class Person:
    """A logged-in CLI user: their environment (config, queue) and API headers."""

    env: dict[str, str]
    auth: dict[str, str]


def log_in(tmp_path: Path, url: str, data_dir: Path) -> Person:
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_DATA_HOME": str(tmp_path / "share"),
        "LANG": "en_GB.UTF-8",
    }
    env.pop("TIMESEAL_SERVER", None)
    (tmp_path / "home").mkdir(exist_ok=True)
    login = invoke_answering(
        CliRunner(env={k: env[k] for k in ("HOME", "XDG_CONFIG_HOME", "LANG")}),
        app,
        ["login", "--server", url, "--phone", PHONE],
        code_prompt_input(data_dir / "sms-outbox.log", PHONE),
    )
    assert login.exit_code == 0, login.output
    token = json.loads((tmp_path / "xdg" / "timeseal" / "credentials.json").read_text())
    return Person(env, {"Authorization": f"Bearer {token['servers'][url]['token']}"})


def camera(url: str, out: Path, *extra: str) -> list[str]:
    return [
        *TIMESEAL, "capture", "camera", "--lavfi", "testsrc=size=320x240", "--fps", "10",
        "--segment-seconds", "1", "--server", url, "-o", str(out), "--upload", *extra,
    ]  # fmt: skip


def local_links(directory: Path) -> list[str]:
    chain = parse_segment_chain((directory / "chain.jsonl").read_bytes())
    return [r.link.hex() for r in chain.segments]


def server_chain(url: str, rid: str, person: Person, into: Path) -> Path:
    reply = httpx.get(f"{url}/api/v1/recordings/{rid}/chain.zip", headers=person.auth, timeout=60)
    assert reply.status_code == 200, reply.text
    archive = into.with_suffix(".zip")
    archive.write_bytes(reply.content)
    with zipfile.ZipFile(archive) as z:
        z.extractall(into)
    return into


def verify(path: Path, server: LiveServer | Path) -> tuple[int, dict[str, Any]]:
    root = server.root_pem if isinstance(server, LiveServer) else server
    done = subprocess.run(
        [*TIMESEAL, "verify", str(path), "--ca", str(root), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)


def package(url: str, number: str, person: Person, into: Path) -> Path:
    """The evidence package, once its item is in the log."""
    deadline = time.monotonic() + 60
    while True:
        reply = httpx.get(
            f"{url}/api/v1/evidence/{number}/package", headers=person.auth, timeout=60
        )
        if reply.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert reply.status_code == 200, reply.text
    into.write_bytes(reply.content)
    return into


def recording_id(directory: Path) -> str:
    rid: str = json.loads((directory / "capture-start.json").read_text())["recording_id"]
    return rid


def status(url: str, rid: str, person: Person) -> dict[str, Any] | None:
    reply = httpx.get(f"{url}/api/v1/recordings/{rid}", headers=person.auth, timeout=10)
    return reply.json() if reply.status_code == 200 else None


def wait_for_chunks(url: str, directory: Path, person: Person, chunks: int) -> dict[str, Any]:
    """The server's status once it has at least ``chunks`` segments of the recording."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if (directory / "capture-start.json").is_file():
            found = status(url, recording_id(directory), person)
            if found is not None and found["chunks"] >= chunks:
                return found
        time.sleep(0.2)
    raise AssertionError(f"the server never had {chunks} segments")


def test_a_logged_in_recording_streams_and_ends_as_sealed_evidence(tmp_path: Path) -> None:
    with live_server(tmp_path / "data") as server:
        person = log_in(tmp_path, server.url, server.data_dir)
        out = tmp_path / "courier"
        done = subprocess.run(
            camera(server.url, out, "--duration", "6", "--location", "31.2304,121.4737"),
            env=person.env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        rid = recording_id(out)
        state = status(server.url, rid, person)
        assert state is not None and state["state"] == "finished", state
        links = local_links(out)
        assert state["chunks"] == len(links) >= 4
        assert f"evidence {state['evidence']}" in done.stdout

        # The server chained the same bytes from the same id: the same links.
        chain = server_chain(server.url, rid, person, tmp_path / "server-chain")
        assert local_links(chain) == links
        assert (chain / "recording.ts").is_file()
        code, report = verify(chain, server)
        assert code == 0 and report["finished"] is True, report

        # The evidence item is the streamed recording, once (no after-the-fact upload).
        detail = httpx.get(
            f"{server.url}/api/v1/evidence/{state['evidence']}", headers=person.auth
        ).json()
        assert detail["kind"] == "video" and detail["media_type"] == "video/mp2t"
        assert detail["capture"]["location"] == {
            "lat": "31.2304",
            "lon": "121.4737",
            "accuracy_m": None,
        }
        assert detail["capture"]["source"]["kind"] == "timeseal-cli"
        listed = httpx.get(f"{server.url}/api/v1/evidence", headers=person.auth).json()
        assert [r["number"] for r in listed["items"]] == [state["evidence"]]
        zipped = package(server.url, state["evidence"], person, tmp_path / "package.zip")
        code, report = verify(zipped, server)
        assert code == 0, report
        # Nothing is left for `timeseal sync`.
        assert list((tmp_path / "share" / "timeseal" / "queue").rglob("*.json")) == []
        # The local recording verifies too, as before.
        code, report = verify(out, server)
        assert code == 0 and report["finished"] is True, report


def test_kill_9_leaves_the_server_recording_sealed_through_the_last_segment(
    tmp_path: Path,
) -> None:
    with live_server(tmp_path / "data") as server:
        person = log_in(tmp_path, server.url, server.data_dir)
        out = tmp_path / "cut"
        with (tmp_path / "recorder.log").open("wb") as log:
            recorder = subprocess.Popen(
                camera(server.url, out), env=person.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_for_chunks(server.url, out, person, 3)
        finally:
            recorder.send_signal(signal.SIGKILL)
            recorder.wait()
        rid = recording_id(out)
        deadline = time.monotonic() + 30  # a chunk in flight when it died is sealed by then
        while True:
            state = status(server.url, rid, person)
            assert state is not None and state["state"] == "recording"
            if state["sealed_through"] == state["chunks"] - 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        chunks = state["chunks"]
        assert chunks >= 3 and state["sealed_through"] == chunks - 1

        chain = server_chain(server.url, rid, person, tmp_path / "server-chain")
        assert local_links(chain) == local_links(out)[:chunks]
        code, report = verify(chain, server)
        # Cut off by the kill: everything sealed verifies, and the verdict says incomplete.
        assert code == 3 and report["verdict"] == "incomplete", report
        assert report["finished"] is False and report["sealed_through"] == chunks - 1


@contextmanager
def detached_server(data_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = start_detached(data_dir, port, workers=1)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def test_a_server_stopped_mid_recording_gets_the_rest_from_sync(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    out = tmp_path / "offline"
    with detached_server(data_dir, port) as first:
        person = log_in(tmp_path, url, data_dir)
        with (tmp_path / "recorder.log").open("wb") as log:
            recorder = subprocess.Popen(
                camera(url, out, "--duration", "12"),
                env=person.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_chunks(url, out, person, 2)
        first.terminate()
        first.wait(timeout=30)
    # The end link could not be sealed: queued, not failed (exit 0 with a notice); sync owes it.
    assert recorder.wait(timeout=180) == 0
    output = (tmp_path / "recorder.log").read_text()
    assert "`timeseal sync` sends the rest" in output, output
    assert "已排队 queued" in output and "run `timeseal sync` later" in output, output
    links = local_links(out)
    assert len(links) >= 8

    with detached_server(data_dir, port):
        root = data_dir / "pki" / "root.pem"
        rid = recording_id(out)
        before = status(url, rid, person)
        assert before is not None and 2 <= before["chunks"] < len(links)
        sync = subprocess.run(
            [*TIMESEAL, "sync"], env=person.env, capture_output=True, text=True, timeout=300
        )
        assert sync.returncode == 0, sync.stdout + sync.stderr
        after = status(url, rid, person)
        assert after is not None and after["state"] == "finished", after
        assert after["chunks"] == len(links)
        chain = server_chain(url, rid, person, tmp_path / "server-chain")
        assert local_links(chain) == links
        code, report = verify(chain, root)
        assert code == 0 and report["finished"] is True, report
        code, report = verify(out, root)  # the local end link was sealed by the sync too
        assert code == 0 and report["finished"] is True, report
        again = subprocess.run(
            [*TIMESEAL, "sync"], env=person.env, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0 and "Nothing is queued" in again.stdout, again.stdout
