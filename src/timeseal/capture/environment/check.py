"""The environment check (环境检查) run by ``timeseal env-check`` and before every capture.

A court asks whether the capturing device was clean and the network real. Each check below
returns one named :class:`Finding` (pass / warn / fail, a bilingual summary, its evidence);
:func:`run_environment_check` runs them all into an :class:`EnvironmentReport`, which the
capture writes into its metadata as it is. :func:`require_clean` is the gate: a ``fail`` stops
the capture unless it is forced, and a forced report says ``"forced": true`` forever.

Checks, in report order (each lives in a small module with its inputs as arguments):

==========================  ===============================  ==============================
finding                     what                             module
==========================  ===============================  ==============================
``clock_offset``            local clock vs the TSA genTime   :mod:`.env_clock`
``proxy_settings``          proxies (env, system)            :mod:`.env_network`
``hosts_entries``           hosts file naming the target     :mod:`.env_network`
``dns_answers``             the target's addresses           :mod:`.env_network`
``tls_chain``               presented chain, trust, host     :mod:`.env_tls`
``virtualisation``          VM or container                  :mod:`.env_host`
``remote_control``          remote-control / sharing apps    :mod:`.env_host`
``browser_profile``         a fresh profile                  :mod:`.env_host`
``installation_integrity``  our files against RECORD         :mod:`.env_install`
==========================  ===============================  ==============================

Network checks need a target and are skipped (and listed in ``skipped``) without one; the
clock check needs a server. Skipping is not passing: the report says what was not looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx

from timeseal.capture._system import Runner, run_command
from timeseal.capture.environment.clock import Clock, clock_offset, utc_now
from timeseal.capture.environment.host import (
    ProcessLister,
    browser_profile,
    list_processes,
    remote_control,
    virtualisation,
)
from timeseal.capture.environment.install import installation_integrity
from timeseal.capture.environment.network import (
    ETC_ENVIRONMENT,
    HOSTS_FILE,
    Resolver,
    Target,
    dns_answers,
    hosts_entries,
    proxy_settings,
    system_resolver,
)
from timeseal.capture.environment.report import (
    EnvironmentCheckFailed,
    EnvironmentReport,
    Finding,
    JSONValue,
    Status,
    require_clean,
)
from timeseal.capture.environment.tls import ChainFetch, TLSChain, fetch_tls_chain, tls_chain

__all__ = [
    "EnvironmentCheckFailed",
    "EnvironmentReport",
    "Finding",
    "JSONValue",
    "Probes",
    "Status",
    "TLSChain",
    "Target",
    "browser_profile",
    "clock_offset",
    "dns_answers",
    "hosts_entries",
    "installation_integrity",
    "proxy_settings",
    "remote_control",
    "report_addresses",
    "report_tls_chain",
    "require_clean",
    "run_environment_check",
    "tls_chain",
    "virtualisation",
]

NETWORK_CHECKS = ("hosts_entries", "dns_answers", "tls_chain")


@dataclass(frozen=True, slots=True)
class Probes:
    """Where the checks look. The defaults are the real machine; tests replace any of them."""

    env: Mapping[str, str] | None = None  # None: os.environ
    clock: Clock = utc_now
    resolve: Resolver = system_resolver
    processes: ProcessLister = list_processes
    run: Runner = run_command
    root: Path = Path("/")
    hosts_file: Path = HOSTS_FILE
    etc_environment: Path = ETC_ENVIRONMENT
    distribution: metadata.Distribution | None = None
    transport: httpx.BaseTransport | None = None  # to the TimeSeal server (clock probe)
    fetch_tls: ChainFetch = fetch_tls_chain
    timeout: float = 10.0


def run_environment_check(
    target: str | None = None,
    server: str | None = None,
    *,
    ca_file: Path | None = None,
    browser_profile_dir: Path | None = None,
    force: bool | None = None,
    probes: Probes | None = None,
) -> EnvironmentReport:
    """Run every check that has its inputs; raises ``ValueError`` for a malformed target URL.

    ``target`` is the URL to capture, ``server`` the TimeSeal server whose TSA sets the clock.
    ``ca_file`` adds a trust anchor for the target's TLS chain (besides the system store);
    ``browser_profile_dir`` is the profile the capture's browser will use. A capture passes
    ``force`` (its ``--force``) to have :func:`require_clean` applied: then a failed check
    raises :class:`EnvironmentCheckFailed`, or, forced, comes back marked ``forced``. Without
    ``force`` (``timeseal env-check``) the report is only returned."""
    p = probes or Probes()
    parsed = Target.parse(target) if target is not None else None
    findings: list[Finding] = []
    skipped: list[str] = []
    created_at = p.clock()

    if server is not None:
        findings.append(
            clock_offset(server, clock=p.clock, transport=p.transport, timeout=p.timeout)
        )
    else:
        skipped.append("clock_offset")
    findings.append(proxy_settings(parsed, env=p.env, etc_environment=p.etc_environment, run=p.run))
    if parsed is not None:
        findings.append(hosts_entries(parsed, hosts_file=p.hosts_file))
        findings.append(dns_answers(parsed, resolve=p.resolve, hosts_file=p.hosts_file))
        findings.append(_tls_finding(parsed, ca_file, p))
    else:
        skipped.extend(NETWORK_CHECKS)
    findings.append(virtualisation(p.root, run=p.run))
    findings.append(remote_control(p.processes))
    if browser_profile_dir is not None:
        findings.append(browser_profile(browser_profile_dir))
    else:
        skipped.append("browser_profile")
    findings.append(installation_integrity(p.distribution))
    report = EnvironmentReport(
        findings=tuple(findings),
        created_at=created_at,
        target=target,
        server=server,
        skipped=tuple(skipped),
    )
    return report if force is None else require_clean(report, force)


def _tls_finding(target: Target, ca_file: Path | None, p: Probes) -> Finding:
    if target.scheme != "https":
        return Finding(
            "tls_chain",
            Status.WARN,
            "目标未使用 HTTPS，内容在传输中可能被篡改，且无证书可证明网站身份",
            "the target does not use HTTPS: its content can be altered in transit and no "
            "certificate proves the site's identity",
            {"host": target.host, "port": target.port, "scheme": target.scheme},
        )
    finding, _ = tls_chain(
        target.host, target.port, ca_file=ca_file, timeout=p.timeout, fetch=p.fetch_tls
    )
    return finding


def report_tls_chain(report: EnvironmentReport) -> TLSChain | None:
    """The TLS chain recorded in a report's ``tls_chain`` finding, if one was recorded."""
    finding = report.finding("tls_chain")
    if finding is None or "chain" not in finding.evidence:
        return None
    return TLSChain.from_json(finding.evidence)


def report_addresses(report: EnvironmentReport) -> list[str]:
    """The target's resolved addresses recorded in the ``dns_answers`` finding."""
    finding = report.finding("dns_answers")
    addresses = finding.evidence.get("addresses") if finding is not None else None
    return [a for a in addresses if isinstance(a, str)] if isinstance(addresses, list) else []
