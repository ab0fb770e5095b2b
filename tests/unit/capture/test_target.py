"""Target verification (应用验真): web targets against a real HTTPS site with a test CA, desktop
targets from a real process (and its Debian package), and a real X server (Xvfb)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.tls_site import SiteCA, https_server, make_test_ca
from tests.support.xvfb import root_window_claiming, xvfb_display
from timeseal.capture._system import CommandResult, run_command
from timeseal.capture.environment.app_identity import dpkg_owner, window_info
from timeseal.capture.environment.known_targets import (
    KnownTarget,
    KnownTargets,
    KnownTargetsError,
    default_targets_path,
)
from timeseal.capture.environment.target import (
    TargetStatus,
    verify_desktop_target,
    verify_web_target,
    verify_web_target_online,
)
from timeseal.capture.environment.tls import TLSChain, fetch_tls_chain

NOBODY = KnownTargets()


def known(*entries: dict[str, object]) -> KnownTargets:
    return KnownTargets.parse(json.dumps({"targets": list(entries)}), "targets.json")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteCA, int]]:
    ca = make_test_ca(tmp_path_factory.mktemp("tls"), dns=("localhost",))
    with https_server(ca) as port:
        yield ca, port


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A running ``sleep``: its executable is coreutils' /usr/bin/sleep."""
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


# -- the known-targets file ------------------------------------------------------------------


def test_known_targets_file_and_rules(tmp_path: Path) -> None:
    path = tmp_path / "timeseal" / "targets.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "targets": [
                    {"name": "淘宝 Taobao", "domain": "Taobao.com.", "include_subdomains": True},
                    {"name": "Shop", "domain": "shop.example"},
                    {"name": "coreutils", "package": "coreutils", "version": "9.1-1"},
                    {"name": "App", "path": "/opt/app", "sha256": "ab" * 32},
                ]
            },
            ensure_ascii=False,
        )
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert default_targets_path(env) == path
    assert default_targets_path({"HOME": "/home/u"}) == Path(
        "/home/u/.config/timeseal/targets.json"
    )
    targets = KnownTargets.load_default(env)
    assert targets.source == str(path)
    assert [t.kind for t in targets.targets] == ["domain", "domain", "package", "executable"]
    assert targets.for_host("item.taobao.com") == targets.targets[0]
    assert targets.for_host("taobao.com") == targets.targets[0]
    assert targets.for_host("www.shop.example") is None  # no subdomain rule
    assert targets.for_host("evil-taobao.com") is None
    assert targets.for_executable("coreutils", "9.1-1", None, None) == targets.targets[2]
    assert targets.for_executable("coreutils", "9.2", None, None) is None
    assert targets.for_executable(None, None, "/opt/app", "ab" * 32) == targets.targets[3]
    assert targets.for_executable(None, None, "/tmp/app", "ab" * 32) is None
    assert KnownTargets.load_default({"XDG_CONFIG_HOME": str(tmp_path / "none")}).targets == ()


@pytest.mark.parametrize(
    "bad",
    [
        "[]",
        "{not json",
        '{"targets": [{"domain": "a.example"}]}',
        '{"targets": [{"name": "x", "domain": "a.example", "package": "p"}]}',
        '{"targets": [{"name": "x", "sha256": "ABC"}]}',
        '{"targets": [{"name": "x", "domain": "a.example", "colour": "red"}]}',
        '{"targets": [{"name": "x", "domain": "a.example", "include_subdomains": "yes"}]}',
        '{"targets": [{"name": "x", "path": "/bin/ls"}]}',
    ],
)
def test_malformed_known_targets_are_refused(bad: str) -> None:
    with pytest.raises(KnownTargetsError):
        KnownTargets.parse(bad)


def test_known_target_needs_exactly_one_identity() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        KnownTarget(name="nothing")


# -- web targets ---------------------------------------------------------------------------


def test_known_site_with_a_valid_chain_is_verified(site: tuple[SiteCA, int]) -> None:
    ca, port = site
    chain = fetch_tls_chain("localhost", port, ca_file=ca.root_pem)
    url = f"https://localhost:{port}/chat?after=redirect"
    result = verify_web_target(
        url, chain, ["127.0.0.1"], known({"name": "本地商店", "domain": "localhost"})
    )
    assert result.status is TargetStatus.VERIFIED, result.reasons
    body = result.to_json()
    assert body["status"] == "verified" and body["matched_target"] == "本地商店"
    identity = body["identity"]
    assert isinstance(identity, dict)
    assert identity["final_url"] == url
    assert identity["covered_domains"] == ["localhost"]
    assert identity["resolved_ips"] == ["127.0.0.1"]
    assert identity["trust_anchor"] == ca.root.subject.rfc4514_string()
    assert identity["chain_sha256"] == [c.sha256 for c in chain.certificates]


def test_unknown_or_untrusted_sites_are_unverified_with_reasons(site: tuple[SiteCA, int]) -> None:
    ca, port = site
    url = f"https://localhost:{port}/"
    trusted = fetch_tls_chain("localhost", port, ca_file=ca.root_pem)
    unknown = verify_web_target(url, trusted, ["127.0.0.1"], NOBODY)
    assert unknown.status is TargetStatus.UNVERIFIED
    assert [r.en for r in unknown.reasons] == ["localhost is not in the list of known targets"]

    listed = known({"name": "local", "domain": "localhost"})
    untrusted = verify_web_target(url, fetch_tls_chain("localhost", port), ["127.0.0.1"], listed)
    assert untrusted.status is TargetStatus.UNVERIFIED
    assert "not trusted" in untrusted.reasons[0].en

    other_host = verify_web_target("https://shop.example/", trusted, ["127.0.0.1"], listed)
    assert "recorded for localhost" in other_host.reasons[0].en

    plain = verify_web_target(f"http://localhost:{port}/", None, ["127.0.0.1"], listed)
    assert [r.en for r in plain.reasons] == [
        "the page is not HTTPS",
        "no certificate chain was recorded",
    ]


