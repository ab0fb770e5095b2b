"""Is this TimeSeal the one that was released? Installed files against the wheel's RECORD.

A wheel's ``*.dist-info/RECORD`` lists every installed file with its SHA-256 (PEP 376, PEP
627). We hash each listed file and compare; a changed or missing file is a ``fail`` naming it,
and so is a Python file inside the package that RECORD does not list (code slipped in next to
ours). This proves the files match RECORD, *not* that RECORD is genuine: RECORD's own hash is
in the evidence so a reader can compare it with the published wheel's.

An editable (development) install lists only a ``.pth`` file, not our sources; then there is
nothing to compare, and the finding is a ``warn``: "development install, not verifiable".
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from timeseal.capture.environment.report import Finding, JSONValue, Status
from timeseal.core.digest import digest_file

SHOWN = 10


def _record_digest(path: Path) -> str | None:
    """The RECORD spelling of a file's SHA-256: urlsafe base64 without padding."""
    try:
        digest = digest_file(path)
    except OSError:
        return None
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _is_editable(dist: metadata.Distribution) -> bool:
    """PEP 610 ``direct_url.json``: ``{"dir_info": {"editable": true}}``."""
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    try:
        info = json.loads(text)
    except ValueError:
        return False
    return isinstance(info, dict) and bool(info.get("dir_info", {}).get("editable"))


@dataclass(frozen=True, slots=True)
class _RecordComparison:
    """What hashing the files RECORD lists found."""

    mismatched: list[str]
    missing: list[str]
    checked: int  # files with a hash in RECORD
    sources_hashed: int  # of those, ``.py`` files inside the package
    listed: set[Path]  # every listed file, resolved


def _compare_with_record(
    dist: metadata.Distribution, files: list[metadata.PackagePath], package: str
) -> _RecordComparison:
    mismatched: list[str] = []
    missing: list[str] = []
    checked = 0
    listed: set[Path] = set()
    sources_hashed = 0
    for entry in files:
        located = Path(str(dist.locate_file(entry)))
        listed.add(located.resolve())
        if entry.hash is None:
            continue
        if entry.hash.mode != "sha256":
            mismatched.append(f"{entry} (unsupported hash {entry.hash.mode})")
            continue
        checked += 1
        if entry.parts and entry.parts[0] == package and entry.suffix == ".py":
            sources_hashed += 1
        got = _record_digest(located)
        if got is None:
            missing.append(str(entry))
        elif got != entry.hash.value:
            mismatched.append(str(entry))
    return _RecordComparison(mismatched, missing, checked, sources_hashed, listed)


def _unlisted_sources(dist: metadata.Distribution, package: str, listed: set[Path]) -> list[str]:
    """``.py`` files inside the installed package that RECORD does not list."""
    package_dir = Path(str(dist.locate_file(package)))
    if not package_dir.is_dir():
        return []
    return sorted(
        str(p.relative_to(package_dir.parent))
        for p in package_dir.rglob("*.py")
        if p.resolve() not in listed
    )


def installation_integrity(
    dist: metadata.Distribution | None = None, package: str = "timeseal"
) -> Finding:
    """Hash every file RECORD lists with a hash; look for unlisted ``.py`` files in
    ``package``. ``dist`` defaults to the installed ``timeseal`` distribution."""
    if dist is None:
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            return Finding(
                "installation_integrity",
                Status.WARN,
                "未检查：找不到已安装的 TimeSeal 发行包信息",
                "not checked: no installed TimeSeal distribution metadata was found",
                {"package": package},
            )
    files = list(dist.files or [])
    record_text = dist.read_text("RECORD") or ""
    found = _compare_with_record(dist, files, package)
    mismatched, missing = found.mismatched, found.missing
    checked, sources_hashed = found.checked, found.sources_hashed
    unlisted = _unlisted_sources(dist, package, found.listed) if sources_hashed else []
    editable = _is_editable(dist)
    evidence: dict[str, JSONValue] = {
        "distribution": dist.metadata["Name"],
        "version": dist.version,
        "record_sha256": hashlib.sha256(record_text.encode("utf-8")).hexdigest(),
        "editable": editable,
        "files_listed": len(files),
        "files_checked": checked,
        "sources_checked": sources_hashed,
        "mismatched": list(mismatched),
        "missing": list(missing),
        "unlisted": list(unlisted),
    }
    bad = mismatched + missing + unlisted
    if bad:
        shown = ", ".join(bad[:SHOWN]) + (" …" if len(bad) > SHOWN else "")
        return Finding(
            "installation_integrity",
            Status.FAIL,
            f"TimeSeal 安装文件与 RECORD 不符（被改动、缺失或多出）：{shown}",
            f"TimeSeal's installed files do not match RECORD (changed, missing or added): {shown}",
            evidence,
        )
    if sources_hashed == 0:
        return Finding(
            "installation_integrity",
            Status.WARN,
            "开发安装（可编辑模式），源文件无法核验",
            "development install, not verifiable: RECORD lists no hashes of the sources",
            evidence,
        )
    return Finding(
        "installation_integrity",
        Status.PASS,
        f"TimeSeal 的 {checked} 个安装文件与 RECORD 一致",
        f"all {checked} installed TimeSeal files match RECORD",
        evidence,
    )
