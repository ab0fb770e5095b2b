"""tools/system-packages.sh, which `make serve` and `make test` run: it installs the missing
system packages with apt-get, or ends with the exact command to run, and never hands apt-get
a Chromium package on Ubuntu (there it is a snap).

Each test runs the script with a PATH of fakes: ``dpkg-query`` knows the packages listed in
``INSTALLED``, ``id -u`` prints ``FAKE_UID``, ``apt-get`` logs its arguments and exits
``APT_RC``; ``sudo`` exists only when a test adds it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "system-packages.sh"

FAKES = {
    "dpkg-query": 'for p in $INSTALLED; do [ "$p" = "$3" ] && { echo "install ok installed"; '
    "exit 0; }; done; exit 1",
    "id": 'echo "$FAKE_UID"',
    "apt-get": 'echo "apt-get $*" >> "$APT_LOG"; exit "$APT_RC"',
}


def _run(
    tmp_path: Path,
    *packages: str,
    uid: int = 0,
    installed: str = "",
    apt_rc: int = 0,
    sudo: bool = False,
    os_id: str = "debian",
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("grep", "cat", "env"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    fakes = dict(FAKES)
    if sudo:
        fakes["sudo"] = 'echo "sudo $1" >> "$APT_LOG"; exec "$@"'
    for name, body in fakes.items():
        fake = bin_dir / name
        fake.write_text(f"#!/bin/sh\n{body}\n")
        fake.chmod(0o755)
    os_release = tmp_path / "os-release"
    os_release.write_text(f"ID={os_id}\n")
    log = tmp_path / "apt.log"
    log.touch()
    env = {
        "PATH": str(bin_dir),
        "INSTALLED": installed,
        "FAKE_UID": str(uid),
        "APT_RC": str(apt_rc),
        "APT_LOG": str(log),
        "OS_RELEASE": str(os_release),
        "HOME": os.environ.get("HOME", "/"),
    }
    done = subprocess.run(
        ["/bin/sh", str(SCRIPT), *packages], env=env, capture_output=True, text=True, check=False
    )
    return done, log.read_text().splitlines()


def test_installs_only_the_missing_packages_as_root(tmp_path: Path) -> None:
    done, apt = _run(tmp_path, "ffmpeg", "fonts-noto-cjk", installed="ffmpeg")
    assert done.returncode == 0, done.stderr
    assert apt == [
        "apt-get update -q",
        "apt-get install -y --no-install-recommends fonts-noto-cjk",
    ]


def test_nothing_missing_runs_nothing(tmp_path: Path) -> None:
    done, apt = _run(tmp_path, "ffmpeg", installed="ffmpeg", uid=1000)
    assert done.returncode == 0
    assert apt == []


def test_non_root_goes_through_sudo(tmp_path: Path) -> None:
    done, apt = _run(tmp_path, "ffmpeg", uid=1000, sudo=True)
    assert done.returncode == 0, done.stderr
    assert apt[0:2] == ["sudo apt-get", "apt-get update -q"]


def test_non_root_without_sudo_names_what_to_install(tmp_path: Path) -> None:
    done, apt = _run(tmp_path, "ffmpeg", "fonts-noto-cjk", uid=1000)
    assert done.returncode == 1
    assert apt == []
    assert "not root, and sudo is not installed" in done.stderr
    assert "apt-get install --no-install-recommends ffmpeg fonts-noto-cjk" in done.stderr


def test_failing_apt_names_what_to_install(tmp_path: Path) -> None:
    done, _ = _run(tmp_path, "zbar-tools", apt_rc=100)
    assert done.returncode == 1
    assert "apt-get update failed" in done.stderr
    assert "apt-get install --no-install-recommends zbar-tools" in done.stderr


def test_ubuntu_never_gets_chromium_from_apt_and_is_told_about_the_snap(tmp_path: Path) -> None:
    done, apt = _run(tmp_path, "chromium", "ffmpeg", os_id="ubuntu")
    assert done.returncode == 0, done.stderr
    assert apt[-1] == "apt-get install -y --no-install-recommends ffmpeg"
    assert "sudo snap install chromium" in done.stderr
    assert "TIMESEAL_CHROMIUM" in done.stderr


def test_node_is_added_when_missing(tmp_path: Path) -> None:
    done, apt = _run(tmp_path, "--node", "ffmpeg", installed="ffmpeg")
    assert done.returncode == 0, done.stderr
    assert apt[-1] == "apt-get install -y --no-install-recommends nodejs npm"
