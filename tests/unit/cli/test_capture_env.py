"""The environment check before ``timeseal capture screen|camera|photo|file``: real ffmpeg,
Xvfb and ``timeseal serve``. A failing check is injected as the env-check tests inject it:
the local clock shifted a minute ahead of the TSA's (a ``clock_offset`` fail). It stops the
capture with exit 2 before anything is recorded; with ``--force`` the capture is made and the
report, marked ``"forced": true``, is in the sealed metadata and on the certificate's facts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.support.server import LiveServer
from tests.support.xvfb import xvfb_display
from timeseal.capture.environment.check import Probes
from timeseal.capture.offline.upload_meta import capture_metadata
from timeseal.cli import main
from timeseal.cli.capture import environment as capture_env
from timeseal.core.package.canonical import parse_canonical_json

runner = CliRunner()

NETWORK_CHECKS = ["hosts_entries", "dns_answers", "tls_chain"]


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    return main.app


@pytest.fixture
def clock_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's clock a minute ahead of the TSA's: ``clock_offset`` fails."""
    ahead = Probes(clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60))
    monkeypatch.setattr(capture_env, "default_probes", lambda: ahead)


@pytest.fixture
def private_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Recordings register for ``timeseal sync`` here, not in the real data directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb_display() as number:
        yield number


def metadata(path: Path) -> dict[str, Any]:
    value, canonical = parse_canonical_json(path.read_bytes())
    assert canonical and isinstance(value, dict)
    return value


def findings(report: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["status"] for f in report["findings"]}


def camera_args(server: LiveServer, out: Path, *extra: str) -> list[str]:
    return [
        "capture", "camera", "--lavfi", "testsrc", "--duration", "2", "--seal-every", "1",
        "--server", server.url, "-o", str(out), *extra,
    ]  # fmt: skip


def test_a_camera_capture_carries_the_report_sealed_before_ffmpeg(
    cli: typer.Typer, server: LiveServer, tmp_path: Path, private_data: None
) -> None:
    out = tmp_path / "cam"
    result = runner.invoke(cli, camera_args(server, out))
    assert result.exit_code == 0, result.output
    assert "环境检查 Environment check:" in result.output
    assert f"- 未检查 Not checked: {', '.join(NETWORK_CHECKS)}, browser_profile" in result.output
    start = metadata(out / "capture-start.json")["environment_check"]
    assert start == metadata(out / "capture.json")["environment_check"]
    assert start["format"] == "timeseal-environment-report/1"
    assert start["forced"] is False and start["overall"] != "fail"
    assert start["server"] == server.url and start["target"] is None
    assert findings(start)["clock_offset"] == "pass"  # the probe token came from our TSA
    assert {"proxy_settings", "virtualisation", "remote_control", "installation_integrity"} <= (
        set(findings(start))
    )
    assert start["skipped"] == [*NETWORK_CHECKS, "browser_profile"]
    # The report was checked before ffmpeg started: it is older than the recording.
    assert start["created_at"] <= metadata(out / "capture-start.json")["started_at"]


def test_a_failed_check_stops_a_camera_capture_before_anything_is_recorded(
    cli: typer.Typer, server: LiveServer, tmp_path: Path, clock_ahead: None, private_data: None
) -> None:
    out = tmp_path / "cam"
    result = runner.invoke(cli, camera_args(server, out))
    assert result.exit_code == 2, result.output
    assert "环境检查未通过，取证已停止" in result.output
    assert "The environment check failed (clock_offset); the capture stopped." in result.output
    assert "✗ 时钟 Clock [clock_offset]: 本机时钟比时间戳机构快" in result.output
    assert not out.exists()
    assert not (tmp_path / "share").exists()  # nothing registered for `timeseal sync` either


