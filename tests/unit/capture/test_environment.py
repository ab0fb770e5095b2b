"""The environment check: every check driven through its injected inputs, plus a real HTTPS
server (test CA) for the TLS chain and a real ``timeseal serve`` for the clock."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.server import LiveServer
from tests.support.tls_site import SiteCA, https_server, make_test_ca
from timeseal.capture._system import CommandResult
from timeseal.capture.environment.check import (
    EnvironmentCheckFailed,
    EnvironmentReport,
    Finding,
    Probes,
    Status,
    browser_profile,
    clock_offset,
    dns_answers,
    hosts_entries,
    proxy_settings,
    remote_control,
    report_addresses,
    report_tls_chain,
    require_clean,
    run_environment_check,
    tls_chain,
    virtualisation,
)
from timeseal.capture.environment.host import ProcessInfo, list_processes
from timeseal.capture.environment.network import Target
from timeseal.capture.environment.report import JSONValue
from timeseal.capture.environment.tls import TLSChain, fetch_tls_chain, name_covers, openssl_chain

SHOP = Target.parse("https://shop.example/item/1")


def no_tools(argv: Sequence[str]) -> CommandResult | None:
    """A runner for a machine without gsettings, systemd-detect-virt, …"""
    return None


def offline_tls(host: str, port: int, **kwargs: object) -> TLSChain:
    raise OSError("offline")


def shifted(seconds: float) -> Callable[[], dt.datetime]:
    return lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


def walk_types(value: JSONValue) -> Iterator[type]:
    yield type(value)
    if isinstance(value, list):
        for v in value:
            yield from walk_types(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from walk_types(v)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteCA, int]]:
    ca = make_test_ca(tmp_path_factory.mktemp("tls"), dns=("localhost",), ips=("127.0.0.1",))
    with https_server(ca) as port:
        yield ca, port


# -- the three named findings the issue asks for -------------------------------------------


def test_hosts_override_proxy_and_clock_offset_are_each_their_own_finding(
    tmp_path: Path, server: LiveServer
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n203.0.113.7 shop.example  # injected\n")
    probes = Probes(
        env={"HTTPS_PROXY": "http://10.0.0.1:3128"},
        clock=shifted(60),
        hosts_file=hosts,
        etc_environment=tmp_path / "none",
        resolve=lambda host, port: ["203.0.113.7"],
        run=no_tools,
        root=tmp_path,
        processes=lambda: [],
        fetch_tls=offline_tls,
    )
    report = run_environment_check(SHOP.url, server.url, probes=probes)
    failed = {f.name for f in report.findings if f.status is Status.FAIL}
    assert {"hosts_entries", "proxy_settings", "clock_offset"} <= failed
    assert report.overall is Status.FAIL
    hosts_finding = report.finding("hosts_entries")
    assert hosts_finding is not None
    assert hosts_finding.evidence["entries"] == [
        {"line_number": 2, "address": "203.0.113.7", "line": "203.0.113.7 shop.example  # injected"}
    ]
    proxy = report.finding("proxy_settings")
    assert proxy is not None and proxy.evidence["applies_to_target"] == "http://10.0.0.1:3128"
    clock = report.finding("clock_offset")
    assert clock is not None
    assert isinstance(clock.evidence["offset_ms"], int)
    assert 59_000 < clock.evidence["offset_ms"] < 61_000
    assert report.finding("dns_answers") is not None
    assert report.skipped == ("browser_profile",)


# -- clock against a real server -------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift", "status"), [(0, Status.PASS), (5, Status.WARN), (-30, Status.FAIL)]
)
def test_clock_offset_against_a_live_server(
    server: LiveServer, shift: float, status: Status
) -> None:
    finding = clock_offset(server.url, clock=shifted(shift))
    assert finding.name == "clock_offset"
    assert finding.status is status, finding.summary_en
    ev = finding.evidence
    assert isinstance(ev["offset_ms"], int) and isinstance(ev["round_trip_ms"], int)
    assert abs(ev["offset_ms"] - shift * 1000) < 1000
    assert ev["tsa_url"] == f"{server.url}/tsa"
    assert dt.datetime.fromisoformat(str(ev["gen_time"])).tzinfo is not None
    if shift < 0:
        assert "behind" in finding.summary_en and "慢" in finding.summary_zh


def test_clock_probe_token_is_verified_against_given_roots(server: LiveServer) -> None:
    from cryptography import x509

    root = x509.load_pem_x509_certificate(server.root_pem.read_bytes())
    finding = clock_offset(server.url, tsa_roots=[root])
    assert finding.evidence["token_verified"] is True
    other = make_test_ca(server.data_dir.parent / "other-ca").root
    forged = clock_offset(server.url, tsa_roots=[other])
    assert forged.status is Status.FAIL and forged.evidence["token_verified"] is False


def test_clock_offline_is_a_warning_not_checked() -> None:
    finding = clock_offset("http://127.0.0.1:9", timeout=2)
    assert finding.status is Status.WARN
    assert finding.summary_en.startswith("not checked")


# -- proxies ---------------------------------------------------------------------------------


def test_proxy_not_applying_to_the_target_is_a_warning(tmp_path: Path) -> None:
    env = {"https_proxy": "http://user:secret@proxy.corp:8080", "NO_PROXY": ".example,10.0.0.0/8"}
    finding = proxy_settings(SHOP, env=env, etc_environment=tmp_path / "none", run=no_tools)
    assert finding.status is Status.WARN
    assert finding.evidence["environment"] == {
        "https_proxy": "http://user:***@proxy.corp:8080",
        "no_proxy": ".example,10.0.0.0/8",
    }
    assert "secret" not in json.dumps(finding.to_json())


def test_all_proxy_applies_and_lower_case_wins(tmp_path: Path) -> None:
    env = {"ALL_PROXY": "socks5://a:1080", "all_proxy": "socks5://b:1080"}
    finding = proxy_settings(SHOP, env=env, etc_environment=tmp_path / "none", run=no_tools)
    assert finding.status is Status.FAIL
    assert finding.evidence["applies_to_target"] == "socks5://b:1080"


def test_system_proxy_settings_are_warnings(tmp_path: Path) -> None:
    etc = tmp_path / "environment"
    etc.write_text('PATH="/usr/bin"\nhttp_proxy="http://10.1.1.1:3128"\n')
    finding = proxy_settings(SHOP, env={}, etc_environment=etc, run=no_tools)
    assert finding.status is Status.WARN
    assert finding.evidence["etc_environment"] == {"http_proxy": "http://10.1.1.1:3128"}

    def gnome(argv: Sequence[str]) -> CommandResult | None:
        assert list(argv) == ["gsettings", "get", "org.gnome.system.proxy", "mode"]
        return CommandResult(0, "'manual'\n")

    finding = proxy_settings(None, env={}, etc_environment=tmp_path / "none", run=gnome)
    assert finding.status is Status.WARN
    assert finding.evidence["gnome_proxy_mode"] == "manual"


def test_no_proxy_passes(tmp_path: Path) -> None:
    finding = proxy_settings(SHOP, env={"PATH": "/bin"}, etc_environment=tmp_path / "x")
    assert finding.status is Status.PASS


# -- hosts and DNS ---------------------------------------------------------------------------


def test_hosts_file_standard_localhost_and_related_names(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.0.0.5 cdn.shop.example\n"
    )
    assert hosts_entries(Target.parse("https://localhost:8443/"), hosts_file=hosts).status is (
        Status.PASS
    )
    related = hosts_entries(SHOP, hosts_file=hosts)
    assert related.status is Status.WARN
    assert related.evidence["related_entries"] == [
        {"line_number": 3, "address": "10.0.0.5", "line": "10.0.0.5 cdn.shop.example"}
    ]
    hosts.write_text("10.9.9.9 localhost\n")
    assert hosts_entries(Target.parse("https://localhost/"), hosts_file=hosts).status is (
        Status.FAIL
    )
    missing = hosts_entries(SHOP, hosts_file=tmp_path / "absent")
    assert missing.status is Status.WARN


def test_dns_for_localhost_with_the_real_resolver(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    finding = dns_answers(Target.parse("https://localhost/"), hosts_file=hosts)
    assert finding.status is Status.PASS
    addresses = finding.evidence["addresses"]
    assert isinstance(addresses, list) and addresses
    assert set(addresses) <= {"127.0.0.1", "::1"}
    assert finding.evidence["hosts_file_addresses"] == ["127.0.0.1"]


def test_subdomains_of_localhost_are_loopback(site: tuple[SiteCA, int], tmp_path: Path) -> None:
    """RFC 6761 §6.3, as Chromium does it, even where the system resolver does not know them."""

    def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    finding = dns_answers(
        Target.parse("https://shop.localhost/"), resolve=nxdomain, hosts_file=tmp_path / "h"
    )
    assert finding.status is Status.PASS and finding.evidence["rfc6761_loopback"] is True
    ca, port = site
    chain = fetch_tls_chain("shop.localhost", port, ca_file=ca.root_pem)
    assert chain.host == "shop.localhost" and not chain.hostname_matches  # leaf: localhost


def test_dns_internal_answer_unresolvable_and_ip_literal(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    internal = dns_answers(
        SHOP, resolve=lambda h, p: ["192.168.1.9", "192.168.1.9"], hosts_file=hosts
    )
    assert internal.status is Status.WARN and internal.evidence["addresses"] == ["192.168.1.9"]

    def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    assert dns_answers(SHOP, resolve=nxdomain, hosts_file=hosts).status is Status.FAIL
    literal = dns_answers(
        Target.parse("https://93.184.215.14/"), resolve=nxdomain, hosts_file=hosts
    )
    assert literal.status is Status.PASS and literal.evidence["addresses"] == ["93.184.215.14"]


# -- TLS chain against a real HTTPS server ---------------------------------------------------


def test_tls_chain_is_recorded_and_fails_against_the_system_store(
    site: tuple[SiteCA, int],
) -> None:
    ca, port = site
    finding, chain = tls_chain("localhost", port)
    assert finding.status is Status.FAIL
    assert chain is not None and not chain.trusted and chain.verify_error
    assert [c.subject for c in chain.certificates] == [
        ca.leaf.subject.rfc4514_string(),
        ca.intermediate.subject.rfc4514_string(),
    ]
    ev = finding.evidence
    assert ev["trusted"] is False and ev["hostname_matches"] is True
    presented = ev["chain"]
    assert isinstance(presented, list) and len(presented) == 2
    leaf = presented[0]
    assert isinstance(leaf, dict)
    assert leaf["san_dns"] == ["localhost"] and leaf["san_ip"] == ["127.0.0.1"]
    assert leaf["issuer"] == ca.intermediate.subject.rfc4514_string()
    from cryptography.hazmat.primitives import hashes

    assert leaf["sha256"] == ca.leaf.fingerprint(hashes.SHA256()).hex()


def test_tls_chain_passes_with_the_test_ca(site: tuple[SiteCA, int]) -> None:
    ca, port = site
    finding, chain = tls_chain("localhost", port, ca_file=ca.root_pem)
    assert finding.status is Status.PASS, finding.summary_en
    assert chain is not None
    assert chain.trust_anchor == ca.root.subject.rfc4514_string()
    assert chain.ca_file == str(ca.root_pem)
    # The evidence is enough to rebuild the chain (for target verification, later readers).
    assert TLSChain.from_json(finding.evidence) == chain


def test_tls_chain_hostname_mismatch_fails(tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path, dns=("shop.example",))
    with https_server(ca) as port:
        finding, chain = tls_chain("localhost", port, ca_file=ca.root_pem)
    assert finding.status is Status.FAIL
    assert chain is not None and not chain.hostname_matches
    assert "Hostname mismatch" in str(chain.verify_error)


def test_openssl_fallback_reads_the_same_chain(site: tuple[SiteCA, int]) -> None:
    _, port = site
    via_socket = fetch_tls_chain("localhost", port)
    via_openssl = fetch_tls_chain("localhost", port, chain_from_socket=False)
    assert [c.sha256 for c in via_socket.certificates] == [
        c.sha256 for c in via_openssl.certificates
    ]
    from timeseal.capture.environment.tls import CertificateInfo

    ders = openssl_chain("localhost", port)
    assert [CertificateInfo.from_der(d).sha256 for d in ders] == [
        c.sha256 for c in via_socket.certificates
    ]


def test_no_tls_connection_is_a_fail() -> None:
    finding, chain = tls_chain("127.0.0.1", 9, timeout=2)
    assert finding.status is Status.FAIL and chain is None


def test_wildcards_cover_one_label_only() -> None:
    assert name_covers("*.shop.example", "www.shop.example")
    assert not name_covers("*.shop.example", "a.b.shop.example")
    assert not name_covers("*.shop.example", "shop.example")
    assert not name_covers("*.example", "shop.example")  # no wildcard over a public suffix
    assert name_covers("Shop.Example.", "shop.example")


def test_full_check_against_the_local_site_passes_the_network(
    site: tuple[SiteCA, int], tmp_path: Path
) -> None:
    ca, port = site
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    probes = Probes(
        env={},
        hosts_file=hosts,
        etc_environment=tmp_path / "none",
        run=no_tools,
        root=tmp_path,
        processes=lambda: [],
    )
    report = run_environment_check(f"https://localhost:{port}/", ca_file=ca.root_pem, probes=probes)
    statuses = {f.name: f.status for f in report.findings}
    for name in ("proxy_settings", "hosts_entries", "dns_answers", "tls_chain"):
        assert statuses[name] is Status.PASS, report.finding(name)
    assert report.skipped == ("clock_offset", "browser_profile")
    assert not report.forced
    forced = run_environment_check(
        f"https://localhost:{port}/", force=True, probes=probes
    )  # no CA file: the chain fails, and the capture goes on only forced
    assert forced.overall is Status.FAIL and forced.forced
    with pytest.raises(EnvironmentCheckFailed):
        run_environment_check(f"https://localhost:{port}/", force=False, probes=probes)
    chain = report_tls_chain(report)
    assert chain is not None and chain.trusted
    assert "127.0.0.1" in report_addresses(report)


# -- the machine -----------------------------------------------------------------------------


def test_virtualisation_signs(tmp_path: Path) -> None:
    clean = virtualisation(tmp_path, run=lambda argv: CommandResult(1, "none\n"))
    assert clean.status is Status.PASS
    assert clean.evidence["systemd_detect_virt"] == "none"

    (tmp_path / ".dockerenv").touch()
    (tmp_path / "proc/1").mkdir(parents=True)
    (tmp_path / "proc/1/cgroup").write_text("0::/system.slice/docker-abc.scope\n")
    (tmp_path / "proc/cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu vme hypervisor sse\n")
    (tmp_path / "sys/class/dmi/id").mkdir(parents=True)
    (tmp_path / "sys/class/dmi/id/product_name").write_text("VirtualBox\n")
    found = virtualisation(tmp_path, run=lambda argv: CommandResult(0, "oracle\n"))
    assert found.status is Status.WARN
    signs = found.evidence["signs"]
    assert isinstance(signs, list) and len(signs) == 5
    assert found.evidence["cgroup_markers"] == ["docker"]
    assert found.evidence["cpu_hypervisor_flag"] is True
    assert found.evidence["dmi"] == {"product_name": "VirtualBox", "sys_vendor": None}


def test_remote_control_software(tmp_path: Path) -> None:
    def procs(*p: ProcessInfo) -> Callable[[], list[ProcessInfo]]:
        return lambda: list(p)

    bash = ProcessInfo(1, "bash", ("/bin/bash",))
    assert remote_control(procs(bash)).status is Status.PASS
    sunlogin = ProcessInfo(7, "sunloginclient", ("/usr/local/sunlogin/bin/sunloginclient",))
    todesk = ProcessInfo(8, "ToDesk_Service", ())
    warn = remote_control(procs(bash, sunlogin, todesk))
    assert warn.status is Status.WARN
    assert "向日葵 Sunlogin (sunloginclient)" in warn.summary_en
    vnc = ProcessInfo(9, "x11vnc", ("x11vnc", "-display", ":0"))
    fail = remote_control(procs(bash, vnc))
    assert fail.status is Status.FAIL
    assert fail.evidence["processes"] == [
        {"pid": 9, "name": "x11vnc", "program": "x11vnc", "software": "x11vnc"}
    ]


def test_process_list_from_an_injected_proc(tmp_path: Path) -> None:
    for pid, comm, cmdline in [
        (42, "anydesk", b"/usr/bin/anydesk\0--service\0"),
        (7, "Xvnc", b"/usr/bin/Xvnc\0:1\0"),
    ]:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
        (tmp_path / str(pid) / "cmdline").write_bytes(cmdline)
    (tmp_path / "self").mkdir()
    processes = list_processes(tmp_path)
    assert [(p.pid, p.program) for p in processes] == [(7, "Xvnc"), (42, "anydesk")]
    assert remote_control(lambda: processes).status is Status.FAIL


def test_browser_profile(tmp_path: Path) -> None:
    assert browser_profile(tmp_path / "new").status is Status.PASS
    assert browser_profile(tmp_path).status is Status.PASS
    (tmp_path / "Default" / "Extensions").mkdir(parents=True)
    used = browser_profile(tmp_path)
    assert used.status is Status.WARN
    assert used.evidence["has_extensions"] is True and used.evidence["sample"] == ["Default"]


# -- the report ------------------------------------------------------------------------------


def test_findings_refuse_floats() -> None:
    """mypy refuses them statically (JSONValue has no float); the constructor at run time."""
    with pytest.raises(TypeError, match="no floats"):
        Finding("clock_offset", Status.PASS, "", "", {"offset": 0.5})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        Finding("x", Status.PASS, "", "", {"nested": [{"a": 1.0}]})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="identifier"):
        Finding("not a name", Status.PASS, "", "")


def test_report_json_is_integer_only_and_round_trips(tmp_path: Path) -> None:
    report = run_environment_check(
        None,
        None,
        browser_profile_dir=tmp_path / "profile",
        probes=Probes(env={}, run=no_tools, root=tmp_path, processes=lambda: []),
    )
    body = report.to_json()
    assert float not in set(walk_types(body))
    text = json.dumps(body, ensure_ascii=False, sort_keys=True)
    again = EnvironmentReport.from_json(json.loads(text))
    assert again == report
    assert body["skipped"] == ["clock_offset", "hosts_entries", "dns_answers", "tls_chain"]
    assert str(body["created_at"]).endswith("Z")


def test_require_clean_stops_a_failed_capture_unless_forced() -> None:
    now = dt.datetime(2026, 11, 29, 15, 0, tzinfo=dt.UTC)
    ok = EnvironmentReport((Finding("virtualisation", Status.WARN, "虚", "vm"),), now)
    assert require_clean(ok, force=False) is ok and not ok.forced
    assert require_clean(ok, force=True).forced is False  # nothing to force
    bad = EnvironmentReport(
        (Finding("hosts_entries", Status.FAIL, "改写", "overridden"), *ok.findings), now
    )
    with pytest.raises(EnvironmentCheckFailed, match="hosts_entries") as info:
        require_clean(bad, force=False)
    assert info.value.report is bad
    forced = require_clean(bad, force=True)
    assert forced.forced and forced.to_json()["forced"] is True
    assert forced.overall is Status.FAIL
    with pytest.raises(ValueError, match="duplicate"):
        EnvironmentReport((*ok.findings, *ok.findings), now)
