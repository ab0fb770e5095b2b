"""The platform's keys and certificates as the data directory holds them: reading each one,
and refusing one that is missing, malformed or readable by others."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from timeseal.core import pki
from timeseal.core.errors import MalformedError
from timeseal.core.signers import KeySigner, Signer
from timeseal.core.tlog import SignerKey, VerifierKey, parse_signer_key, parse_verifier_key
from timeseal.server.runtime.configuration import DataDirError, LogConfig, SignerConfig

AUTH_SECRET_FILE = "auth.key"
DOCUMENT_SIGNING_KEY = "pki/docsign.key"
DOCUMENT_SIGNING_CERT = "pki/docsign.pem"
DOCUMENT_SIGNING_CHAIN = "pki/docsign-chain.pem"


@dataclass(frozen=True, slots=True)
class DocumentSigner:
    """The key and chain that sign certificate PDFs (``timeseal.server.certificate.render``)."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]  # the signing certificate first, the root last

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]


def load_root_ca(key_path: Path, cert_path: Path) -> pki.IssuedCertificate:
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise DataDirError(f"cannot read the root CA {key_path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise DataDirError(f"{key_path}: the root key must be EC or RSA")
    return pki.IssuedCertificate(key=key, certificate=cert)


def read_document_signer(data_dir: Path) -> DocumentSigner:
    """The document signer as the data directory holds it (see
    :func:`timeseal.server.runtime.datadir.load_document_signer`, which issues it first)."""
    key_path, chain_path = data_dir / DOCUMENT_SIGNING_KEY, data_dir / DOCUMENT_SIGNING_CHAIN
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        chain = tuple(x509.load_pem_x509_certificates(chain_path.read_bytes()))
    except (OSError, ValueError, TypeError) as exc:
        raise DataDirError(f"cannot read the document signer {key_path}: {exc}") from exc
    mode = key_path.stat().st_mode & 0o077
    if mode:
        raise DataDirError(f"{key_path} is readable by others (mode {oct(mode)}); chmod 600 it")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DataDirError(f"{key_path}: the document-signing key must be EC")
    if not chain or chain[0].public_key() != key.public_key():
        raise DataDirError(f"{chain_path} does not start with the certificate of {key_path}")
    return DocumentSigner(key=key, chain=chain)


def load_auth_secret(data_dir: Path) -> bytes:
    """The 32-byte server secret (HMAC key of login codes and CSRF tokens)."""
    path = data_dir / AUTH_SECRET_FILE
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise DataDirError(f"cannot read the server secret {path}: {exc}") from exc
    if len(secret) != 32:
        raise DataDirError(f"{path} must hold 32 bytes in hex")
    if path.stat().st_mode & 0o077:
        raise DataDirError(f"{path} is readable by others; chmod 600 it")
    return secret


def load_log_key(data_dir: Path, config: LogConfig) -> SignerKey:
    path = data_dir / config.key
    try:
        key = parse_signer_key(path.read_text().strip())
    except (OSError, MalformedError) as exc:
        raise DataDirError(f"cannot read the log key {path}: {exc}") from exc
    if path.stat().st_mode & 0o077:
        raise DataDirError(f"{path} is readable by others; chmod 600 it")
    if key.name != config.origin:
        raise DataDirError(f"the log key is named {key.name!r}, the origin is {config.origin!r}")
    return key


def root_certificate_path(data_dir: Path) -> Path:
    return data_dir / "pki" / "root.pem"


def load_chain(data_dir: Path, signer: SignerConfig) -> list[x509.Certificate]:
    path = data_dir / signer.chain
    try:
        chain = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise DataDirError(f"cannot read the TSA chain {path}: {exc}") from exc
    if not chain:
        raise DataDirError(f"{path} holds no certificate")
    return chain


def load_signer(
    data_dir: Path, config: SignerConfig, secret_values: Mapping[str, str] | None = None
) -> Signer:
    """The TSA's signer, from a key file or an HSM (its PIN is
    ``secret_values[config.pkcs11_pin_env]``, which the caller's settings read from the
    environment)."""
    if config.kind == "file":
        path = data_dir / config.key
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise DataDirError(f"cannot read the TSA key {path}: {exc}") from exc
        mode = path.stat().st_mode & 0o077
        if mode:
            raise DataDirError(f"{path} is readable by others (mode {oct(mode)}); chmod 600 it")
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise DataDirError(f"{path}: only EC and RSA keys can sign timestamps")
        return KeySigner(key)
    if config.kind == "pkcs11":
        from timeseal.core.signers.pkcs11 import Pkcs11Signer

        pin = (secret_values or {}).get(config.pkcs11_pin_env)
        if pin is None:
            raise DataDirError(f"set {config.pkcs11_pin_env} to the token's user PIN")
        return Pkcs11Signer.open(
            module=config.pkcs11_module,
            token_label=config.pkcs11_token_label,
            key_label=config.pkcs11_key_label,
            pin=pin,
        )
    raise DataDirError(f"unknown signer kind {config.kind!r} (file or pkcs11)")


def witness_keys(config: LogConfig) -> list[tuple[str, VerifierKey]]:
    """The configured witnesses as (URL, verifier key)."""
    out = []
    for witness in config.witnesses:
        try:
            out.append((witness.url, parse_verifier_key(witness.vkey)))
        except MalformedError as exc:
            raise DataDirError(
                f"config.json log.witnesses: bad vkey for {witness.url}: {exc}"
            ) from exc
    return out
