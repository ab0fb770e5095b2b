"""Network checks: does the target's traffic go where it seems to?

- :func:`proxy_settings` — proxies in the environment and the system settings.
- :func:`hosts_entries` — ``/etc/hosts`` lines that name the target (a classic way to show a
  fake page under a real address).
- :func:`dns_answers` — the addresses the target resolves to, beside the hosts file's.

Every input (environment, file paths, resolver, system tools) is an argument, so that
tests can drive each case.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from timeseal.capture._system import Runner, run_command
from timeseal.capture.environment.report import Finding, JSONValue, Status

Resolver = Callable[[str, int], Sequence[str]]

HOSTS_FILE = Path("/etc/hosts")
ETC_ENVIRONMENT = Path("/etc/environment")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy")
LOOPBACK_ADDRESSES = ("127.0.0.1",)
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL points at: scheme, host (lower case, no trailing dot) and port."""

    url: str
    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise ValueError(f"bad port in {url!r}") from exc
        return cls(url, scheme, parts.hostname.lower().rstrip("."), port)

    @property
    def is_ip_literal(self) -> bool:
        return _is_ip(self.host)


# -- proxies -------------------------------------------------------------------------------


def proxy_settings(
    target: Target | None = None,
    *,
    env: Mapping[str, str] | None = None,
    etc_environment: Path = ETC_ENVIRONMENT,
    run: Runner = run_command,
) -> Finding:
    """Proxy variables (any case) in our environment and ``/etc/environment``, and GNOME's
    system proxy mode. Any proxy is a ``warn``: traffic may pass through a machine that can
    rewrite it. A proxy of *this* process that the target's URL would use (not excluded by
    ``NO_PROXY``) is a ``fail``: what we capture would be what the proxy chose to show."""
    env = os.environ if env is None else env
    process = _proxy_variables(env)
    system = _proxy_variables(_read_env_file(etc_environment))
    gnome = _gnome_proxy(run)
    evidence: dict[str, JSONValue] = {
        "environment": {k: _redact(v) for k, v in sorted(process.items())},
        "etc_environment": {k: _redact(v) for k, v in sorted(system.items())},
        "gnome_proxy_mode": gnome,
    }
    applies = None if target is None else _proxy_for(target, process)
    if applies is not None and target is not None:
        evidence["applies_to_target"] = _redact(applies)
        return Finding(
            "proxy_settings",
            Status.FAIL,
            f"目标 {target.host} 的流量经过代理 {_redact(applies)}",
            f"traffic to the target {target.host} goes through the proxy {_redact(applies)}",
            evidence,
        )
    proxies = [k for k in (*process, *system) if k != "no_proxy"]
    if proxies or gnome in ("manual", "auto"):
        where = sorted({*proxies, *([f"gnome:{gnome}"] if gnome in ("manual", "auto") else [])})
        return Finding(
            "proxy_settings",
            Status.WARN,
            f"设置了代理（{', '.join(where)}），但不用于目标",
            f"a proxy is set ({', '.join(where)}) though not for the target",
            evidence,
        )
    return Finding("proxy_settings", Status.PASS, "未设置代理", "no proxy is set", evidence)


def _proxy_variables(env: Mapping[str, str]) -> dict[str, str]:
    """Proxy variables by lower-case name; the lower-case spelling wins, as in curl."""
    found: dict[str, str] = {}
    for key, value in env.items():
        name = key.lower()
        if name in PROXY_VARIABLES and value.strip() and (name not in found or key == name):
            found[name] = value.strip()
    return found


def _read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (values optionally quoted), as pam_env reads /etc/environment."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("\"'")
    return values


def _gnome_proxy(run: Runner) -> str | None:
    """GNOME's ``org.gnome.system.proxy mode`` (none/manual/auto), ``None`` if unreadable."""
    result = run(["gsettings", "get", "org.gnome.system.proxy", "mode"])
    if result is None or result.returncode != 0:
        return None
    return result.stdout.strip().strip("'") or None


def _proxy_for(target: Target, proxies: Mapping[str, str]) -> str | None:
    """The proxy URL a client honouring the usual variables would use for ``target``."""
    chosen = proxies.get(f"{target.scheme}_proxy") or proxies.get("all_proxy")
    if chosen is None or _no_proxy_matches(target.host, proxies.get("no_proxy", "")):
        return None
    return chosen


def _no_proxy_matches(host: str, no_proxy: str) -> bool:
    """curl's NO_PROXY: ``*``, or names matching the host or a parent domain (leading dot
    optional); ports and CIDR ranges are not interpreted (then the proxy counts)."""
    for raw in no_proxy.split(","):
        entry = raw.strip().lower().lstrip(".")
        if entry == "*":
            return True
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


def _redact(url: str) -> str:
    """Drop a password from a proxy URL: the report is shown to others."""
    parts = urlsplit(url if "://" in url else f"//{url}")
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl().lstrip("/")


# -- hosts file and DNS ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostsEntry:
    line_number: int
    address: str
    names: tuple[str, ...]
    line: str


