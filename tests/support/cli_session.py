"""The CLI against a real ``timeseal serve``, for the CLI's tests: a server and the CLI logged
in to it by SMS code, in a private environment (HOME and the XDG directories); files of any
size to upload; and an httpx transport that breaks uploads part way, so an interruption comes
from the network and never from monkeypatching."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from tests.support.accounts import code_prompt_input, invoke_answering
from tests.support.server import LiveServer, live_server


@dataclass(frozen=True)
class LoggedCli:
    """A server and the API token the CLI stored for it, with the environment the CLI runs in
    (None: the variable is unset)."""

    live: LiveServer
    token: str
    env: dict[str, str | None]

    @property
    def url(self) -> str:
        return self.live.url

    @property
    def queue(self) -> Path:
        """The offline capture queue, under the environment's ``XDG_DATA_HOME``."""
        return Path(str(self.env["XDG_DATA_HOME"])) / "timeseal" / "queue"


@contextmanager
def logged_cli(
    cli: typer.Typer, root: Path, phone: str, *, data_home: bool = False
) -> Iterator[LoggedCli]:
    """A server on ``root / "data"`` and ``cli`` logged in to it (``timeseal login``, the code
    read from the dev SMS outbox), with HOME and XDG_CONFIG_HOME (and XDG_DATA_HOME, with
    ``data_home``) under ``root``."""
    (root / "home").mkdir()
    env: dict[str, str | None] = {
        "HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "xdg"),
        **({"XDG_DATA_HOME": str(root / "data-home")} if data_home else {}),
        "TIMESEAL_SERVER": None,
        "LANG": "en_GB.UTF-8",
    }
    with live_server(root / "data") as live:
        result = invoke_answering(
            CliRunner(env=env),
            cli,
            ["login", "--server", live.url, "--phone", phone],
            code_prompt_input(root / "data" / "sms-outbox.log", phone),
        )
        assert result.exit_code == 0, result.output
        credentials = Path(str(env["XDG_CONFIG_HOME"])) / "timeseal" / "credentials.json"
        stored = json.loads(credentials.read_text())
        yield LoggedCli(live, stored["servers"][live.url]["token"], env)


def use_env(env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's environment for this process too, for library calls a test makes directly."""
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


def payload(size: int, seed: int) -> bytes:
    """``size`` bytes, the same for the same ``seed``, different for another."""
    block = hashlib.sha256(seed.to_bytes(8, "big")).digest()
    return (block * (size // 32 + 1))[:size]


class FailingTransport(httpx.BaseTransport):
    """Passes requests to a real transport until ``limit`` PATCH body bytes have gone through;
    then every PATCH that would pass it fails ``failures`` times (by default: always) as a
    broken connection."""

    def __init__(self, limit: int, failures: int = 1_000_000) -> None:
        self.inner = httpx.HTTPTransport()
        self.limit = limit
        self.failures = failures
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            size = len(request.content)
            if self.sent + size > self.limit and self.failures > 0:
                self.failures -= 1
                raise httpx.WriteError("connection reset (simulated)", request=request)
            self.sent += size
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
