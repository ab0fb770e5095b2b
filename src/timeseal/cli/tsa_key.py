"""``timeseal tsa use-key``: sign with the operator's own key and certificate chain.

For an operator whose TSA certificate comes from an outside CA (or an existing PKI). The
command checks that the key matches the first certificate, that the certificate is a proper
TSA certificate (RFC 3161 §2.3: exactly id-kp-timeStamping, critical), issues one trial token
and verifies it against the chain's root, and only then copies the key (mode 0600) and chain
into the data directory and points ``config.json`` at them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from timeseal.cli import settings as cli_settings
from timeseal.cli.exits import usage_error
from timeseal.core.errors import TimeSealError
from timeseal.core.signers import KeySigner
from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.server.runtime import configuration, datadir

KEY_FILE = "pki/tsa-own.key"
CHAIN_FILE = "pki/tsa-own-chain.pem"


def register(tsa_app: typer.Typer) -> None:
    tsa_app.command("use-key")(use_key)


KeyOption = Annotated[Path, typer.Option("--key", help="The TSA private key (PEM, unencrypted).")]
ChainOption = Annotated[
    Path,
    typer.Option("--chain", help="PEM: the TSA certificate first, then its chain to the root."),
]
DataDirOption = Annotated[Path, cli_settings.data_dir_option("Data directory.")]

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def use_key(
    key: KeyOption, chain: ChainOption, data_dir: DataDirOption = cli_settings.DEFAULT_DATA_DIR
) -> None:
    """Sign timestamps with your own key and certificate chain from the next start."""
    key_pem, chain_pem = _read(key), _read(chain)
    private = _load_key(key, key_pem)
    certificates = _load_chain(chain, chain_pem)
    root = certificates[-1]
    config = datadir.load_config(data_dir)
    try:
        authority = TimeStampAuthority(KeySigner(private), certificates, policy=config.tsa.policy)
    except (ValueError, TimeSealError) as exc:
        raise usage_error(str(exc)) from None
    _trial_issue(authority, root)
    normalised_key = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    normalised_chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    datadir.switch_signer(
        data_dir,
        configuration.SignerConfig(kind="file", key=KEY_FILE, chain=CHAIN_FILE),
        {CHAIN_FILE: normalised_chain},
        {KEY_FILE: normalised_key},
    )
    typer.echo(f"✓ TSA 将使用你的密钥 the TSA signs with {KEY_FILE} from the next start")
    typer.echo(f"  certificate: {certificates[0].subject.rfc4514_string()}")
    typer.echo(f"  verify tokens with --ca holding: {root.subject.rfc4514_string()}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise usage_error(f"cannot read {exc.filename}: {exc.strerror}") from None


def _load_key(key: Path, key_pem: bytes) -> SigningKey:
    """The unencrypted EC or RSA private key read from ``key``."""
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise usage_error(f"{key} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(private, SigningKey):
        raise usage_error("only EC and RSA keys can sign RFC 3161 tokens")
    return private


def _load_chain(chain: Path, chain_pem: bytes) -> list[x509.Certificate]:
    """The certificates read from ``chain``: at least one, the last a self-signed root."""
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise usage_error(f"{chain} is not a PEM certificate chain ({exc})") from None
    if not certificates:
        raise usage_error(f"{chain} holds no certificate")
    root = certificates[-1]
    if root.issuer != root.subject:
        raise usage_error("the chain must end with its self-signed root certificate")
    return certificates


def _trial_issue(authority: TimeStampAuthority, root: x509.Certificate) -> None:
    """Issue one token with the new key and verify it against the chain's root, before
    anything is copied."""
    digest = hashlib.sha256(b"timeseal use-key trial").digest()
    request = authority.check(build_request(digest, nonce=secrets.randbits(64)).der)
    issued = authority.issue(
        request, gen_time=dt.datetime.now(dt.UTC), serial_number=secrets.randbits(120) | 1
    )
    result = (
        TimestampVerifierBuilder()
        .add_root(root)
        .build()
        .verify(parse_response(issued.response_der), digest)
    )
    if not result.ok:
        names = ", ".join(c.value for c in result.failed)
        raise usage_error(f"a trial token does not verify against the chain's root: {names}")
