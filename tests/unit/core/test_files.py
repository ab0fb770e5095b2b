"""The one durable-write helper (core/files.py) and the file digest (core/digest.py)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from timeseal.core import files
from timeseal.core.digest import HashAlgorithm, digest_file


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_durably_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    files.write_durably(target, b"new")
    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_fsyncs_the_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        calls.append(("fsync", "dir" if stat.S_ISDIR(mode) else "file"))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(("replace", Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    files.write_durably(tmp_path / "a.bin", b"bytes")
    assert calls == [("fsync", "file"), ("replace", "a.bin"), ("fsync", "dir")]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "key"
    target.write_bytes(b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        files.write_durably(target, b"new")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_an_exception_inside_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "page.zip"
    target.write_bytes(b"old")

    def write_half() -> None:
        with files.replacing(target) as f:
            f.write(b"half")
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_half()
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_mode_is_applied_like_os_open(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    files.write_durably(target, b"s", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_digest_file_hashes_in_chunks_and_reports_progress(tmp_path: Path) -> None:
    data = os.urandom((1 << 20) + 17)
    path = tmp_path / "blob"
    path.write_bytes(data)
    seen: list[int] = []
    assert digest_file(path, progress=seen.append) == hashlib.sha256(data).digest()
    assert seen == [1 << 20, 17]
    assert digest_file(path, HashAlgorithm.SHA512) == hashlib.sha512(data).digest()
