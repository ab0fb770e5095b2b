"""Target verification (应用验真): is the captured site or application the one it seems to be?

For a web capture we record the site's certificate chain, the domains it covers, the resolved
addresses and the page's final URL after redirects (given by the capture). For a screen
recording of an application we record the window's process, its executable path and SHA-256,
and its Debian package. A target is ``verified`` only when it is on the person's list of known
targets (:mod:`.known_targets`) *and* its identity checks out; anything else is
``unverified``, with every reason, in both languages — the certificate shows this summary.

:func:`verify_web_target` and :func:`verify_desktop_target` do no network I/O of their own
beyond what they are given (the desktop one reads ``/proc`` and asks ``xprop``/``dpkg``);
:func:`verify_web_target_online` fetches the chain and addresses for the final URL first.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from timeseal.capture._system import Runner, run_command
from timeseal.capture.environment.app_identity import (
    DPKG_INFO,
    ExecutableIdentity,
    TargetIdentityError,
    WindowInfo,
    identify_process,
    window_info,
)
from timeseal.capture.environment.known_targets import KnownTarget, KnownTargets
from timeseal.capture.environment.network import (
    LOOPBACK_ADDRESSES,
    Resolver,
    Target,
    is_loopback_name,
    system_resolver,
)
from timeseal.capture.environment.report import JSONValue
from timeseal.capture.environment.tls import ChainFetch, TLSChain, fetch_tls_chain

__all__ = [
    "KnownTarget",
    "KnownTargets",
    "Reason",
    "TargetStatus",
    "TargetVerification",
    "verify_desktop_target",
    "verify_web_target",
    "verify_web_target_online",
]


class TargetStatus(enum.Enum):
    VERIFIED = "verified"
    UNVERIFIED = "unverified"


@dataclass(frozen=True, slots=True)
class Reason:
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class TargetVerification:
    """The verdict on one target, the reasons for it, and the identity that was recorded."""

    kind: str  # "web" or "desktop"
    status: TargetStatus
    reasons: tuple[Reason, ...]
    identity: dict[str, JSONValue]
    matched: KnownTarget | None = None
    targets_source: str | None = None

    @property
    def verified(self) -> bool:
        return self.status is TargetStatus.VERIFIED

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "kind": self.kind,
            "status": self.status.value,
            "reasons": [{"zh": r.zh, "en": r.en} for r in self.reasons],
            "matched_target": None if self.matched is None else self.matched.name,
            "targets_file": self.targets_source,
            "identity": self.identity,
        }


def _verdict(
    kind: str,
    problems: list[Reason],
    ok: Reason,
    identity: dict[str, JSONValue],
    matched: KnownTarget | None,
    known: KnownTargets,
) -> TargetVerification:
    verified = not problems and matched is not None
    return TargetVerification(
        kind=kind,
        status=TargetStatus.VERIFIED if verified else TargetStatus.UNVERIFIED,
        reasons=(ok,) if verified else tuple(problems),
        identity=identity,
        matched=matched,
        targets_source=known.source,
    )


def verify_web_target(
    final_url: str,
    tls: TLSChain | None,
    resolved_ips: Sequence[str],
    known: KnownTargets,
) -> TargetVerification:
    """Verified when the final URL is https, its chain (recorded for that host) validates and
    names the host, the host resolved, and it is a known domain."""
    target = Target.parse(final_url)
    host = target.host
    leaf = tls.leaf if tls is not None else None
    identity: dict[str, JSONValue] = {
        "final_url": final_url,
        "host": host,
        "resolved_ips": list(resolved_ips),
        "certificate_trusted": None if tls is None else tls.trusted,
        "hostname_matches": None if tls is None else tls.hostname_matches,
        "trust_anchor": None if tls is None else tls.trust_anchor,
        "covered_domains": [] if leaf is None else [*leaf.san_dns, *leaf.san_ip],
        "leaf_subject": None if leaf is None else leaf.subject,
        "chain_sha256": [] if tls is None else [c.sha256 for c in tls.certificates],
    }
    problems: list[Reason] = []
    if target.scheme != "https":
        problems.append(Reason("页面未使用 HTTPS，网站身份无法证明", "the page is not HTTPS"))
    if tls is None:
        problems.append(Reason("未记录网站证书链", "no certificate chain was recorded"))
    elif tls.host != host:
        problems.append(
            Reason(
                f"证书链记录自 {tls.host}，而非最终页面的 {host}",
                f"the chain was recorded for {tls.host}, not the final page's host {host}",
            )
        )
    else:
        if not tls.trusted:
            problems.append(
                Reason(
                    f"证书链不受信任（{tls.verify_error}）",
                    f"the certificate chain is not trusted ({tls.verify_error})",
                )
            )
        if not tls.hostname_matches:
            problems.append(
                Reason(f"证书不包含域名 {host}", f"the certificate does not name {host}")
            )
    if not resolved_ips:
        problems.append(Reason(f"{host} 未解析到地址", f"{host} resolved to no address"))
    matched = known.for_host(host)
    if matched is None:
        problems.append(
            Reason(f"{host} 不在已知目标列表中", f"{host} is not in the list of known targets")
        )
    ok = Reason(
        f"网站 {host} 属于已知目标“{matched.name if matched else ''}”，证书链有效",
        f"the site {host} is the known target “{matched.name if matched else ''}” and its "
        "certificate chain validates",
    )
    return _verdict("web", problems, ok, identity, matched, known)


def verify_web_target_online(
    final_url: str,
    known: KnownTargets,
    *,
    ca_file: Path | None = None,
    resolve: Resolver = system_resolver,
    fetch: ChainFetch = fetch_tls_chain,
    timeout: float = 10.0,
) -> TargetVerification:
    """:func:`verify_web_target` for a final URL whose host the environment check did not
    look at (a redirect to another host): fetch its chain and addresses now."""
    target = Target.parse(final_url)
    chain = None
    if target.scheme == "https":
        try:
            chain = fetch(target.host, target.port, ca_file=ca_file, timeout=timeout)
        except (OSError, ValueError):
            chain = None
    try:
        addresses = sorted(set(resolve(target.host, target.port)))
    except OSError:
        addresses = list(LOOPBACK_ADDRESSES) if is_loopback_name(target.host) else []
    return verify_web_target(final_url, chain, addresses, known)


def verify_desktop_target(
    known: KnownTargets,
    *,
    window_id: int | None = None,
    pid: int | None = None,
    display: str | None = None,
    proc_root: Path = Path("/proc"),
    run: Runner = run_command,
    dpkg_info: Path = DPKG_INFO,
) -> TargetVerification:
    """Verified when the window's process runs a known executable: a known package whose
    file is as dpkg installed it, or a known SHA-256. Give ``window_id`` (X11) or ``pid``."""
    if (window_id is None) == (pid is None):
        raise ValueError("give exactly one of window_id and pid")
    identity: dict[str, JSONValue] = {}
    problems: list[Reason] = []
    window: WindowInfo | None = None
    if window_id is not None:
        found = _window_process(window_id, display=display, run=run, identity=identity)
        if isinstance(found, Reason):
            return _verdict("desktop", [found], found, identity, None, known)
        window, pid = found
    if pid is None:
        raise AssertionError("no pid after window lookup")
    try:
        exe: ExecutableIdentity = identify_process(
            pid, proc_root=proc_root, run=run, dpkg_info=dpkg_info
        )
    except TargetIdentityError as exc:
        problems.append(
            Reason(f"无法识别进程 {pid}（{exc}）", f"process {pid} cannot be identified ({exc})")
        )
        return _verdict("desktop", problems, problems[0], identity, None, known)
    identity["process"] = exe.to_json()
    if window is not None:
        identity["pid_source"] = "_NET_WM_PID (claimed by the window)"
    package = exe.package
    matched = known.for_executable(
        package.name if package else None,
        package.version if package else None,
        exe.exe_path,
        exe.sha256,
    )
    label = exe.exe_path + (f" ({package.name} {package.version})" if package else "")
    problems += _executable_problems(exe, matched, label)
    ok = Reason(
        f"录制的应用是已知目标“{matched.name if matched else ''}”：{label}",
        f"the recorded application is the known target “{matched.name if matched else ''}”: "
        f"{label}",
    )
    return _verdict("desktop", problems, ok, identity, matched, known)


def _window_process(
    window_id: int, *, display: str | None, run: Runner, identity: dict[str, JSONValue]
) -> tuple[WindowInfo, int] | Reason:
    """The X11 window and the process it claims (recorded in ``identity``), or why not."""
    try:
        window = window_info(window_id, display=display, run=run)
    except TargetIdentityError as exc:
        return Reason(f"无法读取窗口信息（{exc}）", f"the window cannot be read ({exc})")
    identity["window"] = window.to_json()
    if window.pid is None:
        return Reason(
            "窗口未声明其进程（_NET_WM_PID）", "the window names no process (_NET_WM_PID)"
        )
    return window, window.pid


def _executable_problems(
    exe: ExecutableIdentity, matched: KnownTarget | None, label: str
) -> list[Reason]:
    """Why the process's executable is not a known target as installed."""
    problems: list[Reason] = []
    package = exe.package
    if exe.deleted:
        problems.append(
            Reason(
                "可执行文件已在磁盘上被删除或替换", "the executable was deleted or replaced on disk"
            )
        )
    if matched is None:
        problems.append(
            Reason(f"{label} 不在已知目标列表中", f"{label} is not in the list of known targets")
        )
    elif matched.package is not None and (package is None or package.file_intact is not True):
        problems.append(
            Reason(
                f"{exe.exe_path} 与软件包 {matched.package} 安装时的文件不一致或无法核对",
                f"{exe.exe_path} does not match (or cannot be checked against) the file that "
                f"package {matched.package} installed",
            )
        )
    return problems
