"""`timeseal tsa journal` lists every issued token, as the journal recorded it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.support.accounts import server_database_url
from timeseal.cli.main import app
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import parse_response
from timeseal.server.app import ServerSettings, create_app
from timeseal.server.runtime import datadir
from timeseal.server.tsa.clock import LocalSource


def test_journal_lists_every_token(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=dt.datetime.now(dt.UTC))
    tokens = []
    with TestClient(
        create_app(ServerSettings(data_dir, LocalSource(), database_url=server_database_url()))
    ) as client:
        for i in range(3):
            digest = hashlib.sha256(bytes([i])).digest()
            reply = client.post(
                "/tsa",
                content=build_request(digest).der,
                headers={"Content-Type": "application/timestamp-query"},
            )
            token = parse_response(reply.content).token
            assert token is not None
            tokens.append(token)
    result = CliRunner().invoke(app, ["tsa", "journal", "--data-dir", str(data_dir), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["serial_number"] for r in rows] == [
        format(t.tst_info.serial_number, "x") for t in tokens
    ]
    assert [r["token_sha256"] for r in rows] == [hashlib.sha256(t.der).hexdigest() for t in tokens]
    assert rows[0]["gen_time"] == tokens[0].tst_info.gen_time.isoformat()
