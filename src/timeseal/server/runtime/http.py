"""How the HTTP front behaves, as the operator chose it: which proxies are trusted, how long a
client may take to send a request, when the disk counts as low, whether ``/docs`` is served.

``timeseal serve`` reads these once — ``config.json``'s ``"http"`` section, then its own flags over
it (:func:`resolve`) — and hands the result explicitly to every worker, inside the server's
settings: to uvicorn's config and to the application factory
(:mod:`timeseal.server.runtime.serving`). Nothing here is read from the environment, so uvicorn's
own ``FORWARDED_ALLOW_IPS`` variable (which uvicorn reads whenever it is not told otherwise) can
never widen the trust the operator set.

Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are trusted only from the
peers listed in ``forwarded_allow_ips``; by default from none, not even 127.0.0.1. Otherwise
anyone could name the client address that per-IP limits count and that the custody trail
(which goes into court packages) records, and could flip the scheme that decides whether
session cookies are ``Secure``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

#: A request's head (request line and headers) must be complete this long after it began.
DEFAULT_HEADER_TIMEOUT = 10.0
#: A request body that sends nothing for this long is cut off (408).
DEFAULT_BODY_TIMEOUT = 30.0
#: ``/healthz`` reports ``disk_low`` (503) below this much free space in the data directory.
DEFAULT_DISK_LOW_MB = 1024
#: The longest timeout a setting may ask for: beyond it a stalled client is never "slow".
MAX_TIMEOUT = 3600.0


def check_proxy_address(entry: str) -> str:
    """``entry`` if it is an IP address or a network in CIDR form; else ``ValueError``.

    Networks must be written with their host bits clear (``10.0.0.0/8``, not ``10.0.0.1/8``):
    uvicorn's matcher would silently treat the latter as a name that never matches."""
    try:
        if "/" in entry:
            ipaddress.ip_network(entry)
        else:
            ipaddress.ip_address(entry)
    except ValueError as exc:
        raise ValueError(
            f"forwarded_allow_ips: {entry!r} is not an IP address or network (CIDR): {exc}"
        ) from None
    return entry


def parse_forwarded_allow_ips(text: str) -> tuple[str, ...]:
    """The comma-separated addresses/networks of ``--forwarded-allow-ips``, checked. ``*`` is
    refused: trusting every peer is what this setting exists to prevent."""
    return tuple(check_proxy_address(e.strip()) for e in text.split(",") if e.strip())


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """``config.json`` ``"http"``: the HTTP front's settings (see the module docstring)."""

    #: Peers (reverse proxies) whose X-Forwarded-For/-Proto are believed. Empty: none.
    forwarded_allow_ips: tuple[str, ...] = ()
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT
    disk_low_mb: int = DEFAULT_DISK_LOW_MB
    #: Serve /docs (Swagger UI) — only from assets installed locally, never from a CDN.
    api_docs: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.forwarded_allow_ips, str | bytes):
            raise TypeError("forwarded_allow_ips must be a sequence of addresses")
        for entry in self.forwarded_allow_ips:
            check_proxy_address(entry)
        for name in ("header_timeout_s", "body_timeout_s"):
            value = getattr(self, name)
            if not 0 < value <= MAX_TIMEOUT:
                raise ValueError(f"http.{name} must be more than 0 and at most {MAX_TIMEOUT:g}")
        if self.disk_low_mb < 0:
            raise ValueError("http.disk_low_mb must not be negative")

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> HttpConfig:
        values = dict(raw)
        if "forwarded_allow_ips" in values:
            values["forwarded_allow_ips"] = tuple(values["forwarded_allow_ips"])
        return cls(**values)

    @property
    def disk_low_bytes(self) -> int:
        return self.disk_low_mb << 20


def resolve(
    config: HttpConfig,
    *,
    forwarded_allow_ips: str | None = None,
    header_timeout: float | None = None,
    body_timeout: float | None = None,
    disk_low_mb: int | None = None,
    api_docs: bool | None = None,
) -> HttpConfig:
    """``config`` (from config.json) with every flag that was given put over it. ``ValueError``
    names a bad value."""
    changes: dict[str, Any] = {}
    if forwarded_allow_ips is not None:
        changes["forwarded_allow_ips"] = parse_forwarded_allow_ips(forwarded_allow_ips)
    if header_timeout is not None:
        changes["header_timeout_s"] = header_timeout
    if body_timeout is not None:
        changes["body_timeout_s"] = body_timeout
    if disk_low_mb is not None:
        changes["disk_low_mb"] = disk_low_mb
    if api_docs is not None:
        changes["api_docs"] = api_docs
    return replace(config, **changes)
