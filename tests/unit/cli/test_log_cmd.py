"""``timeseal log verify`` and ``timeseal log receipt`` (timeseal.cli.log_cmd) with Typer's
CliRunner, against a fake platform on a real loopback HTTP server."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from tests.support.fake_log import ORIGIN, FakeLog, FakePlatform, entries, serve
from tests.support.pki import PKIFixture
from timeseal.capture.clients.log import parse_state
from timeseal.cli.log_cmd import default_state_path, register
from timeseal.cli.main import app as main_app
from timeseal.core.tlog import (
    SignatureType,
    format_verifier_key,
    generate_signer_key,
    parse_verifier_key,
)

app = typer.Typer()
register(app)
runner = CliRunner()


def run(*args: str | Path) -> Result:
    return runner.invoke(app, ["log", *map(str, args)])


@pytest.fixture
def platform(test_pki: PKIFixture) -> FakePlatform:
    return FakePlatform(FakeLog(entries(300)), test_pki)


@pytest.fixture
def url(platform: FakePlatform) -> Iterator[str]:
    with serve(platform) as base:
        yield base


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "state.json"


def test_first_run_trusts_on_first_use_and_pins(
    url: str, platform: FakePlatform, state: Path
) -> None:
    result = run("verify", "--server", url, "--state", state)
    assert result.exit_code == 0, result.output
    assert "TRUST ON FIRST USE" in result.stderr and "首次使用即信任" in result.stderr
    assert platform.log.vkey in result.stderr
    assert "结论 Result: 一致 CONSISTENT" in result.stdout
    assert "✓ [通过 pass] 日志全部条目可下载" in result.stdout
    pinned = parse_state(state.read_text())
    assert (pinned.vkey, pinned.size) == (platform.log.vkey, 300)

    platform.log.append(entries(50, 300))
    result = run("verify", "--server", url, "--state", state)
    assert result.exit_code == 0, result.output
    assert "TRUST ON FIRST USE" not in result.output
    assert "上次 Previous: 大小 size 300" in result.stdout
    assert "✓ [通过 pass] 日志只追加、未改写历史" in result.stdout
    assert parse_state(state.read_text()).size == 350


def test_rewritten_history_exits_1_and_keeps_the_state(
    url: str, platform: FakePlatform, state: Path
) -> None:
    assert run("verify", "--server", url, "--state", state).exit_code == 0
    before = state.read_text()
    platform.log = FakeLog(entries(400, tag="other"), key=platform.log.key)
    result = run("verify", "--server", url, "--state", state)
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "✗ [失败 FAIL] 日志只追加、未改写历史（一致性证明有效） / the log only appended" in out
    assert "history rewritten: the first 300 leaves now hash to" in out
    assert out.index("日志只追加") < out.index("history rewritten")  # 中文 first
    assert "状态未更新 State NOT updated" in out
    assert "结论 Result: 不一致 INCONSISTENT" in out
    assert state.read_text() == before


def test_tampered_tile_exits_1(url: str, platform: FakePlatform, state: Path) -> None:
    tile = platform.log.files["tile/0/000"]
    platform.log.files["tile/0/000"] = bytes([tile[0] ^ 1]) + tile[1:]
    result = run("verify", "--server", url, "--state", state, "--vkey", platform.log.vkey)
    assert result.exit_code == 1
    assert "✗ [失败 FAIL] 日志哈希瓦片完整" in result.stdout
    assert "tile/0/000 hash 0 (leaf 0) is" in result.stdout
    assert not state.exists()


def test_json(url: str, platform: FakePlatform, state: Path) -> None:
    result = run("verify", "--server", url, "--state", state, "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["consistent"] is True and body["trust_on_first_use"] is True
    assert body["log_key"] == platform.log.vkey
    assert body["checkpoint"] == {
        "origin": ORIGIN,
        "size": 300,
        "root_hash": platform.log.state.root_hash.hex(),
    }
    assert body["previous"] is None and body["state_updated"] is True
    assert body["fetched"]["entry_bundles"] == 2
    assert [c["check"] for c in body["checks"]] == [
        "checkpoint_origin",
        "checkpoint_signature",
        "log_tiles",
        "log_entries",
    ]

    platform.log.files = FakeLog(entries(200), key=platform.log.key).files  # rolled back
    result = run("verify", "--server", url, "--state", state, "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["consistent"] is False and body["state_updated"] is False
    failed = [c for c in body["checks"] if c["status"] == "fail"]
    assert [c["check"] for c in failed] == ["consistency_proof"]
    assert "shrank from 300 to 200" in failed[0]["detail"]
    assert failed[0]["title_zh"].startswith("日志只追加")


def test_vkey_inline_or_file(url: str, platform: FakePlatform, state: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "log.vkey"
    key_file.write_text(platform.log.vkey + "\n")
    result = run("verify", "--server", url, "--state", state, "--vkey", key_file)
    assert result.exit_code == 0, result.output
    assert "TRUST ON FIRST USE" not in result.output
    result = run("verify", "--server", url, "--state", state, "--vkey", platform.log.vkey)
    assert result.exit_code == 0, result.output


def test_another_log_key_fails_the_signature(url: str, state: Path) -> None:
    other = format_verifier_key(generate_signer_key(ORIGIN).verifier_key)
    result = run("verify", "--server", url, "--state", state, "--vkey", other)
    assert result.exit_code == 1
    assert "✗ [失败 FAIL] 日志检查点签名有效" in result.stdout


def test_usage_errors(url: str, platform: FakePlatform, state: Path) -> None:
    assert run("verify", "--server", url, "--vkey", "nonsense", "--state", state).exit_code == 2
    witness = format_verifier_key(
        generate_signer_key("w", SignatureType.COSIGNATURE_V1).verifier_key
    )
    as_log_key = run("verify", "--server", url, "--state", state, "--vkey", witness)
    assert as_log_key.exit_code == 2
    as_witness = run("verify", "--server", url, "--state", state, "--witness", platform.log.vkey)
    assert as_witness.exit_code == 2
    assert run("verify", "--server", url, "--state", state, "--quorum", "1").exit_code == 2
    assert not state.exists()

    assert run("verify", "--server", url, "--state", state).exit_code == 0
    other = format_verifier_key(generate_signer_key(ORIGIN).verifier_key)
    result = run("verify", "--server", url, "--state", state, "--vkey", other)
    assert result.exit_code == 2
    assert "is not the key pinned in" in result.stderr


def test_corrupt_state_is_a_usage_error_and_left_alone(url: str, state: Path) -> None:
    state.parent.mkdir(parents=True)
    state.write_text('{"format": "something else"}')
    result = run("verify", "--server", url, "--state", state)
    assert result.exit_code == 2
    assert "is not valid" in result.stderr
    assert state.read_text() == '{"format": "something else"}'


def test_witnesses(url: str, platform: FakePlatform, state: Path) -> None:

    from timeseal.core.tlog import cosign_checkpoint, format_signed_checkpoint

    witness = generate_signer_key("w.test", SignatureType.COSIGNATURE_V1)
    wkey = format_verifier_key(witness.verifier_key)
    result = run("verify", "--server", url, "--state", state, "--witness", wkey)
    assert result.exit_code == 1
    assert "✗ [失败 FAIL] 见证方联署签名有效且数量足够" in result.stdout
    # A witness that is down is not an inconsistent log: the verdict says what is missing.
    assert "INCONSISTENT" not in result.stdout
    assert "CONSISTENT, but missing cosignature from w.test" in result.stdout
    as_json = json.loads(
        run("verify", "--server", url, "--state", state, "--witness", wkey, "--json").stdout
    )
    assert as_json["consistent"] is True and as_json["witnessed"] is False
    assert as_json["missing_cosignatures"] == [witness.verifier_key.label]
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    cosigned = cosign_checkpoint(platform.log.checkpoint, witness, at=at)
    platform.log.files["checkpoint"] = format_signed_checkpoint(cosigned)
    result = run("verify", "--server", url, "--state", state, "--witness", wkey)
    assert result.exit_code == 0, result.output


def test_unreachable_server_or_no_log(tmp_path: Path, state: Path) -> None:
    with serve(FakePlatform(has_log=False)) as base:
        result = run("verify", "--server", base, "--state", state)
    assert result.exit_code == 1
    assert "无法审计日志 cannot audit the log" in result.stdout
    result = run("verify", "--server", base, "--state", state, "--json")  # now closed
    assert result.exit_code == 1
    assert json.loads(result.stdout)["consistent"] is False


def test_default_state_path(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    path = default_state_path(url)
    assert path.parent == tmp_path / "xdg" / "timeseal" / "log-audit"
    assert path.name == url.removeprefix("http://").replace(":", "_") + ".json"
    assert run("verify", "--server", url).exit_code == 0
    assert parse_state(path.read_text()).size == 300


def test_log_receipt_writes_the_receipt(
    url: str, platform: FakePlatform, tmp_path: Path, test_pki: PKIFixture
) -> None:
    evidence = tmp_path / "chat.png"
    evidence.write_bytes(b"screenshot")
    stamped = runner.invoke(main_app, ["stamp", str(evidence), "--server", url, "--no-receipt"])
    assert stamped.exit_code == 0, stamped.output
    assert not (tmp_path / "chat.png.tlog-proof").exists()
    result = run("receipt", evidence, "--server", url, "--log-key", platform.log.vkey)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "chat.png.tlog-proof").read_bytes().startswith(b"c2sp.org/tlog-proof@v1\n")
    assert "日志 log leaf 300 / size 301" in result.stdout

    assert run("receipt", tmp_path / "missing.png", "--server", url).exit_code == 2


def test_add_witness_checks_that_the_witness_answers_with_its_key(tmp_path: Path) -> None:
    from tests.support.accounts import serve_in_thread
    from tests.support.server import free_port
    from timeseal.server.runtime import datadir
    from timeseal.witness.server import DB_FILE, VKEY_FILE, create_witness_app, initialise
    from timeseal.witness.store import WitnessStore

    data_dir = tmp_path / "data"
    datadir.initialise(data_dir, now=dt.datetime.now(dt.UTC))
    origin = datadir.load_config(data_dir).log.origin
    log_vkey = parse_verifier_key((data_dir / "log" / "log.vkey").read_text().strip())
    witness_dir = tmp_path / "witness"
    initialise(witness_dir, name="witness.test/w1")
    wkey = (witness_dir / VKEY_FILE).read_text().strip()
    other = format_verifier_key(
        generate_signer_key("witness.test/w1", SignatureType.COSIGNATURE_V1).verifier_key
    )

    def add(url: str, vkey: str, *extra: str) -> Result:
        return run("add-witness", "--url", url, "--vkey", vkey, "--data-dir", data_dir, *extra)

    with serve_in_thread(create_witness_app(witness_dir)) as url:  # type: ignore[arg-type]
        wrong = add(url, other)
        assert wrong.exit_code == 2
        assert "not with the --vkey given" in wrong.stderr
        assert datadir.load_config(data_dir).log.witnesses == ()

        not_following = add(url, wkey)
        assert not_following.exit_code == 0, not_following.output
        assert f"does not follow {origin} yet" in not_following.stderr

        WitnessStore(witness_dir / DB_FILE).add_log(log_vkey, origin, now=dt.datetime.now(dt.UTC))
        following = add(url, wkey)
        assert following.exit_code == 0, following.output
        assert "does not follow" not in following.stderr
        assert "answers with key witness.test/w1" in following.stdout
    assert [w.url for w in datadir.load_config(data_dir).log.witnesses] == [url]

    nobody = f"http://127.0.0.1:{free_port()}"
    refused = add(nobody, wkey)
    assert refused.exit_code == 2
    assert "does not answer" in refused.stderr and "--no-check" in refused.stderr
    assert add(nobody, wkey, "--no-check").exit_code == 0
    assert len(datadir.load_config(data_dir).log.witnesses) == 2
