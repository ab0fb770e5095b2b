"""The data directory: configuration, the platform PKI and the signer.

Layout (created by ``timeseal init`` or the first ``timeseal serve``)::

    config.json          settings minted once: the TSA policy OID, accuracy, signer, clock;
                         the id and kind of the database holding the records (``database``);
                         the HTTP front (``http``) (0600)
    pki/root.pem         root CA certificate            pki/root.key   its key (mode 0600)
    pki/tsa.pem          TSA signing certificate         pki/tsa.key    its key (mode 0600)
    pki/tsa-chain.pem    TSA certificate, then its chain up to the root
    pki/tsa-pkcs11.pem   TSA certificate of an HSM key   pki/tsa-pkcs11-chain.pem  its chain
    pki/docsign.pem      document-signing certificate    pki/docsign.key  its key (0600)
    pki/docsign-chain.pem  document-signing certificate, then the root (signs certificate PDFs)
    timeseal.db          SQLite database (unless TIMESEAL_DATABASE_URL points elsewhere),
                         0600 like its -wal and -shm files
    uploads/             resumable uploads being staged (0700, files 0600)
    auth.key             the server secret that keys login-code hashes and CSRF tokens (0600)
    log/last-signed-checkpoint  the last checkpoint the log signed (``timeseal.server.log.guard``)
    sms-outbox.log       login codes of the "dev" SMS provider, one JSON line each (0600)

The directory is the owner's alone (0700); a start tightens one found looser
(:mod:`timeseal.server.runtime.permissions`).

The signer may instead be an operator's own key and chain (``signer.kind = "file"`` with other
paths) or a key inside an HSM (``signer.kind = "pkcs11"``, set by ``timeseal tsa use-pkcs11``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from timeseal.core import pki
from timeseal.core.errors import MalformedError
from timeseal.core.files import write_durably
from timeseal.core.signers import KeySigner, Signer
from timeseal.core.tlog import (
    SignerKey,
    VerifierKey,
    format_signer_key,
    format_verifier_key,
    generate_signer_key,
    parse_signer_key,
    parse_verifier_key,
)
from timeseal.core.tsp.response import Accuracy
from timeseal.server.runtime.http import HttpConfig

CONFIG_FILE = "config.json"
DEFAULT_ACCURACY_MS = 1000


class DataDirError(Exception):
    """The data directory is missing, unreadable or inconsistent."""


@dataclass(frozen=True, slots=True)
class SignerConfig:
    kind: str = "file"  # "file" or "pkcs11"
    key: str = "pki/tsa.key"
    chain: str = "pki/tsa-chain.pem"
    pkcs11_module: str = ""
    pkcs11_token_label: str = ""
    pkcs11_key_label: str = ""
    pkcs11_pin_env: str = "TIMESEAL_PKCS11_PIN"


@dataclass(frozen=True, slots=True)
class TSAConfig:
    policy: str
    accepted_policies: tuple[str, ...] = ()
    accuracy_ms: int = DEFAULT_ACCURACY_MS
    signer: SignerConfig = field(default_factory=SignerConfig)

    @property
    def accuracy(self) -> Accuracy:
        return Accuracy(seconds=self.accuracy_ms // 1000, millis=self.accuracy_ms % 1000)


@dataclass(frozen=True, slots=True)
class ClockConfig:
    source: str = "auto"  # auto | chrony | kernel | local | unsynchronised
    max_offset_ms: int = DEFAULT_ACCURACY_MS


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    url: str  # the witness's base URL; checkpoints go to <url>/add-checkpoint
    vkey: str  # its cosignature/v1 verifier key, name+hex+base64


@dataclass(frozen=True, slots=True)
class LogConfig:
    origin: str = ""  # the checkpoint origin line; also the name of the log's note key
    key: str = "log/log.key"
    interval_ms: int = 500  # the sequencer integrates pending entries at least this often
    witnesses: tuple[WitnessConfig, ...] = ()


def new_log_origin() -> str:
    return f"timeseal.local/log/{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class SmsConfig:
    """How login codes reach phones (``timeseal.server.accounts.sms``)."""

    provider: str = "dev"  # "dev": sms-outbox.log only (development); "webhook": POST to a URL
    webhook_url: str = ""
    webhook_token_env: str = "TIMESEAL_SMS_WEBHOOK_TOKEN"  # bearer token, when this is set
    timeout_ms: int = 5000
    #: Login codes sent per hour in all, for every number together: bounds SMS bombing and
    #: the gateway's bill. Past it, code requests get 429 with Retry-After.
    budget_per_hour: int = 300

    def __post_init__(self) -> None:
        if self.budget_per_hour < 1 or self.timeout_ms < 1:
            raise ValueError("sms: budget_per_hour and timeout_ms must be at least 1")


@dataclass(frozen=True, slots=True)
class VaultConfig:
    """Limits of the evidence vault (``timeseal.server.evidence.vault``)."""

    quota_bytes: int = 10 << 30  # per account: sealed plus pending uploads
    max_upload_bytes: int = 4 << 30  # tus Tus-Max-Size
    upload_expiry_hours: int = 72  # an unfinished upload without progress for this long goes

    def __post_init__(self) -> None:
        if min(self.quota_bytes, self.max_upload_bytes, self.upload_expiry_hours) < 1:
            raise ValueError("vault: quota_bytes, max_upload_bytes, upload_expiry_hours >= 1")


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Which database holds this data directory's records (``timeseal.server.runtime.database``).

    Empty until the first start binds the data directory to its database. ``id`` is the
    database's own UUID (``timeseal.store.identity``); ``kind`` is ``sqlite`` or
    ``postgresql``; ``location`` is its URL without the password, for messages only (a data
    directory may move, and so may a SQLite file with it).
    """

    id: str = ""
    kind: str = ""
    location: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    tsa: TSAConfig
    clock: ClockConfig = field(default_factory=ClockConfig)
    log: LogConfig = field(default_factory=LogConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    vault: VaultConfig = field(default_factory=VaultConfig)
    http: HttpConfig = field(default_factory=HttpConfig)  # timeseal.server.runtime.http
    database: DatabaseConfig = field(default_factory=DatabaseConfig)

    def to_json(self) -> str:
        return json.dumps(_asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Config:
        try:
            raw = json.loads(text)
            tsa = dict(raw["tsa"])
            tsa["signer"] = SignerConfig(**tsa.get("signer", {}))
            tsa["accepted_policies"] = tuple(tsa.get("accepted_policies", ()))
            log = dict(raw.get("log", {}))
            log["witnesses"] = tuple(WitnessConfig(**w) for w in log.get("witnesses", ()))
            return cls(
                tsa=TSAConfig(**tsa),
                clock=ClockConfig(**raw.get("clock", {})),
                log=LogConfig(**log),
                sms=SmsConfig(**raw.get("sms", {})),
                vault=VaultConfig(**raw.get("vault", {})),
                http=HttpConfig.from_json(raw.get("http", {})),
                database=DatabaseConfig(**raw.get("database", {})),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DataDirError(f"{CONFIG_FILE}: {exc}") from exc


def _asdict(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _asdict(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, tuple):
        return [_asdict(v) for v in obj]
    return obj


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the owner's alone
    with open(data_dir / ".init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by the owner only, durably (see :func:`write_durably`)."""
    write_durably(path, data, mode=0o600)


def _write_public(path: Path, data: bytes) -> None:
    write_durably(path, data, mode=0o644)


def initialise(data_dir: Path, *, now: dt.datetime) -> Config:
    """Create the PKI and configuration if they do not exist yet; return the configuration.

    Safe to call from several processes at once (a file lock serialises them) and idempotent.
    """
    with _locked(data_dir):
        config_path = data_dir / CONFIG_FILE
        if config_path.exists():
            _ensure_auth_secret(data_dir)
            _ensure_document_signer(data_dir, now=now)
            return _ensure_log(data_dir, Config.from_json(config_path.read_text()))
        pki_dir = data_dir / "pki"
        pki_dir.mkdir(mode=0o700, exist_ok=True)
        root = pki.create_root_ca(now=now)
        tsa = pki.create_tsa_key_and_certificate(root, now=now)
        _write_private(pki_dir / "root.key", root.key_pem())
        _write_public(pki_dir / "root.pem", root.certificate_pem())
        _write_private(pki_dir / "tsa.key", tsa.key_pem())
        _write_public(pki_dir / "tsa.pem", tsa.certificate_pem())
        _write_public(pki_dir / "tsa-chain.pem", tsa.certificate_pem() + root.certificate_pem())
        config = Config(tsa=TSAConfig(policy=pki.new_policy_oid()))
        _ensure_document_signer(data_dir, now=now)
        _write_private(config_path, config.to_json().encode())
        _ensure_auth_secret(data_dir)
        return _ensure_log(data_dir, config)


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


def _ensure_document_signer(data_dir: Path, *, now: dt.datetime) -> None:
    """Issue the document-signing certificate from the platform root once: at init, and on the
    first start of a data dir made before certificate PDFs existed. The caller holds the init
    lock. A data dir whose root key is not here (an operator's own PKI) gets none; loading it
    then says so."""
    pki_dir = data_dir / "pki"
    root_key, root_pem = pki_dir / "root.key", pki_dir / "root.pem"
    if (data_dir / DOCUMENT_SIGNING_CHAIN).exists() or not root_key.exists():
        return
    root = _load_root(root_key, root_pem)
    issued = pki.create_document_signing_key_and_certificate(root, now=now)
    _write_private(data_dir / DOCUMENT_SIGNING_KEY, issued.key_pem())
    _write_public(data_dir / DOCUMENT_SIGNING_CERT, issued.certificate_pem())
    # The chain is written last: its presence means the key and certificate are complete.
    _write_public(
        data_dir / DOCUMENT_SIGNING_CHAIN, issued.certificate_pem() + root.certificate_pem()
    )


def _load_root(key_path: Path, cert_path: Path) -> pki.IssuedCertificate:
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise DataDirError(f"cannot read the root CA {key_path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise DataDirError(f"{key_path}: the root key must be EC or RSA")
    return pki.IssuedCertificate(key=key, certificate=cert)


def load_document_signer(data_dir: Path, *, now: dt.datetime) -> DocumentSigner:
    """The document signer, issuing it first when this data dir predates it."""
    with _locked(data_dir):
        _ensure_document_signer(data_dir, now=now)
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


AUTH_SECRET_FILE = "auth.key"


def _ensure_auth_secret(data_dir: Path) -> None:
    """Mint the server secret once (also for data dirs made before accounts existed). The
    caller holds the init lock."""
    path = data_dir / AUTH_SECRET_FILE
    if not path.exists():
        _write_private(path, (secrets.token_hex(32) + "\n").encode())


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


def _ensure_log(data_dir: Path, config: Config) -> Config:
    """Mint the log's origin and Ed25519 note key once (also for data dirs made before the
    log existed). The caller holds the init lock."""
    changed = config
    if not config.log.origin:
        changed = replace(config, log=replace(config.log, origin=new_log_origin()))
    key_path = data_dir / changed.log.key
    if not key_path.exists():
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = generate_signer_key(changed.log.origin)
        _write_private(key_path, (format_signer_key(key) + "\n").encode())
        _write_public(
            data_dir / "log" / "log.vkey", (format_verifier_key(key.verifier_key) + "\n").encode()
        )
    if changed is not config:
        _write_private(data_dir / CONFIG_FILE, changed.to_json().encode())
    return changed


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


def load_config(data_dir: Path) -> Config:
    path = data_dir / CONFIG_FILE
    if not path.exists():
        raise DataDirError(f"{data_dir} is not initialised (run `timeseal init`)")
    return Config.from_json(path.read_text())


def switch_signer(
    data_dir: Path,
    signer: SignerConfig,
    files: Mapping[str, bytes],
    private_files: Mapping[str, bytes] | None = None,
) -> Config:
    """Make ``signer`` the TSA's signer from the next start; return the new configuration.

    Writes ``files`` (paths relative to ``data_dir``, e.g. the new certificate and chain), then
    ``config.json``, each atomically (temporary file, fsync, rename) and under the
    initialisation lock, so ``config.json`` never names a file that is not complete yet.
    ``private_files`` (keys) are written readable by the owner only.
    """
    with _locked(data_dir):
        config = load_config(data_dir)
        for name, data in files.items():
            _write_public(data_dir / name, data)
        for name, data in (private_files or {}).items():
            _write_private(data_dir / name, data)
        config = dataclasses.replace(config, tsa=dataclasses.replace(config.tsa, signer=signer))
        _write_private(data_dir / CONFIG_FILE, config.to_json().encode())
        return config


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


def validate(data_dir: Path, secret_values: Mapping[str, str] | None = None) -> Config:
    """Load everything a server start needs, so that a mistake is reported once, clearly,
    before any worker starts (``secret_values`` as for :func:`load_signer`)."""
    config = load_config(data_dir)
    load_chain(data_dir, config.tsa.signer)
    signer = load_signer(data_dir, config.tsa.signer, secret_values)
    close = getattr(signer, "close", None)
    if callable(close):
        close()
    load_log_key(data_dir, config.log)
    witness_keys(config.log)
    return config


def bind_database(data_dir: Path, database: DatabaseConfig) -> DatabaseConfig:
    """Record ``database`` in ``config.json`` unless one is recorded already; return the one
    recorded (under the initialisation lock, so concurrent first starts agree)."""
    with _locked(data_dir):
        config = load_config(data_dir)
        if config.database.id:
            return config.database
        _write_private(
            data_dir / CONFIG_FILE, replace(config, database=database).to_json().encode()
        )
        return database


def add_witness(data_dir: Path, witness: WitnessConfig) -> Config:
    """Add (or replace, by URL) a witness in ``config.json``, atomically."""
    with _locked(data_dir):
        config = load_config(data_dir)
        others = tuple(w for w in config.log.witnesses if w.url != witness.url)
        config = replace(config, log=replace(config.log, witnesses=(*others, witness)))
        _write_private(data_dir / CONFIG_FILE, config.to_json().encode())
        return config
