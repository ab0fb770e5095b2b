"""Trusting a private CA (``--ca-file``) for one capture, without turning TLS checks off.

Chromium on Linux has no per-launch "extra root" switch; the choices are an NSS database in
``$HOME/.pki/nssdb`` (needs ``certutil`` and a fake home), or
``--ignore-certificate-errors-spki-list``, which accepts a chain only when one of its keys is
in the list. We use the second, narrowed to the one key that matters, and do the real
validation ourselves first:

1. Python's ``ssl`` connects to the target with *only* the given CA as trust anchor and full
   checks on (chain, validity, hostname; ``CERT_REQUIRED``, ``check_hostname``).
2. The leaf certificate that passed is pinned: the base64 SHA-256 of its SubjectPublicKeyInfo
   goes to ``--ignore-certificate-errors-spki-list`` (Chromium honours the switch only with a
   ``--user-data-dir``, which every capture has: a fresh temporary profile).

So Chromium accepts exactly the server key that just validated against the CA for this host,
and nothing else: another site, another key, or a certificate the CA did not sign still fails
(the e2e tests check that a capture without ``--ca-file`` is refused). The limit: other hosts
under the same private CA (a redirect to a second private host) are not pinned and fail. Sites
with publicly trusted certificates need no ``--ca-file`` at all.

The pinned leaf's fingerprint and subject go into ``capture.json``.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from timeseal.capture.web.errors import WebCaptureError
from timeseal.core.package.canonical import JSONValue


@dataclass(frozen=True, slots=True)
class PinnedLeaf:
    host: str
    port: int
    certificate: x509.Certificate

    @property
    def spki_sha256_b64(self) -> str:
        spki = self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")

    def chromium_args(self) -> list[str]:
        return [f"--ignore-certificate-errors-spki-list={self.spki_sha256_b64}"]

    def to_json(self) -> dict[str, JSONValue]:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {
            "method": "ca-file: leaf validated with ssl, then its key pinned in Chromium",
            "host": self.host,
            "port": self.port,
            "leaf_subject": self.certificate.subject.rfc4514_string(),
            "leaf_issuer": self.certificate.issuer.rfc4514_string(),
            "leaf_sha256": hashlib.sha256(der).hexdigest(),
            "spki_sha256_base64": self.spki_sha256_b64,
        }


def _connect_address(host: str) -> str:
    """``*.localhost`` is loopback (RFC 6761 §6.3), as Chromium resolves it, even where the
    system resolver does not know the name."""
    if host == "localhost" or host.endswith(".localhost"):
        return "127.0.0.1"
    return host


def pin_target_leaf(url: str, ca_file: Path, *, timeout: float = 15.0) -> PinnedLeaf:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise WebCaptureError(
            f"--ca-file 只适用于 https 地址 --ca-file applies to https URLs: {url}"
        )
    host = parts.hostname
    port = parts.port or 443
    try:
        context = ssl.create_default_context(cadata=ca_file.read_text("ascii"))
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise WebCaptureError(f"无法读取 CA 文件 cannot load the CA file {ca_file}: {exc}") from exc
    try:
        with (
            socket.create_connection((_connect_address(host), port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        raise WebCaptureError(
            f"目标证书未通过 CA 文件验证 the site's certificate does not validate against "
            f"{ca_file}: {exc.verify_message}"
        ) from exc
    except OSError as exc:
        raise WebCaptureError(f"无法连接 cannot connect to {host}:{port}: {exc}") from exc
    if not der:
        raise WebCaptureError(f"{host}:{port} presented no certificate")
    return PinnedLeaf(host=host, port=port, certificate=x509.load_der_x509_certificate(der))
