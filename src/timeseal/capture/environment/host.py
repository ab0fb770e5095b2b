"""Checks of the capturing machine itself: is it virtual, is someone else driving it, and is
the browser profile fresh?

A recording made inside a virtual machine, or while remote-control software serves the screen,
can show what another person chose. None of these proves manipulation, so most are ``warn``
with their evidence; a program that is serving this display to others right now is a ``fail``.
Every source (``/``, ``/proc``, the process list, system tools) is an argument for tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from timeseal.capture._system import Runner, run_command
from timeseal.capture.environment.report import Finding, JSONValue, Status

#: Words in DMI product/vendor names that mean a hypervisor (lower case).
VM_DMI_WORDS = (
    "virtualbox",
    "vmware",
    "kvm",
    "qemu",
    "virtual machine",
    "xen",
    "bochs",
    "parallels",
    "bhyve",
    "hyper-v",
    "openstack",
    "google compute engine",
    "amazon ec2",
)
CGROUP_WORDS = ("docker", "kubepods", "lxc", "containerd", "libpod", "podman")


def _read(path: Path, limit: int = 1 << 20) -> str | None:
    try:
        with path.open("rb") as f:
            return f.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def virtualisation(root: Path = Path("/"), *, run: Runner = run_command) -> Finding:
    """Signs of a virtual machine or container: ``systemd-detect-virt``, ``/.dockerenv``,
    ``/run/.containerenv``, ``/proc/1/cgroup``, the CPU ``hypervisor`` flag and the DMI
    product name. Any sign is a ``warn``: the evidence says which."""
    signs: list[str] = []
    evidence: dict[str, JSONValue] = {}
    detect = run(["systemd-detect-virt"])
    if detect is not None:
        answer = detect.stdout.strip()
        evidence["systemd_detect_virt"] = answer or None
        if detect.returncode == 0 and answer and answer != "none":
            signs.append(f"systemd-detect-virt: {answer}")
    for marker in (".dockerenv", "run/.containerenv"):
        present = (root / marker).exists()
        evidence[marker.replace("run/", "").lstrip(".")] = present
        if present:
            signs.append(f"/{marker}")
    cgroup = _read(root / "proc/1/cgroup") or ""
    cgroup_hits = sorted({w for w in CGROUP_WORDS if w in cgroup.lower()})
    evidence["cgroup_markers"] = list(cgroup_hits)
    if cgroup_hits:
        signs.append(f"/proc/1/cgroup: {', '.join(cgroup_hits)}")
    cpuinfo = _read(root / "proc/cpuinfo") or ""
    flagged = any(
        "hypervisor" in line.split(":", 1)[1].split()
        for line in cpuinfo.splitlines()
        if line.startswith("flags") and ":" in line
    )
    evidence["cpu_hypervisor_flag"] = flagged
    if flagged:
        signs.append("cpu flag: hypervisor")
    dmi = {
        key: (_read(root / "sys/class/dmi/id" / key) or "").strip() or None
        for key in ("product_name", "sys_vendor")
    }
    evidence["dmi"] = dict(dmi)
    dmi_text = " ".join(v for v in dmi.values() if v).lower()
    if any(word in dmi_text for word in VM_DMI_WORDS):
        signs.append(f"DMI: {dmi_text}")
    evidence["signs"] = list(signs)
    if signs:
        return Finding(
            "virtualisation",
            Status.WARN,
            f"本机可能是虚拟机或容器（{'; '.join(signs)}）",
            f"this machine looks virtual or containerised ({'; '.join(signs)})",
            evidence,
        )
    return Finding(
        "virtualisation",
        Status.PASS,
        "未发现虚拟机或容器的迹象",
        "no sign of a virtual machine or container",
        evidence,
    )


# -- remote control ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    name: str  # /proc/<pid>/comm (at most 15 characters)
    cmdline: tuple[str, ...]

    @property
    def program(self) -> str:
        """The base name of argv[0], else the kernel's name for it."""
        first = self.cmdline[0] if self.cmdline else ""
        return os.path.basename(first.split()[0]) if first.strip() else self.name


ProcessLister = Callable[[], Sequence[ProcessInfo]]


