"""``timeseal init`` prints the root's SHA-256 fingerprint, exactly as OpenSSL prints it, so an
operator can publish it and a reader can compare the root a package or VERIFY.md trusts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from timeseal.cli.main import app


def test_init_prints_the_root_fingerprint_as_openssl_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIMESEAL_DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    result = CliRunner().invoke(app, ["init", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.stdout.splitlines() if x.startswith("root SHA-256 fingerprint ")]
    printed = line.rsplit(" ", 1)[1]
    openssl = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", data_dir / "pki/root.pem"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert openssl.stdout.strip() == f"sha256 Fingerprint={printed}"
    again = CliRunner().invoke(app, ["init", "--data-dir", str(data_dir)])  # idempotent
    assert line in again.stdout
