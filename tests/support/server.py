"""A real ``timeseal serve`` process on a free loopback port, for interop and e2e tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

TIMESEAL = [sys.executable, "-m", "timeseal.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def root_pem(self) -> Path:
        return self.data_dir / "pki" / "root.pem"

    @property
    def tsa_url(self) -> str:
        return f"{self.url}/tsa"


def serve_argv(data_dir: Path, port: int, workers: int, clock_source: str = "local") -> list[str]:
    """The ``timeseal serve`` command line the tests start."""
    return [
        *TIMESEAL,
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
        "--clock-source",
        clock_source,
    ]


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


@contextmanager
def live_server(
    data_dir: Path,
    *,
    workers: int = 1,
    clock_source: str = "local",
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[LiveServer]:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / f"server-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        serve_argv(data_dir, port, workers, clock_source),
        env={**os.environ, **(env or {})},
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        try:
            wait_ready(url, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; server output:\n{log_path.read_text()[-3000:]}") from None
        yield LiveServer(url=url, data_dir=data_dir, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()


def start_detached(
    data_dir: Path, port: int, *, workers: int = 2, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``timeseal serve`` in its own process group, so that :func:`kill_hard` can kill the
    supervisor and every worker at once, as a power cut would.

    Output of every start goes to ``server-<port>.log`` beside the data directory (appended),
    so that a failure can be read afterwards."""
    with open(data_dir.parent / f"server-{port}.log", "ab") as log_file:
        return subprocess.Popen(
            serve_argv(data_dir, port, workers),
            env={**os.environ, **(env or {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group: no shutdown code runs anywhere."""
    import signal

    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_sequenced(server: LiveServer, number: str, timeout: float = 30) -> None:
    """Until the log has sequenced the record ``number`` (its public facts say so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        facts = httpx.get(f"{server.url}/api/v1/public/evidence/{number}").json()
        if facts["log"]["sequenced"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"{number} was not sequenced")
