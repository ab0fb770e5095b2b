"""``timeseal env-check``: the environment check (环境检查), and target verification (应用验真).

Exit 0 when nothing fails (warnings allowed), 1 when a check fails, 2 on a usage error.
Human output gives each finding as ✓ (pass), ! (warn) or ✗ (fail), 中文 then English;
``--json`` prints the report exactly as a capture stores it in its metadata, with the target
verification beside it under ``target_verification`` when one was asked for or possible.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Annotated

import typer

from timeseal.capture.environment.check import (
    EnvironmentReport,
    Finding,
    Probes,
    Status,
    report_addresses,
    report_tls_chain,
    run_environment_check,
)
from timeseal.capture.environment.known_targets import KnownTargets, KnownTargetsError
from timeseal.capture.environment.report import JSONValue
from timeseal.capture.environment.target import (
    TargetVerification,
    verify_desktop_target,
    verify_web_target,
)
from timeseal.cli.exits import usage_error
from timeseal.cli.verify.report import format_time

MARKS = {Status.PASS: "✓", Status.WARN: "!", Status.FAIL: "✗"}
VERDICTS = {Status.PASS: "通过 PASS", Status.WARN: "有警告 WARN", Status.FAIL: "未通过 FAIL"}
TITLES = {
    "clock_offset": "时钟 Clock",
    "proxy_settings": "代理 Proxy",
    "hosts_entries": "hosts 文件 Hosts file",
    "dns_answers": "域名解析 DNS",
    "tls_chain": "证书链 TLS chain",
    "virtualisation": "虚拟化 Virtualisation",
    "remote_control": "远程控制 Remote control",
    "browser_profile": "浏览器配置 Browser profile",
    "installation_integrity": "安装完整性 Installation integrity",
}


def _window_id(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise usage_error(
            f"--window {text!r} 不是窗口号 is not a window id (e.g. 0x3a00007)"
        ) from None


TargetOption = Annotated[
    str | None, typer.Option(help="The site to capture (https://…): hosts, DNS, TLS chain.")
]
ServerOption = Annotated[
    str | None, typer.Option(help="TimeSeal server URL: the clock is checked against its TSA.")
]
CaFileOption = Annotated[
    Path | None,
    typer.Option("--ca-file", help="Extra CA (PEM) trusted for the target, besides the system."),
]
HostsFileOption = Annotated[Path, typer.Option("--hosts-file", help="The hosts file to inspect.")]
ProfileOption = Annotated[
    Path | None, typer.Option(help="Browser profile directory the capture will use.")
]
WindowOption = Annotated[
    str | None, typer.Option(help="X11 window id to identify (应用验真), e.g. 0x3a00007.")
]
PidOption = Annotated[int | None, typer.Option(help="Process id to identify (应用验真).")]
TargetsOption = Annotated[
    Path | None,
    typer.Option(help="Known targets (JSON). Default: $XDG_CONFIG_HOME/timeseal/targets.json."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def env_check(
    target: TargetOption = None,
    server: ServerOption = None,
    ca_file: CaFileOption = None,
    hosts_file: HostsFileOption = Path("/etc/hosts"),
    profile: ProfileOption = None,
    window: WindowOption = None,
    pid: PidOption = None,
    targets: TargetsOption = None,
    as_json: JsonOption = False,
) -> None:
    """环境检查 Check this machine and the network before a capture. Exit 0 when nothing
    fails, 1 when a check fails, 2 on a usage error."""
    if window is not None and pid is not None:
        raise usage_error("--window 与 --pid 只能选一个 give --window or --pid, not both")
    window_id = _window_id(window) if window is not None else None
    if ca_file is not None:
        _check_ca_file(ca_file)
    known = _known_targets(targets)
    try:
        report = run_environment_check(
            target,
            server,
            ca_file=ca_file,
            browser_profile_dir=profile,
            probes=Probes(hosts_file=hosts_file),
        )
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    verification = _verify_target(report, known, target, window_id, pid)
    _print_report(report, verification, as_json)
    raise typer.Exit(1 if report.overall is Status.FAIL else 0)


def _check_ca_file(ca_file: Path) -> None:
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise usage_error(f"无法读取 cannot load --ca-file {ca_file}: {exc}") from None


def _known_targets(targets: Path | None) -> KnownTargets:
    try:
        return KnownTargets.load(targets) if targets is not None else KnownTargets.load_default()
    except KnownTargetsError as exc:
        raise usage_error(str(exc)) from None


def _verify_target(
    report: EnvironmentReport,
    known: KnownTargets,
    target: str | None,
    window_id: int | None,
    pid: int | None,
) -> TargetVerification | None:
    """应用验真: the window or process when one was named, else the https site (None: neither)."""
    if window_id is not None or pid is not None:
        return verify_desktop_target(known, window_id=window_id, pid=pid)
    if target is not None and target.lower().startswith("https://"):
        return verify_web_target(target, report_tls_chain(report), report_addresses(report), known)
    return None


def _print_report(
    report: EnvironmentReport, verification: TargetVerification | None, as_json: bool
) -> None:
    if as_json:
        body: dict[str, JSONValue] = report.to_json()
        if verification is not None:
            body["target_verification"] = verification.to_json()
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        for line in report_lines(report, verification):
            typer.echo(line)


def finding_lines(finding: Finding) -> list[str]:
    title = TITLES.get(finding.name, finding.name)
    return [
        f"{MARKS[finding.status]} {title} [{finding.name}]: {finding.summary_zh}",
        f"    {finding.summary_en}",
    ]


def report_lines(
    report: EnvironmentReport, verification: TargetVerification | None = None
) -> list[str]:
    """The human report: 中文 first, then English; times in Beijing time with UTC beside."""
    lines = ["环境检查 Environment check", f"时间 Time: {format_time(report.created_at)}"]
    if report.target:
        lines.append(f"目标 Target: {report.target}")
    if report.server:
        lines.append(f"服务器 Server: {report.server}")
    for finding in report.findings:
        lines.extend(finding_lines(finding))
    if report.skipped:
        lines.append(f"- 未检查 Not checked: {', '.join(report.skipped)}")
    if verification is not None:
        status = "已验证 VERIFIED" if verification.verified else "未验证 UNVERIFIED"
        lines.append(f"应用验真 Target verification: {status}")
        lines.extend(f"    {line}" for line in _identity_lines(verification.identity))
        for reason in verification.reasons:
            lines.append(f"    {reason.zh} / {reason.en}")
    verdict = f"结论 Result: {VERDICTS[report.overall]}"
    if report.overall is Status.FAIL:
        verdict += " — 取证将被阻止，除非使用 --force / a capture stops unless --force"
    lines.append(verdict)
    return lines


def _identity_lines(identity: dict[str, JSONValue]) -> list[str]:
    """The few facts a reader checks first: the site and its certificate, or the program."""
    lines = []
    if "final_url" in identity:
        lines.append(f"网站 Site: {identity['final_url']}")
        if identity.get("leaf_subject"):
            lines.append(f"证书 Certificate: {identity['leaf_subject']}")
    process = identity.get("process")
    if isinstance(process, dict):
        lines.append(f"程序 Program: {process.get('exe_path')} (pid {process.get('pid')})")
        lines.append(f"SHA-256: {process.get('sha256')}")
        package = process.get("package")
        if isinstance(package, dict):
            lines.append(f"软件包 Package: {package.get('name')} {package.get('version')}")
    return lines


def register(app: typer.Typer) -> None:
    """Add ``env-check`` to ``app``."""
    app.command("env-check")(env_check)
