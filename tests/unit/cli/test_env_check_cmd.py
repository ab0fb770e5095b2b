"""``timeseal env-check`` through Typer's CliRunner: a real HTTPS site with a test CA, a real
``timeseal serve`` for the clock, and exit codes 0 / 1 / 2."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.support.server import LiveServer
from tests.support.tls_site import SiteCA, https_server, make_test_ca
from tests.support.xvfb import root_window_claiming, xvfb_display
from timeseal.cli.main import app

runner = CliRunner()


def no_floats(text: str) -> float:
    raise AssertionError(f"float {text} in the report")


def env_check(*args: object) -> Result:
    return runner.invoke(app, ["env-check", *map(str, args)])


@pytest.fixture(autouse=True)
def no_proxy_and_no_targets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The command reads the real environment: keep the developer's proxies and known-targets
    file out of it."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteCA, int]]:
    ca = make_test_ca(tmp_path_factory.mktemp("tls"), dns=("localhost",))
    with https_server(ca) as port:
        yield ca, port


@pytest.fixture
def hosts(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1 localhost\n::1 localhost\n")
    return path


def test_json_report_for_a_trusted_site_and_a_live_server(
    site: tuple[SiteCA, int], hosts: Path, server: LiveServer, tmp_path: Path
) -> None:
    ca, port = site
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"targets": [{"name": "本地商店", "domain": "localhost"}]}))
    url = f"https://localhost:{port}/"
    result = env_check(
        "--target", url, "--server", server.url, "--ca-file", ca.root_pem,
        "--hosts-file", hosts, "--targets", targets, "--profile", tmp_path / "fresh", "--json",
    )  # fmt: skip
    body = json.loads(result.stdout)
    statuses = {f["name"]: f["status"] for f in body["findings"]}
    assert statuses["clock_offset"] == "pass"
    for name in ("proxy_settings", "hosts_entries", "dns_answers", "tls_chain", "browser_profile"):
        assert statuses[name] == "pass", body
    assert body["skipped"] == [] and body["forced"] is False
    assert result.exit_code == (1 if body["overall"] == "fail" else 0)
    tls = next(f for f in body["findings"] if f["name"] == "tls_chain")
    assert [c["subject"] for c in tls["evidence"]["chain"]] == [
        ca.leaf.subject.rfc4514_string(),
        ca.intermediate.subject.rfc4514_string(),
    ]
    assert body["target_verification"]["status"] == "verified"
    assert body["target_verification"]["matched_target"] == "本地商店"
    # Integers only: canonical capture metadata has no floats.
    json.loads(result.stdout, parse_float=no_floats)


def test_untrusted_site_fails_with_exit_1(site: tuple[SiteCA, int], hosts: Path) -> None:
    _, port = site
    result = env_check("--target", f"https://localhost:{port}/", "--hosts-file", hosts)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    tls = next(i for i, line in enumerate(lines) if "[tls_chain]" in line)
    assert lines[tls].startswith("✗ 证书链 TLS chain [tls_chain]: 证书链未通过验证")
    assert lines[tls + 1].strip().startswith("the certificate chain does not validate")
    assert "北京时间 (UTC+8) |" in result.stdout and " UTC" in result.stdout
    assert "结论 Result: 未通过 FAIL" in result.stdout
    assert "应用验真 Target verification: 未验证 UNVERIFIED" in result.stdout


def test_hosts_override_and_proxy_are_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 shop.example\n")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    result = env_check("--target", "https://shop.example/", "--hosts-file", hosts, "--json")
    assert result.exit_code == 1
    findings = {f["name"]: f for f in json.loads(result.stdout)["findings"]}
    assert findings["hosts_entries"]["status"] == "fail"
    assert findings["proxy_settings"]["status"] == "fail"
    assert findings["dns_answers"]["evidence"]["hosts_file_addresses"] == ["127.0.0.1"]


def test_without_target_or_server_the_network_checks_are_skipped(tmp_path: Path) -> None:
    result = env_check("--json")
    body = json.loads(result.stdout)
    assert body["skipped"] == [
        "clock_offset",
        "hosts_entries",
        "dns_answers",
        "tls_chain",
        "browser_profile",
    ]
    assert result.exit_code == (1 if body["overall"] == "fail" else 0)
    assert "target_verification" not in body
    human = env_check()
    assert "- 未检查 Not checked: clock_offset, hosts_entries" in human.stdout


def test_a_process_is_identified_with_pid_and_targets(tmp_path: Path) -> None:
    exe = os.path.realpath(sys.executable)
    sha = hashlib.sha256(Path(exe).read_bytes()).hexdigest()
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"targets": [{"name": "Python", "sha256": sha}]}))
    result = env_check("--pid", os.getpid(), "--targets", targets, "--json")
    verification = json.loads(result.stdout)["target_verification"]
    assert verification["kind"] == "desktop" and verification["status"] == "verified"
    assert verification["identity"]["process"]["sha256"] == sha
    human = env_check("--pid", os.getpid(), "--targets", targets)
    assert "应用验真 Target verification: 已验证 VERIFIED" in human.stdout


def test_a_window_is_identified_on_a_real_x_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = hashlib.sha256(Path(os.path.realpath(sys.executable)).read_bytes()).hexdigest()
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"targets": [{"name": "Python", "sha256": sha}]}))
    with xvfb_display() as display:
        window_id = root_window_claiming(display, os.getpid())
        monkeypatch.setenv("DISPLAY", display)  # xprop finds the X server there
        result = env_check("--window", hex(window_id), "--targets", targets, "--json")
    verification = json.loads(result.stdout)["target_verification"]
    assert verification["status"] == "verified", verification
    assert verification["identity"]["window"]["claimed_pid"] == os.getpid()


@pytest.mark.parametrize(
    "args",
    [
        ["--target", "ftp://shop.example/"],
        ["--target", "https://"],
        ["--ca-file", "/nonexistent/ca.pem"],
        ["--window", "not-a-window"],
        ["--window", "0x1", "--pid", "1"],
        ["--targets", "/nonexistent/targets.json"],
        ["--no-such-option"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert env_check(*args).exit_code == 2


def test_malformed_targets_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "targets.json"
    bad.write_text('{"targets": [{"name": "x"}]}')
    result = env_check("--targets", bad)
    assert result.exit_code == 2
    assert "exactly one of domain, package, sha256" in result.stderr
