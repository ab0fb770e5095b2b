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


def _fail(message: str) -> typer.Exit:
    typer.echo(f"错误 error: {message}", err=True)
    return typer.Exit(2)


def use_key(
    key: Annotated[Path, typer.Option("--key", help="The TSA private key (PEM, unencrypted).")],
    chain: Annotated[
        Path,
        typer.Option("--chain", help="PEM: the TSA certificate first, then its chain to the root."),
    ],
    data_dir: Annotated[Path, cli_settings.data_dir_option("Data directory.")] = (
        cli_settings.DEFAULT_DATA_DIR
    ),
) -> None:
    """Sign timestamps with your own key and certificate chain from the next start."""
    try:
        key_pem = key.read_bytes()
        chain_pem = chain.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {exc.filename}: {exc.strerror}") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise _fail(f"{key} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise _fail("only EC and RSA keys can sign RFC 3161 tokens")
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise _fail(f"{chain} is not a PEM certificate chain ({exc})") from None
    if not certificates:
        raise _fail(f"{chain} holds no certificate")
    root = certificates[-1]
    if root.issuer != root.subject:
        raise _fail("the chain must end with its self-signed root certificate")
    config = datadir.load_config(data_dir)
    try:
        authority = TimeStampAuthority(KeySigner(private), certificates, policy=config.tsa.policy)
    except (ValueError, TimeSealError) as exc:
        raise _fail(str(exc)) from None
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
        raise _fail(f"a trial token does not verify against the chain's root: {names}")
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
