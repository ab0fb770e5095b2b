"""A real HTTPS server on 127.0.0.1 with a test CA (root → intermediate → leaf), for tests of
what a TLS client sees: the presented chain, trust against a CA file, hostname checks."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class SiteCA:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    root_pem: Path  # the trust anchor, for --ca-file
    chain_pem: Path  # leaf then intermediate: what the server presents
    key_pem: Path


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TimeSeal test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not ca:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ip_address(i)) for i in ips]
        builder = builder.add_extension(
            x509.SubjectAlternativeName(names), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_test_ca(
    directory: Path, dns: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = ()
) -> SiteCA:
    """Root, intermediate and a leaf for ``dns``/``ips``, written as PEM files in directory."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("TimeSeal Test Root CA", root_key, None, root_key, ca=True)
    inter = _cert("TimeSeal Test Intermediate CA", inter_key, root, root_key, ca=True)
    leaf = _cert(dns[0] if dns else ips[0], leaf_key, inter, inter_key, ca=False, dns=dns, ips=ips)
    pem = serialization.Encoding.PEM
    directory.mkdir(parents=True, exist_ok=True)
    root_pem = directory / "test-root.pem"
    chain_pem = directory / "site-chain.pem"
    key_pem = directory / "site-key.pem"
    root_pem.write_bytes(root.public_bytes(pem))
    chain_pem.write_bytes(leaf.public_bytes(pem) + inter.public_bytes(pem))
    key_pem.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return SiteCA(root, inter, leaf, root_pem, chain_pem, key_pem)


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = "<html><body>客户信息仅用于售后</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def https_server(ca: SiteCA) -> Iterator[int]:
    """Serve over HTTPS on 127.0.0.1 with ``ca``'s leaf and intermediate; yields the port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca.chain_pem, ca.key_pem)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
