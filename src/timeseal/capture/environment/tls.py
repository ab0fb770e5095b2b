"""The target's TLS certificate chain, exactly as presented, and whether this machine trusts it.

What a court wants to see is the chain the server sent in *this* connection, not one fetched
later: so the chain is read from the handshake itself. Python 3.11's public ``ssl`` API gives
only the leaf, so we use the ``get_unverified_chain`` / ``get_verified_chain`` methods of the
underlying ``_ssl`` socket (public in Python 3.13), and fall back to ``openssl s_client
-showcerts`` where they are missing. Certificates are parsed with ``cryptography``.

Trust is decided by OpenSSL during the handshake, against the system trust store (what
``ssl.create_default_context`` loads) plus an optional extra CA file, with the hostname
checked. A chain that does not validate is a ``fail``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from timeseal.capture._system import Runner, run_command
from timeseal.capture.environment.network import is_loopback_name
from timeseal.capture.environment.report import Finding, JSONValue, Status, format_utc

#: Reads the chain presented by host:port (leaf first) as DER, for the fallback path.
ChainFetcher = Callable[[str, int, float], list[bytes]]


class ChainFetch(Protocol):
    """The signature of :func:`fetch_tls_chain`, for injecting a fake."""

    def __call__(
        self, host: str, port: int, *, ca_file: Path | None = ..., timeout: float = ...
    ) -> TLSChain: ...


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """One certificate of a presented chain, with what a reader needs to recognise it."""

    subject: str
    issuer: str
    serial_number: str
    sha256: str
    not_before: str
    not_after: str
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    is_ca: bool
    pem: str

    @classmethod
    def from_der(cls, der: bytes) -> CertificateInfo:
        cert = x509.load_der_x509_certificate(der)
        dns: tuple[str, ...] = ()
        ips: tuple[str, ...] = ()
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = tuple(san.get_values_for_type(x509.DNSName))
            ips = tuple(str(a) for a in san.get_values_for_type(x509.IPAddress))
        except x509.ExtensionNotFound:
            pass
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            serial_number=format(cert.serial_number, "x"),
            sha256=hashlib.sha256(der).hexdigest(),
            not_before=format_utc(cert.not_valid_before_utc),
            not_after=format_utc(cert.not_valid_after_utc),
            san_dns=dns,
            san_ip=ips,
            is_ca=is_ca,
            pem=cert.public_bytes(Encoding.PEM).decode("ascii"),
        )

    def covers(self, host: str) -> bool:
        """Whether this certificate's SAN names ``host`` (RFC 6125 §6.4: one wildcard, as
        the whole left-most label only)."""
        if _is_ip(host):
            return ipaddress.ip_address(host) in {ipaddress.ip_address(a) for a in self.san_ip}
        return any(name_covers(pattern, host) for pattern in self.san_dns)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial_number": self.serial_number,
            "sha256": self.sha256,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "san_dns": list(self.san_dns),
            "san_ip": list(self.san_ip),
            "is_ca": self.is_ca,
            "pem": self.pem,
        }


@dataclass(frozen=True, slots=True)
class TLSChain:
    """The result of one TLS connection to the target: the presented chain and the verdict."""

    host: str
    port: int
    certificates: tuple[CertificateInfo, ...]
    trusted: bool
    verify_error: str | None
    trust_anchor: str | None
    tls_version: str | None
    ca_file: str | None

    @property
    def leaf(self) -> CertificateInfo | None:
        return self.certificates[0] if self.certificates else None

    @property
    def hostname_matches(self) -> bool:
        return self.leaf is not None and self.leaf.covers(self.host)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "host": self.host,
            "port": self.port,
            "trusted": self.trusted,
            "hostname_matches": self.hostname_matches,
            "verify_error": self.verify_error,
            "trust_anchor": self.trust_anchor,
            "tls_version": self.tls_version,
            "ca_file": self.ca_file,
            "chain": [c.to_json() for c in self.certificates],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> TLSChain:
        """Rebuild from :meth:`to_json` (e.g. a ``tls_chain`` finding's evidence); the
        certificates are re-parsed from their PEM, so the derived fields cannot disagree."""
        chain = obj.get("chain")
        host, port = obj.get("host"), obj.get("port")
        if not isinstance(chain, list) or not isinstance(host, str) or not isinstance(port, int):
            raise ValueError("not a TLS chain record")
        certs = []
        for item in chain:
            pem = item.get("pem") if isinstance(item, Mapping) else None
            if not isinstance(pem, str):
                raise ValueError("chain entry without PEM")
            der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
            certs.append(CertificateInfo.from_der(der))

        def text(key: str) -> str | None:
            value = obj.get(key)
            return value if isinstance(value, str) else None

        return cls(
            host=host,
            port=port,
            certificates=tuple(certs),
            trusted=obj.get("trusted") is True,
            verify_error=text("verify_error"),
            trust_anchor=text("trust_anchor"),
            tls_version=text("tls_version"),
            ca_file=text("ca_file"),
        )


def name_covers(pattern: str, host: str) -> bool:
    """A SAN dNSName against a host name, RFC 6125 §6.4.3 (case-insensitive)."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if not pattern.startswith("*."):
        return pattern == host
    head, _, rest = host.partition(".")
    return bool(head) and rest == pattern[2:] and "." in rest


def fetch_tls_chain(
    host: str,
    port: int = 443,
    *,
    ca_file: Path | None = None,
    timeout: float = 10.0,
    fallback: ChainFetcher | None = None,
    chain_from_socket: bool = True,
) -> TLSChain:
    """Connect to ``host:port`` and validate the chain against the system store (plus
    ``ca_file``). On a validation error, connect once more without validation to record what
    was presented. Raises ``OSError`` when no TLS connection can be made at all.

    The chain is read from the handshake; where this Python cannot (or with
    ``chain_from_socket=False``), ``fallback`` (default :func:`openssl_chain`) reads it."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    verify_error = None
    trust_anchor = None
    try:
        presented, verified, version = _handshake(host, port, context, timeout)
        if verified:
            trust_anchor = CertificateInfo.from_der(verified[-1]).subject
    except ssl.SSLCertVerificationError as exc:
        verify_error = f"{exc.verify_code}: {exc.verify_message}"
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        presented, _, version = _handshake(host, port, insecure, timeout)
    if not presented or not chain_from_socket:
        presented = (fallback or openssl_chain)(host, port, timeout)
    return TLSChain(
        host=host,
        port=port,
        certificates=tuple(CertificateInfo.from_der(d) for d in presented),
        trusted=verify_error is None,
        verify_error=verify_error,
        trust_anchor=trust_anchor,
        tls_version=version,
        ca_file=None if ca_file is None else str(ca_file),
    )


def _handshake(
    host: str, port: int, context: ssl.SSLContext, timeout: float
) -> tuple[list[bytes], list[bytes], str | None]:
    """(presented chain, verified chain, TLS version); the chains are empty when this
    Python cannot read them from the socket."""
    server_hostname = None if _is_ip(host) else host
    # RFC 6761 §6.3: *.localhost is loopback, as browsers resolve it, whatever the resolver says.
    address = "127.0.0.1" if is_loopback_name(host) else host
    with (
        socket.create_connection((address, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        presented = _socket_chain(tls, "get_unverified_chain")
        verified = (
            _socket_chain(tls, "get_verified_chain")
            if context.verify_mode == ssl.CERT_REQUIRED
            else []
        )
        return presented, verified, tls.version()


def _socket_chain(tls: ssl.SSLSocket, method: str) -> list[bytes]:
    """The chain from the socket: public API on Python ≥ 3.13, ``_sslobj`` before."""
    getter = getattr(tls, method, None) or getattr(getattr(tls, "_sslobj", None), method, None)
    if getter is None:
        return []
    chain = getter() or []
    return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]


_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def openssl_chain(
    host: str, port: int, timeout: float = 10.0, run: Runner = run_command
) -> list[bytes]:
    """The presented chain through ``openssl s_client -showcerts`` (a second connection)."""
    address = "127.0.0.1" if is_loopback_name(host) else host
    argv = ["openssl", "s_client", "-connect", f"{address}:{port}", "-showcerts"]
    if not _is_ip(host):
        argv += ["-servername", host]
    result = run(argv)
    if result is None:
        raise OSError("openssl s_client is not available to read the certificate chain")
    blocks = _PEM.findall(result.stdout)
    if not blocks:
        raise OSError(f"openssl s_client read no certificate from {host}:{port}")
    return [x509.load_pem_x509_certificate(b.encode()).public_bytes(Encoding.DER) for b in blocks]


def tls_chain(
    host: str,
    port: int = 443,
    *,
    ca_file: Path | None = None,
    timeout: float = 10.0,
    fetch: ChainFetch = fetch_tls_chain,
) -> tuple[Finding, TLSChain | None]:
    """The ``tls_chain`` finding, and the chain itself for target verification.

    ``pass``: the chain validates and names the host. ``fail``: it does not, or no TLS
    connection could be made."""
    try:
        chain = fetch(host, port, ca_file=ca_file, timeout=timeout)
    except (OSError, ValueError) as exc:
        return (
            Finding(
                "tls_chain",
                Status.FAIL,
                f"无法与 {host}:{port} 建立 TLS 连接",
                f"no TLS connection to {host}:{port} could be made",
                {"host": host, "port": port, "error": str(exc)},
            ),
            None,
        )
    leaf = chain.leaf
    subject = leaf.subject if leaf is not None else "?"
    if chain.trusted and chain.hostname_matches:
        finding = Finding(
            "tls_chain",
            Status.PASS,
            f"证书链有效，受信任（{chain.trust_anchor}），证书属于 {host}",
            f"the certificate chain validates to {chain.trust_anchor} and names {host}",
            chain.to_json(),
        )
    else:
        reason = chain.verify_error or f"the certificate does not name {host}"
        finding = Finding(
            "tls_chain",
            Status.FAIL,
            f"证书链未通过验证（{reason}），证书主体 {subject}",
            f"the certificate chain does not validate ({reason}); subject {subject}",
            chain.to_json(),
        )
    return finding, chain


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
