"""The data directory: its layout, creating it once, and changing its configuration.

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

The settings themselves are :mod:`timeseal.server.runtime.configuration`; reading the keys and
certificates is :mod:`timeseal.server.runtime.platform_keys`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from timeseal.core import pki
from timeseal.core.files import write_durably
from timeseal.core.tlog import format_signer_key, format_verifier_key, generate_signer_key
from timeseal.server.runtime.configuration import (
    CONFIG_FILE,
    BlobsConfig,
    Config,
    DatabaseConfig,
    DataDirError,
    SignerConfig,
    TSAConfig,
    WitnessConfig,
    new_log_origin,
)
from timeseal.server.runtime.platform_keys import (
    AUTH_SECRET_FILE,
    DOCUMENT_SIGNING_CERT,
    DOCUMENT_SIGNING_CHAIN,
    DOCUMENT_SIGNING_KEY,
    DocumentSigner,
    load_chain,
    load_log_key,
    load_root_ca,
    load_signer,
    read_document_signer,
    witness_keys,
)


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


def _ensure_document_signer(data_dir: Path, *, now: dt.datetime) -> None:
    """Issue the document-signing certificate from the platform root once: at init, and on the
    first start of a data dir made before certificate PDFs existed. The caller holds the init
    lock. A data dir whose root key is not here (an operator's own PKI) gets none; loading it
    then says so."""
    pki_dir = data_dir / "pki"
    root_key, root_pem = pki_dir / "root.key", pki_dir / "root.pem"
    if (data_dir / DOCUMENT_SIGNING_CHAIN).exists() or not root_key.exists():
        return
    root = load_root_ca(root_key, root_pem)
    issued = pki.create_document_signing_key_and_certificate(root, now=now)
    _write_private(data_dir / DOCUMENT_SIGNING_KEY, issued.key_pem())
    _write_public(data_dir / DOCUMENT_SIGNING_CERT, issued.certificate_pem())
    # The chain is written last: its presence means the key and certificate are complete.
    _write_public(
        data_dir / DOCUMENT_SIGNING_CHAIN, issued.certificate_pem() + root.certificate_pem()
    )


def load_document_signer(data_dir: Path, *, now: dt.datetime) -> DocumentSigner:
    """The document signer, issuing it first when this data dir predates it."""
    with _locked(data_dir):
        _ensure_document_signer(data_dir, now=now)
    return read_document_signer(data_dir)


def _ensure_auth_secret(data_dir: Path) -> None:
    """Mint the server secret once (also for data dirs made before accounts existed). The
    caller holds the init lock."""
    path = data_dir / AUTH_SECRET_FILE
    if not path.exists():
        _write_private(path, (secrets.token_hex(32) + "\n").encode())


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


def bind_blobs(data_dir: Path, blobs: BlobsConfig) -> BlobsConfig:
    """Record ``blobs`` in ``config.json`` unless one is recorded already; return the one
    recorded (under the initialisation lock, as :func:`bind_database`)."""
    with _locked(data_dir):
        config = load_config(data_dir)
        if config.blobs.bound:
            return config.blobs
        _write_private(data_dir / CONFIG_FILE, replace(config, blobs=blobs).to_json().encode())
        return blobs


def add_witness(data_dir: Path, witness: WitnessConfig) -> Config:
    """Add (or replace, by URL) a witness in ``config.json``, atomically."""
    with _locked(data_dir):
        config = load_config(data_dir)
        others = tuple(w for w in config.log.witnesses if w.url != witness.url)
        config = replace(config, log=replace(config.log, witnesses=(*others, witness)))
        _write_private(data_dir / CONFIG_FILE, config.to_json().encode())
        return config