def test_online_verification_fetches_the_final_hosts_chain(site: tuple[SiteCA, int]) -> None:
    ca, port = site
    listed = known({"name": "local", "domain": "localhost"})
    result = verify_web_target_online(f"https://localhost:{port}/", listed, ca_file=ca.root_pem)
    assert result.verified
    identity = result.identity
    resolved = identity["resolved_ips"]
    assert isinstance(resolved, list) and "127.0.0.1" in resolved


def test_chain_rebuilt_from_a_report_verifies_the_same(site: tuple[SiteCA, int]) -> None:
    ca, port = site
    chain = fetch_tls_chain("localhost", port, ca_file=ca.root_pem)
    again = TLSChain.from_json(json.loads(json.dumps(chain.to_json())))
    listed = known({"name": "local", "domain": "localhost"})
    url = f"https://localhost:{port}/"
    assert verify_web_target(url, again, ["127.0.0.1"], listed).verified


# -- desktop targets ---------------------------------------------------------------------------


def test_this_python_process_is_identified_by_its_executable() -> None:
    exe = os.path.realpath(sys.executable)
    sha = hashlib.sha256(Path(exe).read_bytes()).hexdigest()
    result = verify_desktop_target(NOBODY, pid=os.getpid())
    assert result.status is TargetStatus.UNVERIFIED
    process = result.identity["process"]
    assert isinstance(process, dict)
    assert process["exe_path"] == exe and process["sha256"] == sha
    assert process["pid"] == os.getpid()

    by_hash = verify_desktop_target(
        known({"name": "Python", "path": exe, "sha256": sha}), pid=os.getpid()
    )
    assert by_hash.verified and by_hash.matched is not None and by_hash.matched.name == "Python"


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs a Debian system (dpkg)")
def test_a_debian_program_is_identified_by_its_package(
    sleeper: subprocess.Popen[bytes],
) -> None:
    result = verify_desktop_target(
        known({"name": "GNU coreutils", "package": "coreutils"}), pid=sleeper.pid
    )
    assert result.verified, result.reasons
    process = result.identity["process"]
    assert isinstance(process, dict)
    package = process["package"]
    assert isinstance(package, dict)
    assert package["name"] == "coreutils" and package["file_intact"] is True
    version = run_command(["dpkg-query", "-W", "-f", "${Version}", "coreutils"])
    assert version is not None and package["version"] == version.stdout


def test_a_package_file_changed_since_install_is_unverified(tmp_path: Path) -> None:
    """dpkg says the package owns the file, but its MD5 differs from what dpkg installed."""
    exe = os.path.realpath(sys.executable)
    (tmp_path / "pyshop.md5sums").write_text(f"{'0' * 32}  {exe.lstrip('/')}\n")

    def fake_dpkg(argv: Sequence[str]) -> CommandResult | None:
        if argv[0] == "dpkg":
            return CommandResult(0, f"pyshop: {argv[2]}\n")
        return CommandResult(0, "1.0\tamd64")

    result = verify_desktop_target(
        known({"name": "Shop", "package": "pyshop"}),
        pid=os.getpid(),
        run=fake_dpkg,
        dpkg_info=tmp_path,
    )
    assert result.status is TargetStatus.UNVERIFIED
    assert "does not match" in result.reasons[0].en
    owner = dpkg_owner(exe, "0" * 32, run=fake_dpkg, dpkg_info=tmp_path)
    assert owner is not None and owner.file_intact is True and owner.version == "1.0"


def test_window_properties_are_read_with_xprop() -> None:
    def fake_xprop(argv: Sequence[str]) -> CommandResult | None:
        assert list(argv[:3]) == ["xprop", "-id", "0x3a00007"]
        return CommandResult(
            0,
            "_NET_WM_PID(CARDINAL) = 4242\n"
            '_NET_WM_NAME(UTF8_STRING) = "客服聊天 - Shop"\n'
            'WM_CLASS(STRING) = "shop", "Shop"\n',
        )

    info = window_info(0x3A00007, run=fake_xprop)
    assert (info.pid, info.title, info.wm_class) == (4242, "客服聊天 - Shop", '"shop", "Shop"')

    def no_pid(argv: Sequence[str]) -> CommandResult | None:
        return CommandResult(0, "_NET_WM_PID:  not found.\n")

    result = verify_desktop_target(NOBODY, window_id=5, run=no_pid)
    assert not result.verified and "_NET_WM_PID" in result.reasons[0].en
    with pytest.raises(ValueError, match="exactly one"):
        verify_desktop_target(NOBODY, window_id=5, pid=1)
    gone = verify_desktop_target(NOBODY, pid=2**22 + 7)
    assert "cannot be identified" in gone.reasons[0].en


@pytest.fixture
def xvfb() -> Iterator[str]:
    with xvfb_display() as display:
        yield display


def test_window_on_a_real_x_server(xvfb: str, sleeper: subprocess.Popen[bytes]) -> None:
    """The root window is given a _NET_WM_PID (as a window manager's client would set it)."""
    window_id = root_window_claiming(xvfb, sleeper.pid)
    result = verify_desktop_target(NOBODY, window_id=window_id, display=xvfb)
    window = result.identity["window"]
    process = result.identity["process"]
    assert isinstance(window, dict) and isinstance(process, dict)
    assert window["claimed_pid"] == sleeper.pid
    assert process["exe_path"] == os.path.realpath(shutil.which("sleep") or "")
    assert result.identity["pid_source"] == "_NET_WM_PID (claimed by the window)"
