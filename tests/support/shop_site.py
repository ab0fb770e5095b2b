"""The fixture shop (tests/fixtures/shop/) over HTTPS on 127.0.0.1, with a throw-away test CA.

The web capture must trust this CA through ``--ca-file`` only, never by turning TLS checks off,
so the site is served with a real chain: a root CA made here with ``cryptography`` and a server
certificate for ``localhost`` / ``shop.localhost`` (and 127.0.0.1) it signed. The CA's PEM is
written to ``ca.pem`` in the directory the caller gives; no key is ever written to disk.

Besides the static files the server has a redirect (``/go/chat`` -> ``/chat.html``, 302) so
the operation log shows a redirect chain, and it gzips ``shop.css`` so the WARC has to deal
with a Content-Encoding.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import mimetypes
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SHOP_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "shop"
PROMISE = "客户信息仅用于售后"
REDIRECTS = {"/go/chat": "/chat.html"}
GZIPPED = {"/shop.css"}


@dataclass(frozen=True)
class ShopSite:
    url: str  # https://localhost:PORT
    ca_file: Path
    leaf: x509.Certificate

    def page(self, path: str) -> str:
        return self.url + path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TimeSeal test shop"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_test_ca(
    now: dt.datetime,
) -> tuple[x509.Certificate, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """(CA certificate, server certificate, server key): a root and a leaf it signed."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("TimeSeal Test Shop CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("shop.localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("shop.localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca, leaf, key


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TestShop/1.0"

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/":
            path = "/index.html"
        file = (SHOP_DIR / path.lstrip("/")).resolve()
        if not file.is_relative_to(SHOP_DIR) or not file.is_file() or file.name == "README.md":
            body = b"not found"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = file.read_bytes()
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Cache-Control", "no-store")
        if path in GZIPPED and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body, mtime=0)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a browser that refuses the certificate (the tests without ``--ca-file``)
        makes the handshake fail here, and that is the expected outcome, not a server bug."""


@contextmanager
def shop_site(directory: Path | None = None) -> Iterator[ShopSite]:
    """Serve the shop until the block ends; ``ca.pem`` (the test CA) is written to
    ``directory`` (a temporary one when not given)."""
    with tempfile.TemporaryDirectory(prefix="timeseal-shop-") as tmp:
        where = directory or Path(tmp)
        ca, leaf, key = make_test_ca(dt.datetime.now(dt.UTC))
        ca_file = where / "ca.pem"
        ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        # ssl.SSLContext.load_cert_chain wants files; the key goes to the temporary directory
        # only for the moment it takes to load it.
        chain = Path(tmp) / "server.pem"
        chain.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + leaf.public_bytes(serialization.Encoding.PEM)
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        chain.unlink()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield ShopSite(
                url=f"https://localhost:{server.server_address[1]}", ca_file=ca_file, leaf=leaf
            )
        finally:
            server.shutdown()
            server.server_close()
