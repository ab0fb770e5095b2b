"""The data directory's configuration (``config.json``) as typed, frozen settings."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

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
class BlobsConfig:
    """Where this data directory's files (blobs) were when it was first bound to its blob store
    (:mod:`timeseal.server.runtime.blob_store`): ``TIMESEAL_BLOB_URL`` without credentials, or
    empty for ``<data-dir>/blobs``. For messages only: the store's own label is what is
    checked (a bucket may be copied, a data directory moved)."""

    location: str = ""
    bound: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    tsa: TSAConfig
    clock: ClockConfig = field(default_factory=ClockConfig)
    log: LogConfig = field(default_factory=LogConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    vault: VaultConfig = field(default_factory=VaultConfig)
    http: HttpConfig = field(default_factory=HttpConfig)  # timeseal.server.runtime.http
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    blobs: BlobsConfig = field(default_factory=BlobsConfig)

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
                blobs=BlobsConfig(**raw.get("blobs", {})),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DataDirError(f"{CONFIG_FILE}: {exc}") from exc


def _asdict(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _asdict(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, tuple):
        return [_asdict(v) for v in obj]
    return obj