def list_processes(proc_root: Path = Path("/proc")) -> list[ProcessInfo]:
    """Every process visible in ``proc_root`` (processes that vanish meanwhile are skipped)."""
    found = []
    try:
        entries = list(proc_root.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        comm = _read(entry / "comm")
        if comm is None:
            continue
        raw = _read(entry / "cmdline") or ""
        cmdline = tuple(a for a in raw.split("\0") if a)
        found.append(ProcessInfo(int(entry.name), comm.strip(), cmdline))
    return sorted(found, key=lambda p: p.pid)


@dataclass(frozen=True, slots=True)
class RemoteTool:
    """Known software, by the lower-case prefixes of its program names."""

    label: str
    prefixes: tuple[str, ...]
    serves_display: bool  # exports this very screen to others: fail, not warn


REMOTE_TOOLS: tuple[RemoteTool, ...] = (
    RemoteTool("TeamViewer", ("teamviewer",), False),
    RemoteTool("AnyDesk", ("anydesk",), False),
    RemoteTool("RustDesk", ("rustdesk",), False),
    RemoteTool("向日葵 Sunlogin", ("sunloginclient", "sunlogin", "oray_rundaemon"), False),
    RemoteTool("ToDesk", ("todesk",), False),
    RemoteTool("Chrome Remote Desktop", ("chrome-remote-desktop", "remoting_host"), False),
    RemoteTool("NoMachine", ("nxserver", "nxnode", "nxd"), False),
    # Often running while sharing is off (GNOME starts its daemon with the session; xrdp opens
    # separate sessions rather than this display): worth a warning, not a stop.
    RemoteTool("GNOME Remote Desktop", ("gnome-remote-desktop",), False),
    RemoteTool("xrdp", ("xrdp",), False),
    RemoteTool("x11vnc", ("x11vnc",), True),
    RemoteTool("VNC server", ("xvnc", "xtigervnc", "vncserver", "x0vncserver", "x0tigervnc"), True),
    RemoteTool("Vino / krfb (desktop sharing)", ("vino-server", "krfb"), True),
)


def _match_tool(process: ProcessInfo) -> RemoteTool | None:
    names = {process.program.lower(), process.name.lower()}
    for tool in REMOTE_TOOLS:
        if any(n.startswith(p) for n in names for p in tool.prefixes):
            return tool
    return None


def remote_control(processes: ProcessLister = list_processes) -> Finding:
    """Running remote-control and desktop-sharing software. A server that exports this display
    (x11vnc, a VNC X server, Vino, krfb) is a ``fail``; remote-support clients (TeamViewer,
    AnyDesk, 向日葵, ToDesk, …) and daemons that often idle (GNOME Remote Desktop, xrdp) are a
    ``warn``. Matching is by program name, so a renamed binary is not found."""
    hits = [(p, t) for p in processes() if (t := _match_tool(p)) is not None]
    evidence: dict[str, JSONValue] = {
        "processes": [
            {"pid": p.pid, "name": p.name, "program": p.program, "software": t.label}
            for p, t in hits
        ],
        "known_software": [t.label for t in REMOTE_TOOLS],
    }
    labels = ", ".join(sorted({f"{t.label} ({p.program})" for p, t in hits}))
    if any(t.serves_display for _, t in hits):
        return Finding(
            "remote_control",
            Status.FAIL,
            f"有程序正在向他人共享本机屏幕：{labels}",
            f"software is sharing this screen with others: {labels}",
            evidence,
        )
    if hits:
        return Finding(
            "remote_control",
            Status.WARN,
            f"正在运行远程控制软件：{labels}",
            f"remote-control software is running: {labels}",
            evidence,
        )
    return Finding(
        "remote_control",
        Status.PASS,
        "未发现远程控制或屏幕共享软件",
        "no remote-control or screen-sharing software is running",
        evidence,
    )


# -- browser profile -----------------------------------------------------------------------


def browser_profile(profile_dir: Path) -> Finding:
    """A fresh profile (missing or empty directory) carries no extensions, cookies or cached
    pages that could change what the page shows: ``pass``; anything else is a ``warn``."""
    evidence: dict[str, JSONValue] = {"profile_dir": str(profile_dir)}
    if not profile_dir.exists():
        evidence["exists"] = False
        return Finding(
            "browser_profile",
            Status.PASS,
            "使用全新的浏览器配置（目录尚不存在）",
            "a fresh browser profile (the directory does not exist yet)",
            evidence,
        )
    try:
        names = sorted(p.name for p in profile_dir.iterdir())
    except OSError as exc:
        evidence["error"] = str(exc)
        return Finding(
            "browser_profile",
            Status.WARN,
            "无法读取浏览器配置目录",
            "the browser profile directory cannot be read",
            evidence,
        )
    evidence.update({"exists": True, "entries": len(names), "sample": list(names[:20])})
    if not names:
        return Finding(
            "browser_profile",
            Status.PASS,
            "使用全新的浏览器配置（空目录）",
            "a fresh browser profile (empty directory)",
            evidence,
        )
    evidence["has_extensions"] = any(
        (profile_dir / d / "Extensions").is_dir() for d in ("", "Default")
    )
    return Finding(
        "browser_profile",
        Status.WARN,
        f"浏览器配置已被使用过（{len(names)} 项），可能含有扩展、Cookie 或缓存",
        f"the browser profile is not fresh ({len(names)} entries): it may hold extensions, "
        "cookies or cached pages",
        evidence,
    )
