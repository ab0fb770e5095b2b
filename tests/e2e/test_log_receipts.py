"""A real ``timeseal serve``: stamp files with the CLI (FILE.tsr and FILE.tlog-proof), audit
the log with ``timeseal log verify`` and check the receipts offline with ``timeseal verify``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from tests.support.server import LiveServer
from timeseal.cli import main
from timeseal.cli.log_cmd import register

pytestmark = pytest.mark.e2e

runner = CliRunner()
log_app = typer.Typer()  # `timeseal log …`, whether or not main.py registers it yet
register(log_app)


def cli(app: typer.Typer, *args: str | Path) -> Result:
    return runner.invoke(app, list(map(str, args)))


def test_stamp_audit_and_verify_receipts(server: LiveServer, tmp_path: Path) -> None:
    vkey = server.data_dir / "log" / "log.vkey"
    state = tmp_path / "audit.json"
    files = []
    for name in ("order.png", "chat.mp4"):
        path = tmp_path / name
        path.write_bytes(f"evidence {name}".encode())
        files.append(path)

    result = cli(main.app, "stamp", files[0], "--server", server.url, "--log-key", vkey)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "order.png.tlog-proof").exists()

    result = cli(log_app, "log", "verify", "--server", server.url, "--state", state, "--vkey", vkey)
    assert result.exit_code == 0, result.output
    first = json.loads(state.read_text())

    result = cli(main.app, "stamp", files[1], "--server", server.url)  # key from /log/vkey
    assert result.exit_code == 0, result.output
    result = cli(log_app, "log", "verify", "--server", server.url, "--state", state, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["consistent"] is True and body["trust_on_first_use"] is False
    assert body["previous"]["size"] == first["size"] < body["checkpoint"]["size"]
    assert {c["check"]: c["status"] for c in body["checks"]}["consistency_proof"] == "pass"

    for path in files:
        result = cli(main.app, "verify", path, "--ca", server.root_pem, "--log-key", vkey, "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["valid"] is True and report["receipt"]["checked"] is True
        checks = {c["check"]: c["status"] for c in report["checks"]}
        assert checks["imprint_matches"] == checks["inclusion_proof"] == "pass"

    # An edited file fails (its imprint), whatever its receipt says.
    (tmp_path / "chat.mp4").write_bytes(b"edited")
    result = cli(main.app, "verify", files[1], "--ca", server.root_pem, "--log-key", vkey)
    assert result.exit_code == 1