def parse_hosts(text: str) -> list[HostsEntry]:
    """``/etc/hosts`` lines: an address then names; ``#`` starts a comment."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 2:
            names = tuple(n.lower().rstrip(".") for n in fields[1:])
            entries.append(HostsEntry(number, fields[0], names, raw.strip()))
    return entries


def _read_hosts(path: Path) -> tuple[list[HostsEntry], str | None]:
    try:
        return parse_hosts(path.read_text(encoding="utf-8", errors="replace")), None
    except OSError as exc:
        return [], str(exc)


def _related(name: str, host: str) -> bool:
    return name.endswith("." + host) or host.endswith("." + name)


def is_loopback_name(host: str) -> bool:
    """RFC 6761 §6.3: ``localhost`` and names under it are always the loopback interface."""
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def hosts_entries(target: Target, *, hosts_file: Path = HOSTS_FILE) -> Finding:
    """Lines of the hosts file that name the target or a domain above or below it.

    An entry for the target itself overrides DNS: ``fail``. Entries for related names (a
    subdomain or parent) are a ``warn``. ``localhost`` mapped to a loopback address is the
    normal entry every system has, not an override."""
    entries, error = _read_hosts(hosts_file)
    exact = [e for e in entries if target.host in e.names]
    related = [
        e for e in entries if e not in exact and any(_related(n, target.host) for n in e.names)
    ]
    evidence: dict[str, JSONValue] = {
        "hosts_file": str(hosts_file),
        "host": target.host,
        "entries": [_entry_json(e) for e in exact],
        "related_entries": [_entry_json(e) for e in related],
    }
    if error is not None:
        evidence["error"] = error
        return Finding(
            "hosts_entries",
            Status.WARN,
            "未检查：无法读取 hosts 文件",
            "not checked: the hosts file cannot be read",
            evidence,
        )
    standard = is_loopback_name(target.host) and all(
        _is_ip(e.address) and ipaddress.ip_address(e.address).is_loopback for e in exact
    )
    if exact and not standard:
        lines = "; ".join(f"{e.line_number}: {e.line}" for e in exact)
        return Finding(
            "hosts_entries",
            Status.FAIL,
            f"hosts 文件改写了目标 {target.host} 的地址（{lines}）",
            f"the hosts file overrides the target {target.host} ({lines})",
            evidence,
        )
    if related:
        names = ", ".join(sorted({n for e in related for n in e.names}))
        return Finding(
            "hosts_entries",
            Status.WARN,
            f"hosts 文件含有与目标相关的域名：{names}",
            f"the hosts file names domains related to the target: {names}",
            evidence,
        )
    return Finding(
        "hosts_entries",
        Status.PASS,
        f"hosts 文件未改写目标 {target.host}",
        f"the hosts file does not override the target {target.host}",
        evidence,
    )


def _entry_json(entry: HostsEntry) -> dict[str, JSONValue]:
    return {"line_number": entry.line_number, "address": entry.address, "line": entry.line}


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives for TCP (what a browser on this machine gets)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def dns_answers(
    target: Target, *, resolve: Resolver = system_resolver, hosts_file: Path = HOSTS_FILE
) -> Finding:
    """The target's resolved addresses (through the system resolver, so hosts file included),
    compared with the hosts file. A public name answering with private or loopback addresses
    is a ``warn`` (a redirect inside this network); a name that does not resolve is a
    ``fail`` (there is nothing real to capture)."""
    entries, _ = _read_hosts(hosts_file)
    from_hosts = sorted({e.address for e in entries if target.host in e.names})
    evidence: dict[str, JSONValue] = {"host": target.host, "hosts_file_addresses": list(from_hosts)}
    if target.is_ip_literal:
        evidence["addresses"] = [target.host]
        return Finding(
            "dns_answers",
            Status.PASS,
            f"目标是 IP 地址 {target.host}，无需解析",
            f"the target is the IP address {target.host}; nothing to resolve",
            evidence,
        )
    try:
        addresses = sorted(set(resolve(target.host, target.port)), key=_address_key)
    except OSError as exc:
        if is_loopback_name(target.host):
            # RFC 6761 §6.3: browsers (Chromium) answer loopback for *.localhost themselves.
            evidence.update({"addresses": list(LOOPBACK_ADDRESSES), "rfc6761_loopback": True})
            return Finding(
                "dns_answers",
                Status.PASS,
                f"{target.host} 是本机回环名称（RFC 6761），解析为 127.0.0.1",
                f"{target.host} is a loopback name (RFC 6761): 127.0.0.1",
                evidence,
            )
        evidence["addresses"] = []
        evidence["error"] = str(exc)
        return Finding(
            "dns_answers",
            Status.FAIL,
            f"无法解析目标 {target.host}",
            f"the target {target.host} does not resolve",
            evidence,
        )
    evidence["addresses"] = list(addresses)
    evidence["answered_by_hosts_file"] = bool(from_hosts) and set(addresses) <= set(from_hosts)
    listed = ", ".join(addresses)
    internal = [a for a in addresses if _is_ip(a) and not ipaddress.ip_address(a).is_global]
    if internal and not is_loopback_name(target.host):
        return Finding(
            "dns_answers",
            Status.WARN,
            f"{target.host} 解析到内部地址 {', '.join(internal)}",
            f"{target.host} resolves to internal addresses {', '.join(internal)}",
            evidence,
        )
    return Finding(
        "dns_answers",
        Status.PASS,
        f"{target.host} 解析为 {listed}",
        f"{target.host} resolves to {listed}",
        evidence,
    )


def _address_key(address: str) -> tuple[int, str]:
    return (6 if ":" in address else 4, address)
