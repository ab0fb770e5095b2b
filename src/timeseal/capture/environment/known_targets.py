"""The list of known targets: the sites and applications a person means to capture.

Target verification (应用验真) marks a captured site or application "verified" only when it is
on this list *and* its identity checks out (a trusted certificate for the domain; the package
owner or the exact executable hash for an application). The list is a JSON file, by default
``$XDG_CONFIG_HOME/timeseal/targets.json`` (``~/.config/…``), or one given with ``--targets``::

    {"targets": [
      {"name": "淘宝 Taobao", "domain": "taobao.com", "include_subdomains": true},
      {"name": "示例商店 Example shop", "domain": "shop.example"},
      {"name": "Firefox", "package": "firefox-esr"},
      {"name": "OpenSSL 3.0.15", "package": "openssl", "version": "3.0.15-1~deb12u1"},
      {"name": "客服工具 Support app", "path": "/opt/support/app", "sha256": "3a7b…"}
    ]}

A domain entry matches its host exactly; with ``include_subdomains`` also every name below it
(``item.taobao.com``). An executable entry is a Debian package (optionally one version), or a
SHA-256 of the executable (optionally at one path).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from timeseal.capture.errors import CaptureError

_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEYS = {"name", "domain", "include_subdomains", "package", "version", "path", "sha256"}


class KnownTargetsError(CaptureError, ValueError):
    """The known-targets file cannot be read or is not in the documented format."""


@dataclass(frozen=True, slots=True)
class KnownTarget:
    """One entry: a domain, a package, or an executable hash (exactly one kind)."""

    name: str
    domain: str | None = None
    include_subdomains: bool = False
    package: str | None = None
    version: str | None = None
    path: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        kinds = [k for k in (self.domain, self.package, self.sha256) if k is not None]
        if len(kinds) != 1:
            raise ValueError(f"{self.name!r}: give exactly one of domain, package, sha256")
        if self.domain is not None:
            object.__setattr__(self, "domain", self.domain.lower().rstrip("."))
        if self.sha256 is not None and not _HEX64.fullmatch(self.sha256):
            raise ValueError(f"{self.name!r}: sha256 must be 64 lower-case hex digits")
        if self.version is not None and self.package is None:
            raise ValueError(f"{self.name!r}: version needs a package")
        if self.path is not None and self.sha256 is None:
            raise ValueError(f"{self.name!r}: path needs a sha256")

    @property
    def kind(self) -> str:
        return "domain" if self.domain else "package" if self.package else "executable"

    def matches_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if self.domain is None:
            return False
        return host == self.domain or (self.include_subdomains and host.endswith("." + self.domain))

    def matches_package(self, package: str | None, version: str | None) -> bool:
        return (
            self.package is not None
            and package == self.package
            and (self.version is None or version == self.version)
        )

    def matches_executable(self, path: str | None, sha256: str | None) -> bool:
        return (
            self.sha256 is not None
            and sha256 == self.sha256
            and (self.path is None or path == self.path)
        )


@dataclass(frozen=True, slots=True)
class KnownTargets:
    """The loaded list, and where it came from (for the record)."""

    targets: tuple[KnownTarget, ...] = ()
    source: str | None = None

    @classmethod
    def parse(cls, text: str, source: str | None = None) -> KnownTargets:
        where = source or "known targets"
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise KnownTargetsError(f"{where}: not JSON: {exc}") from exc
        entries = data.get("targets") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise KnownTargetsError(f'{where}: expected {{"targets": [...]}}')
        targets = []
        for i, entry in enumerate(entries):
            targets.append(_entry(entry, f"{where}: targets[{i}]"))
        return cls(tuple(targets), source)

    @classmethod
    def load(cls, path: Path) -> KnownTargets:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KnownTargetsError(f"cannot read {path}: {exc}") from exc
        return cls.parse(text, str(path))

    @classmethod
    def load_default(cls, env: Mapping[str, str] | None = None) -> KnownTargets:
        """The default file if it exists, else an empty list (everything is unverified)."""
        path = default_targets_path(env)
        return cls.load(path) if path.is_file() else cls((), None)

    def for_host(self, host: str) -> KnownTarget | None:
        return next((t for t in self.targets if t.matches_host(host)), None)

    def for_executable(
        self, package: str | None, version: str | None, path: str | None, sha256: str | None
    ) -> KnownTarget | None:
        return next(
            (
                t
                for t in self.targets
                if t.matches_package(package, version) or t.matches_executable(path, sha256)
            ),
            None,
        )


def default_targets_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/timeseal/targets.json``, XDG's default being ``~/.config``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "timeseal" / "targets.json"


def _entry(entry: object, where: str) -> KnownTarget:
    if not isinstance(entry, dict):
        raise KnownTargetsError(f"{where}: not an object")
    unknown = set(entry) - _KEYS
    if unknown:
        raise KnownTargetsError(f"{where}: unknown keys {sorted(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise KnownTargetsError(f"{where}: a name is required")
    strings = {}
    for key in ("domain", "package", "version", "path", "sha256"):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise KnownTargetsError(f"{where}: {key} must be a string")
        strings[key] = value
    subdomains = entry.get("include_subdomains", False)
    if not isinstance(subdomains, bool):
        raise KnownTargetsError(f"{where}: include_subdomains must be true or false")
    try:
        return KnownTarget(name=name, include_subdomains=subdomains, **strings)
    except ValueError as exc:
        raise KnownTargetsError(f"{where}: {exc}") from exc
