"""``timeseal verify DIR`` on a web capture directory reaches each verdict with its exit
code: valid 0, a missing web archive incomplete 3, a changed file invalid 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from tests.support.recordings import PKI
from tests.unit.core.test_capture_verify import _capture
from timeseal.cli import main

runner = CliRunner()


def _write(files: dict[str, bytes], directory: Path) -> Path:
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    return directory


@pytest.mark.parametrize(
    ("change", "verdict", "code"),
    [
        ("none", "valid", 0),
        ("missing_wacz", "incomplete", 3),
        ("changed_video", "invalid", 1),
    ],
)
def test_web_capture_verdicts(tmp_path: Path, change: str, verdict: str, code: int) -> None:
    files = _capture()
    if change == "missing_wacz":
        del files["capture.wacz"]
    elif change == "changed_video":
        files["video.webm"] = b"video bytez"
    directory = _write(files, tmp_path / "capture")
    root = tmp_path / "root.pem"
    root.write_bytes(PKI.root.certificate.public_bytes(Encoding.PEM))
    args = ["verify", str(directory), "--ca", str(root)]
    result = runner.invoke(main.app, [*args, "--json"])
    assert result.exit_code == code, result.output
    assert json.loads(result.stdout)["verdict"] == verdict
    first = runner.invoke(main.app, args).stdout.splitlines()[0]
    if change == "missing_wacz":
        assert first.startswith("结论 Result: 不完整 INCOMPLETE — capture.wacz [output_missing]: ")
    elif change == "changed_video":
        assert first.startswith("结论 Result: 无效 INVALID — video.webm [file_sha256]: ")
    else:
        assert first == "结论 Result: 有效 VALID"
