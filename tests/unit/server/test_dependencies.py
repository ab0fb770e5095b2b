"""What the server needs from the system: ``timeseal serve`` names each missing package at
start (timeseal.server.runtime.dependencies) and starts anyway."""

from __future__ import annotations

from pathlib import Path

import pytest

from timeseal.cli import serve_cmd
from timeseal.server.runtime import dependencies
from timeseal.server.runtime.dependencies import missing_dependencies


def test_nothing_missing_on_a_machine_with_both(tmp_path: Path) -> None:
    font = tmp_path / "NotoSansCJK-Regular.ttc"
    font.write_bytes(b"a font")
    assert missing_dependencies(font=font, which=lambda name: f"/usr/bin/{name}") == []


def test_each_missing_one_names_its_package_and_what_fails(tmp_path: Path) -> None:
    missing = missing_dependencies(font=tmp_path / "absent.ttc", which=lambda name: None)
    assert [m.package for m in missing] == ["fonts-noto-cjk", "ffmpeg"]
    font, ffmpeg = (m.message() for m in missing)
    assert str(tmp_path / "absent.ttc") in font
    assert "apt-get install fonts-noto-cjk" in font
    assert "no certificate PDF" in font
    assert "apt-get install ffmpeg" in ffmpeg


def test_serve_warns_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dependencies, "CJK_FONT", tmp_path / "absent.ttc")
    serve_cmd._warn_missing_dependencies()
    err = capsys.readouterr().err
    assert err.startswith("warning: the CJK font ")
    assert "Install the fonts-noto-cjk package" in err
