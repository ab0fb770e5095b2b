"""Who drew the recorded window: its process, executable, SHA-256 and package identity.

For a screen recording of a desktop application the certificate should say *which program*
was on screen, the way a web capture names the site and its certificate. We find:

1. the window's process, from the ``_NET_WM_PID`` property (``xprop -id W``) — note that X11
   lets a client write any number there, so this is the pid the window *claims*;
2. the executable, from ``/proc/<pid>/exe``, hashed through that link (the very file the
   process runs, even if the path was since replaced or deleted);
3. on Debian, the owning package (``dpkg -S``), its version (``dpkg-query -W``) and whether
   the file still has the MD5 that dpkg installed (``/var/lib/dpkg/info/<pkg>.md5sums``).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from timeseal.capture._system import Runner, run_command
from timeseal.capture.environment.report import JSONValue
from timeseal.capture.errors import CaptureError

DPKG_INFO = Path("/var/lib/dpkg/info")
_WM_PID = re.compile(r"^_NET_WM_PID\(CARDINAL\) = (\d+)", re.M)
_WM_NAME = re.compile(r'^(?:_NET_WM_NAME|WM_NAME)\([A-Z0-9_]+\) = "(.*)"$', re.M)
_WM_CLASS = re.compile(r"^WM_CLASS\(STRING\) = (.*)$", re.M)


class TargetIdentityError(CaptureError):
    """The recorded window or process cannot be identified (no such window or process)."""


@dataclass(frozen=True, slots=True)
class WindowInfo:
    window_id: str
    pid: int | None
    title: str | None
    wm_class: str | None

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "window_id": self.window_id,
            "claimed_pid": self.pid,
            "title": self.title,
            "wm_class": self.wm_class,
        }


def window_info(
    window_id: int, *, display: str | None = None, run: Runner = run_command
) -> WindowInfo:
    """The X11 window's claimed pid, title and class through ``xprop`` (package x11-utils)."""
    argv = ["xprop"] + (["-display", display] if display else [])
    argv += ["-id", hex(window_id), "_NET_WM_PID", "_NET_WM_NAME", "WM_NAME", "WM_CLASS"]
    result = run(argv)
    if result is None:
        raise TargetIdentityError("xprop is not installed (Debian package x11-utils)")
    if result.returncode != 0:
        raise TargetIdentityError(
            f"xprop cannot read window {hex(window_id)}: {result.stderr.strip()}"
        )
    pid = _WM_PID.search(result.stdout)
    name = _WM_NAME.search(result.stdout)
    klass = _WM_CLASS.search(result.stdout)
    return WindowInfo(
        window_id=hex(window_id),
        pid=int(pid.group(1)) if pid else None,
        title=name.group(1) if name else None,
        wm_class=klass.group(1).strip() if klass else None,
    )


@dataclass(frozen=True, slots=True)
class PackageIdentity:
    """A Debian package that owns a file, and whether the file is as dpkg installed it."""

    name: str
    version: str | None
    architecture: str | None
    owned_path: str
    file_intact: bool | None  # None: dpkg keeps no MD5 for it

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "manager": "dpkg",
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "owned_path": self.owned_path,
            "file_intact": self.file_intact,
        }


@dataclass(frozen=True, slots=True)
class ExecutableIdentity:
    pid: int
    exe_path: str
    deleted: bool
    sha256: str
    size: int
    cmdline: tuple[str, ...]
    package: PackageIdentity | None

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "pid": self.pid,
            "exe_path": self.exe_path,
            "exe_deleted": self.deleted,
            "sha256": self.sha256,
            "size": self.size,
            "cmdline": list(self.cmdline),
            "package": None if self.package is None else self.package.to_json(),
        }


def identify_process(
    pid: int,
    *,
    proc_root: Path = Path("/proc"),
    run: Runner = run_command,
    dpkg_info: Path = DPKG_INFO,
) -> ExecutableIdentity:
    """The executable process ``pid`` runs, hashed through ``/proc/<pid>/exe``."""
    exe = proc_root / str(pid) / "exe"
    try:
        target = os.readlink(exe)
        md5, sha, size = _hash_file(exe)
    except OSError as exc:
        raise TargetIdentityError(f"cannot read the executable of process {pid}: {exc}") from exc
    deleted = target.endswith(" (deleted)")
    path = target.removesuffix(" (deleted)")
    try:
        raw = (proc_root / str(pid) / "cmdline").read_bytes()
        cmdline = tuple(a.decode("utf-8", "replace") for a in raw.split(b"\0") if a)
    except OSError:
        cmdline = ()
    package = None if deleted else dpkg_owner(path, md5, run=run, dpkg_info=dpkg_info)
    return ExecutableIdentity(pid, path, deleted, sha, size, cmdline, package)


def _hash_file(path: Path) -> tuple[str, str, int]:
    md5, sha, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            md5.update(block)
            sha.update(block)
            size += len(block)
    return md5.hexdigest(), sha.hexdigest(), size


def dpkg_owner(
    path: str, md5: str | None = None, *, run: Runner = run_command, dpkg_info: Path = DPKG_INFO
) -> PackageIdentity | None:
    """The package owning ``path`` per ``dpkg -S`` (also tried without ``/usr``, for merged
    /usr systems whose database still says ``/bin/…``), with version and MD5 check."""
    candidates = [path]
    if path.startswith("/usr/"):
        candidates.append(path[len("/usr") :])
    for candidate in candidates:
        result = run(["dpkg", "-S", candidate])
        if result is None:
            return None
        owner = _parse_dpkg_search(result.stdout, candidate) if result.returncode == 0 else None
        if owner is not None:
            break
    else:
        return None
    name, _, arch = owner.partition(":")
    version = architecture = None
    query = run(["dpkg-query", "-W", "-f", "${Version}\t${Architecture}", owner])
    if query is not None and query.returncode == 0 and "\t" in query.stdout:
        version, architecture = query.stdout.strip().split("\t", 1)
    intact = None
    if md5 is not None:
        expected = _dpkg_md5(dpkg_info, name, arch or architecture, candidate)
        intact = None if expected is None else expected == md5
    return PackageIdentity(name, version, architecture or arch or None, candidate, intact)


def _parse_dpkg_search(stdout: str, path: str) -> str | None:
    """``dpkg -S`` prints ``pkg[:arch][, pkg2]: /path``; diversion lines are skipped."""
    for line in stdout.splitlines():
        if line.startswith("diversion ") or not line.endswith(f": {path}"):
            continue
        return line[: -len(f": {path}")].split(",")[0].strip()
    return None


def _dpkg_md5(info: Path, name: str, arch: str | None, path: str) -> str | None:
    relative = path.lstrip("/")
    for candidate in ([f"{name}:{arch}.md5sums"] if arch else []) + [f"{name}.md5sums"]:
        try:
            text = (info / candidate).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            digest, _, listed = line.partition("  ")
            if listed == relative:
                return digest.strip()
    return None
