"""``timeseal tsa use-pkcs11``: move the TSA's signing key into an HSM (PKCS#11).

The command opens the key on the token (which checks the PIN and signs a test message),
certifies its public key with the data directory's root CA, proves the pair by issuing and
verifying one token, and only then points ``config.json``'s ``tsa.signer`` at the HSM. The old
file key and its certificate stay where they are, so switching back is an edit of
``config.json``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from timeseal.cli import settings as cli_settings
from timeseal.cli.data_dir import DataDirOption
from timeseal.cli.exits import fail, usage_error
from timeseal.core import pki
from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import TimeSealError
from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder

CERTIFICATE_FILE = "pki/tsa-pkcs11.pem"
CHAIN_FILE = "pki/tsa-pkcs11-chain.pem"


def register(tsa_app: typer.Typer) -> None:
    """Add ``use-pkcs11`` to the ``timeseal tsa`` command group."""
    tsa_app.command("use-pkcs11")(use_pkcs11)


ModuleOption = Annotated[
    str,
    typer.Option(
        "--module",
        help="PKCS#11 module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so.",
    ),
]
TokenLabelOption = Annotated[str, typer.Option("--token-label", help="Label of the token.")]
KeyLabelOption = Annotated[
    str, typer.Option("--key-label", help="CKA_LABEL of the key pair (EC or RSA).")
]


def use_pkcs11(
    module: ModuleOption,
    token_label: TokenLabelOption,
    key_label: KeyLabelOption,
    data_dir: DataDirOption = cli_settings.DEFAULT_DATA_DIR,
) -> None:
    """Sign timestamps with a key inside an HSM (PKCS#11) from the next `timeseal serve`.

    The user PIN comes from TIMESEAL_PKCS11_PIN, or is asked for. The server needs the same
    variable set when it starts.
    """
    from timeseal.server.runtime import configuration, datadir

    try:
        config = datadir.load_config(data_dir)
    except configuration.DataDirError as exc:
        raise usage_error(str(exc)) from None
    root = _load_root(data_dir)
    pin_env = config.tsa.signer.pkcs11_pin_env
    pin = cli_settings.secret_from_env(pin_env)
    if pin is None:
        pin = typer.prompt(f"User PIN of token {token_label!r}", hide_input=True)
    certificate = _certify_on_token(
        module=module,
        token_label=token_label,
        key_label=key_label,
        pin=pin,
        root=root,
        policy=config.tsa.policy,
    )
    signer_config = configuration.SignerConfig(
        kind="pkcs11",
        chain=CHAIN_FILE,
        pkcs11_module=os.path.abspath(module),
        pkcs11_token_label=token_label,
        pkcs11_key_label=key_label,
        pkcs11_pin_env=pin_env,
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    chain_pem = pem + root.certificate.public_bytes(serialization.Encoding.PEM)
    datadir.switch_signer(data_dir, signer_config, {CERTIFICATE_FILE: pem, CHAIN_FILE: chain_pem})
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    typer.echo(f"TSA signer: key {key_label!r} on token {token_label!r} ({module})")
    typer.echo(f"certificate {(data_dir / CERTIFICATE_FILE).resolve()}  SHA-256 {fingerprint}")
    typer.echo(f"chain {(data_dir / CHAIN_FILE).resolve()}")
    typer.echo(f"restart `timeseal serve` with {pin_env} set to the PIN to sign with the HSM")


def _certify_on_token(
    *,
    module: str,
    token_label: str,
    key_label: str,
    pin: str,
    root: pki.IssuedCertificate,
    policy: str,
) -> x509.Certificate:
    """Open the key on the token, certify it under ``root`` and prove the pair with one trial
    token; a device failure exits 1, any other PKCS#11 refusal 2."""
    from timeseal.core.signers.pkcs11 import Pkcs11Error, Pkcs11Failure, Pkcs11Signer

    now = dt.datetime.now(dt.UTC)
    try:
        with Pkcs11Signer.open(
            module=module, token_label=token_label, key_label=key_label, pin=pin
        ) as signer:
            certificate = pki.create_tsa_certificate(root, signer.public_key(), now=now)
            chain = [certificate, root.certificate]
            _trial_issue(TimeStampAuthority(signer, chain, policy=policy), root, now=now)
    except Pkcs11Error as exc:
        raise fail(f"PKCS#11: {exc}", 1 if exc.reason is Pkcs11Failure.DEVICE else 2) from None
    return certificate


def _load_root(data_dir: Path) -> pki.IssuedCertificate:
    key_path = data_dir / "pki" / "root.key"
    cert_path = data_dir / "pki" / "root.pem"
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise usage_error(f"cannot read the root CA ({key_path}, {cert_path}): {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise usage_error(f"{key_path}: only an EC or RSA root key can issue certificates")
    if key.public_key() != certificate.public_key():
        raise usage_error(f"{key_path} is not the key of {cert_path}")
    return pki.IssuedCertificate(key=key, certificate=certificate)


def _trial_issue(
    authority: TimeStampAuthority, root: pki.IssuedCertificate, *, now: dt.datetime
) -> None:
    """Issue one token with the HSM key and verify it, before anything is switched."""
    digest = HashAlgorithm.SHA256.digest(b"TimeSeal use-pkcs11 trial")
    nonce = secrets.randbits(64)
    request = authority.check(build_request(digest, nonce=nonce).der)
    issued = authority.issue(request, gen_time=now, serial_number=secrets.randbits(64) | 1)
    try:
        response = parse_response(issued.response_der)
    except TimeSealError as exc:  # pragma: no cover - our own encoder's output
        raise fail(f"the trial token does not parse: {exc}") from None
    verifier = TimestampVerifierBuilder().add_root(root.certificate).nonce(nonce).build()
    result = verifier.verify(response, digest)
    if not result.ok:
        names = ", ".join(c.value for c in result.failed)
        raise fail(f"a trial token signed by the HSM key does not verify ({names})")
