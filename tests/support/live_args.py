"""A real ``timeseal serve`` with extra command-line options (``tests.support.server`` starts
it with the fixed ones only)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import LiveServer, free_port, serve_argv, wait_ready

#: Two workers, the journal and the sequencer starting on a machine busy with other tests
#: can take longer than the minute ``tests.support.server`` waits.
READY_TIMEOUT = 180.0


@contextmanager
def live_server_with(
    data_dir: Path,
    args: Sequence[str],
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """``timeseal serve … ARGS`` on a free loopback port until the block ends; its output in
    ``server-<port>.log`` beside the data directory."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / f"server-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [*serve_argv(data_dir, port, workers), *args],
            env={**os.environ, **(env or {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                wait_ready(url, process, timeout=READY_TIMEOUT)
            except RuntimeError as exc:
                output = log_path.read_text()[-3000:]
                raise RuntimeError(f"{exc}; server output:\n{output}") from None
            yield LiveServer(url=url, data_dir=data_dir, process=process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
