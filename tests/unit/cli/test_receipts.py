"""``timeseal stamp`` writing FILE.tlog-proof and ``timeseal verify`` checking it offline,
with Typer's CliRunner against a fake platform (TSA + log) on a loopback HTTP server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner, Result

from tests.support.fake_log import ORIGIN, FakeLog, FakePlatform, entries, serve
from tests.support.pki import PKIFixture
from timeseal.cli import main
from timeseal.cli import settings as cli_settings
from timeseal.core.tlog import format_verifier_key, generate_signer_key

runner = CliRunner()


def cli(*args: str | Path) -> Result:
    return runner.invoke(main.app, list(map(str, args)))


@pytest.fixture
def platform(test_pki: PKIFixture) -> FakePlatform:
    return FakePlatform(FakeLog(entries(20)), test_pki)


@pytest.fixture
def url(platform: FakePlatform) -> Iterator[str]:
    with serve(platform) as base:
        yield base


@pytest.fixture
def root(tmp_path: Path, test_pki: PKIFixture) -> Path:
    path = tmp_path / "root.pem"
    path.write_bytes(test_pki.root.certificate.public_bytes(Encoding.PEM))
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, so that ./timeseal-data (the default data directory) is
    whatever the test puts there."""
    if cli_settings.data_dir_from_env().is_absolute():
        pytest.skip("TIMESEAL_DATA_DIR is set to an absolute path")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def evidence(directory: Path, name: str = "contract.pdf", data: bytes = b"%PDF-1.7") -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def test_stamp_writes_a_receipt_that_verify_checks(
    url: str, platform: FakePlatform, root: Path, workdir: Path
) -> None:
    a, b = evidence(workdir, "a.txt", b"a"), evidence(workdir, "b.txt", b"b")
    result = cli("stamp", a, b, "--server", url)
    assert result.exit_code == 0, result.output
    assert "a.txt.tlog-proof  日志 log leaf 20 / size 22" in result.stdout
    assert (workdir / "b.txt.tlog-proof").exists()

    result = cli("verify", a, "--ca", root, "--log-key", platform.log.vkey)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"回执 Receipt: {a}.tlog-proof" in out
    assert f"日志 Log: {ORIGIN}, 条目 leaf 20 / 大小 size 22" in out
    assert (
        "✓ [通过 pass] 记录已收录于公开日志（包含证明有效） / the record is in the public log"
        in out
    )
    assert "结论 Result: 有效 VALID" in out

    result = cli("verify", b, "--ca", root, "--log-key", platform.log.vkey, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["valid"] is True
    assert body["receipt"]["checked"] is True and body["receipt"]["leaf_index"] == 21
    assert body["receipt"]["checkpoint"]["size"] == 22
    checks = {c["check"]: c["status"] for c in body["checks"]}
    assert checks["imprint_matches"] == "pass"
    assert checks["checkpoint_signature"] == checks["inclusion_proof"] == "pass"


def test_verify_refuses_bad_receipts(
    url: str, platform: FakePlatform, root: Path, workdir: Path
) -> None:
    a, b = evidence(workdir, "a.txt", b"a"), evidence(workdir, "b.txt", b"b")
    assert cli("stamp", a, b, "--server", url).exit_code == 0
    key = platform.log.vkey
    receipt = workdir / "a.txt.tlog-proof"
    good = receipt.read_bytes()

    # A flipped proof hash.
    lines = good.split(b"\n")
    lines[2] = base64.b64encode(bytes([base64.b64decode(lines[2])[0] ^ 1]) + bytes(31))
    receipt.write_bytes(b"\n".join(lines))
    result = cli("verify", a, "--ca", root, "--log-key", key)
    assert result.exit_code == 1
    assert "✗ [失败 FAIL] 记录已收录于公开日志" in result.stdout
    assert "结论 Result: 无效 INVALID" in result.stdout

    # b's receipt for a's token.
    result = cli("verify", a, "--ca", root, "--log-key", key, "--receipt", f"{b}.tlog-proof")
    assert result.exit_code == 1
    assert "root mismatch" in result.stdout

    # Another log's key.
    receipt.write_bytes(good)
    other = format_verifier_key(generate_signer_key(ORIGIN).verifier_key)
    result = cli("verify", a, "--ca", root, "--log-key", other, "--json")
    assert result.exit_code == 1
    failed = [c["check"] for c in json.loads(result.stdout)["checks"] if c["status"] == "fail"]
    assert failed == ["checkpoint_signature"]

    # Not a receipt at all.
    receipt.write_bytes(b"c2sp.org/tlog-proof@v1\nindex 01\n\nx\n")
    result = cli("verify", a, "--ca", root, "--log-key", key)
    assert result.exit_code == 1
    assert "回执无效 the receipt is invalid" in result.stdout
    result = cli("verify", a, "--ca", root, "--log-key", key, "--json")
    body = json.loads(result.stdout)
    assert body["valid"] is False and body["receipt"]["error"] == "malformed_receipt"


def test_receipt_without_a_log_key(
    url: str, platform: FakePlatform, root: Path, workdir: Path
) -> None:
    a = evidence(workdir)
    assert cli("stamp", a, "--server", url).exit_code == 0
    # Present next to the file but no key anywhere: reported as not checked, still valid.
    result = cli("verify", a, "--ca", root)
    assert result.exit_code == 0, result.output
    assert "回执未检查 receipt NOT CHECKED" in result.stdout and "--log-key" in result.stdout
    body = json.loads(cli("verify", a, "--ca", root, "--json").stdout)
    assert body["valid"] is True and body["receipt"]["checked"] is False
    assert "inclusion_proof" not in {c["check"] for c in body["checks"]}
    # Asked for explicitly: a usage error.
    result = cli("verify", a, "--ca", root, "--receipt", f"{a}.tlog-proof")
    assert result.exit_code == 2
    assert "--log-key" in result.stderr
    # The local data directory's log/log.vkey is the default key.
    (workdir / "timeseal-data" / "log").mkdir(parents=True)
    (workdir / "timeseal-data" / "log" / "log.vkey").write_text(platform.log.vkey + "\n")
    result = cli("verify", a, "--ca", root, "--receipt", f"{a}.tlog-proof")
    assert result.exit_code == 0, result.output
    assert "✓ [通过 pass] 日志检查点签名有效" in result.stdout


def test_verify_usage_errors(url: str, root: Path, workdir: Path) -> None:
    a = evidence(workdir)
    assert cli("stamp", a, "--server", url).exit_code == 0
    assert cli("verify", a, "--ca", root, "--log-key", "nonsense").exit_code == 2
    missing = workdir / "missing.tlog-proof"
    assert cli("verify", a, "--ca", root, "--receipt", missing, "--log-key", "x").exit_code == 2


def test_stamp_no_receipt(url: str, platform: FakePlatform, workdir: Path) -> None:
    a = evidence(workdir)
    result = cli("stamp", a, "--server", url, "--no-receipt")
    assert result.exit_code == 0
    assert (workdir / "contract.pdf.tsr").exists()
    assert not (workdir / "contract.pdf.tlog-proof").exists()
    assert not [r for r in platform.requests if "/log" in r]


def test_stamp_against_a_server_without_a_log(test_pki: PKIFixture, workdir: Path) -> None:
    a = evidence(workdir)
    with serve(FakePlatform(pki=test_pki, has_log=False)) as base:
        default = cli("stamp", a, "--server", base)
        explicit = cli("stamp", a, "--server", base, "--receipt")
    assert default.exit_code == 0, default.output
    assert "the server has no log" in default.stderr
    assert explicit.exit_code == 1
    assert (workdir / "contract.pdf.tsr").exists()
    assert not (workdir / "contract.pdf.tlog-proof").exists()


def test_stamp_when_the_log_does_not_integrate_in_time(
    url: str, platform: FakePlatform, workdir: Path
) -> None:
    platform.sequence_after = None
    a = evidence(workdir)
    result = cli("stamp", a, "--server", url, "--receipt-wait", "0.3")
    assert result.exit_code == 0, result.output
    assert "not in the log within 0.3 s" in result.stderr
    assert "timeseal log receipt" in result.stderr
    assert (workdir / "contract.pdf.tsr").exists()
    assert not (workdir / "contract.pdf.tlog-proof").exists()


def test_stamp_with_a_pinned_key_that_the_log_does_not_use(url: str, workdir: Path) -> None:
    a = evidence(workdir)
    other = format_verifier_key(generate_signer_key(ORIGIN).verifier_key)
    result = cli("stamp", a, "--server", url, "--log-key", other)
    assert result.exit_code == 1
    assert "the log's receipt is invalid" in result.stderr
    assert (workdir / "contract.pdf.tsr").exists()
    assert not (workdir / "contract.pdf.tlog-proof").exists()
    assert cli("stamp", a, "--server", url, "--log-key", "nonsense").exit_code == 2