def test_a_failed_check_stops_a_screen_recording(
    cli: typer.Typer,
    server: LiveServer,
    display: str,
    tmp_path: Path,
    clock_ahead: None,
    private_data: None,
) -> None:
    out = tmp_path / "screen"
    args = ["capture", "screen", "--display", display, "--duration", "2"]
    result = runner.invoke(cli, [*args, "--server", server.url, "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "clock_offset" in result.output and "--force" in result.output
    assert not out.exists()


def test_a_forced_screen_recording_is_marked_in_its_sealed_metadata(
    cli: typer.Typer,
    server: LiveServer,
    display: str,
    tmp_path: Path,
    clock_ahead: None,
    private_data: None,
) -> None:
    out = tmp_path / "screen"
    args = ["capture", "screen", "--display", display, "--duration", "2", "--force"]
    result = runner.invoke(cli, [*args, "--server", server.url, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "环境检查 Environment check: 未通过 FAIL（已强制继续 forced）" in result.output
    for name in ("capture-start.json", "capture.json"):
        report = metadata(out / name)["environment_check"]
        assert report["forced"] is True and report["overall"] == "fail"
        assert findings(report)["clock_offset"] == "fail"
        # ... and the token over the metadata verifies: the mark is sealed with it.
        verified = runner.invoke(cli, ["verify", str(out / name), "--ca", str(server.root_pem)])
        assert verified.exit_code == 0, verified.output
    # What the vault and the certificate read from capture.json says so, as for web capture.
    facts = capture_metadata((out / "capture.json").read_bytes())["environment_check"]
    assert isinstance(facts, dict) and facts["forced"] is True
    assert str(facts["verdict"]).endswith("（已强制继续 forced）")


def test_a_failed_check_stops_a_photo_and_force_marks_it(
    cli: typer.Typer, server: LiveServer, tmp_path: Path, clock_ahead: None
) -> None:
    out = tmp_path / "photo"
    args = ["capture", "photo", "--lavfi", "testsrc", "--server", server.url, "-o", str(out)]
    stopped = runner.invoke(cli, args)
    assert stopped.exit_code == 2, stopped.output
    assert not out.exists()
    forced = runner.invoke(cli, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    report = metadata(out / "capture.json")["environment_check"]
    assert report["forced"] is True and findings(report)["clock_offset"] == "fail"


def test_a_failed_check_stops_a_file_capture_with_exit_2(
    cli: typer.Typer, server: LiveServer, tmp_path: Path, clock_ahead: None, private_data: None
) -> None:
    chat = tmp_path / "chat.txt"
    chat.write_text("客户信息仅用于售后\n")
    result = runner.invoke(cli, ["capture", "file", str(chat), "--server", server.url])
    assert result.exit_code == 2, result.output
    assert "clock_offset" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.txt"]  # no record, no token


def test_offline_the_clock_is_not_checked_but_the_capture_goes_on(
    cli: typer.Typer, tmp_path: Path, private_data: None
) -> None:
    """Offline (nothing listens at the server's port): the clock check says it could not be
    done, as a warning, and the recording is made all the same."""
    from tests.support.server import free_port

    out = tmp_path / "cam"
    offline = f"http://127.0.0.1:{free_port()}"
    args = ["capture", "camera", "--lavfi", "testsrc", "--duration", "2"]
    result = runner.invoke(cli, [*args, "--server", offline, "-o", str(out)])
    # Exit 0 with a notice: the end link is queued for the TSA (`timeseal sync`), as every
    # offline capture is; the segments were recorded.
    assert result.exit_code == 0, result.output
    assert "已排队 queued" in result.output and "timeseal sync" in result.output
    assert "未检查：无法连接时间戳机构" in result.output
    report = metadata(out / "capture-start.json")["environment_check"]
    clock = next(f for f in report["findings"] if f["name"] == "clock_offset")
    assert clock["status"] == "warn" and clock["evidence"]["tsa_url"] == f"{offline}/tsa"
    assert report["forced"] is False
    assert (out / "recording.mp4").exists()
