"""Installation integrity: a synthetic installed wheel (dist-info with RECORD) in a temp dir."""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import metadata
from pathlib import Path

from timeseal.capture.environment.install import installation_integrity
from timeseal.capture.environment.report import Status

FILES = {
    "timeseal/__init__.py": b'"""TimeSeal."""\n',
    "timeseal/core/digest.py": b"def digest(): ...\n",
}


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def install(site: Path, *, editable: bool = False) -> metadata.Distribution:
    """Write the files, METADATA and RECORD the way pip installs a wheel."""
    info = site / "timeseal-9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: timeseal\nVersion: 9.9\n")
    written = {"timeseal-9.9.dist-info/METADATA": (info / "METADATA").read_bytes()}
    if editable:
        (site / "_editable_impl_timeseal.pth").write_text("/src\n")
        written["_editable_impl_timeseal.pth"] = b"/src\n"
        direct = json.dumps({"url": "file:///src", "dir_info": {"editable": True}}).encode()
        (info / "direct_url.json").write_bytes(direct)
        written["timeseal-9.9.dist-info/direct_url.json"] = direct
    else:
        for name, data in FILES.items():
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            (site / name).write_bytes(data)
            written[name] = data
    lines = [f"{n},sha256={_record_hash(d)},{len(d)}" for n, d in written.items()]
    lines += ["timeseal/__pycache__/__init__.cpython-311.pyc,,", "timeseal-9.9.dist-info/RECORD,,"]
    (info / "RECORD").write_text("\n".join(lines) + "\n")
    return metadata.PathDistribution(info)


def test_an_untouched_wheel_install_passes(tmp_path: Path) -> None:
    finding = installation_integrity(install(tmp_path))
    assert finding.name == "installation_integrity"
    assert finding.status is Status.PASS, finding.summary_en
    ev = finding.evidence
    assert ev["files_checked"] == 3 and ev["sources_checked"] == 2
    assert ev["version"] == "9.9" and ev["editable"] is False
    record = (tmp_path / "timeseal-9.9.dist-info/RECORD").read_bytes()
    assert ev["record_sha256"] == hashlib.sha256(record).hexdigest()


def test_a_tampered_file_fails_naming_it(tmp_path: Path) -> None:
    dist = install(tmp_path)
    (tmp_path / "timeseal/core/digest.py").write_bytes(b"def digest(): return b'forged'\n")
    finding = installation_integrity(dist)
    assert finding.status is Status.FAIL
    assert finding.evidence["mismatched"] == ["timeseal/core/digest.py"]
    assert "timeseal/core/digest.py" in finding.summary_en


def test_a_missing_and_an_added_file_fail(tmp_path: Path) -> None:
    dist = install(tmp_path)
    (tmp_path / "timeseal/__init__.py").unlink()
    (tmp_path / "timeseal/core/backdoor.py").write_text("import os\n")
    finding = installation_integrity(dist)
    assert finding.status is Status.FAIL
    assert finding.evidence["missing"] == ["timeseal/__init__.py"]
    assert finding.evidence["unlisted"] == ["timeseal/core/backdoor.py"]


def test_an_editable_install_is_not_verifiable(tmp_path: Path) -> None:
    finding = installation_integrity(install(tmp_path, editable=True))
    assert finding.status is Status.WARN
    assert finding.summary_en.startswith("development install, not verifiable")
    assert finding.evidence["editable"] is True and finding.evidence["sources_checked"] == 0


def test_this_checkout_is_a_development_install() -> None:
    """The test environment installs TimeSeal with ``pip install -e``."""
    finding = installation_integrity()
    assert finding.status is Status.WARN
    assert finding.evidence["mismatched"] == [] and finding.evidence["editable"] is True
