"""`timeseal tsa use-key`: a TSA key and chain made by openssl, used by a real server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.openssl import make_openssl_tsa
from tests.support.server import live_server
from timeseal.cli.data_dir import utc_now
from timeseal.cli.main import app
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import PKIStatus, parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.server.runtime import datadir

pytestmark = pytest.mark.interop


def test_own_key_and_chain_sign_the_servers_tokens(tmp_path: Path) -> None:
    ca = make_openssl_tsa(tmp_path / "openssl")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(ca.tsa_pem.read_bytes() + ca.root_pem.read_bytes())
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=utc_now())
    result = CliRunner().invoke(
        app,
        [
            "tsa",
            "use-key",
            "--key",
            str(ca.tsa_key),
            "--chain",
            str(chain),
            "--data-dir",
            str(data_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (data_dir / "pki" / "tsa-own.key").stat().st_mode & 0o077 == 0
    digest = hashlib.sha256(b"own key").digest()
    with live_server(data_dir) as server:
        reply = httpx.post(
            server.tsa_url,
            content=build_request(digest, nonce=5).der,
            headers={"Content-Type": "application/timestamp-query"},
        )
    response = parse_response(reply.content)
    assert response.status is PKIStatus.GRANTED
    assert response.token is not None
    assert response.token.certificates[0] == ca.tsa_certificate
    verifier = TimestampVerifierBuilder().add_root(ca.root).nonce(5).build()
    assert verifier.verify(response, digest).ok


def test_a_key_that_does_not_match_the_chain_is_refused(tmp_path: Path) -> None:
    ca = make_openssl_tsa(tmp_path / "a")
    other = make_openssl_tsa(tmp_path / "b")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(ca.tsa_pem.read_bytes() + ca.root_pem.read_bytes())
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=utc_now())
    before = (data_dir / "config.json").read_bytes()
    result = CliRunner().invoke(
        app,
        [
            "tsa",
            "use-key",
            "--key",
            str(other.tsa_key),
            "--chain",
            str(chain),
            "--data-dir",
            str(data_dir),
        ],
    )
    assert result.exit_code == 2
    assert "does not match" in result.output
    assert (data_dir / "config.json").read_bytes() == before
