"""The ASGI application: ``create_app`` wires the data directory to the HTTP endpoints.

Constructing the application reads configuration files and keys only; its lifespan
(:mod:`timeseal.server.lifespan`) tightens the data directory's file modes, opens what needs
opening (the database, the journal's socket) and starts the background threads. ``/healthz``
and ``/tsa/certs`` are :mod:`timeseal.server.api.platform`'s. The server's
settings come from :meth:`ServerSettings.from_env`, the one place a server process reads its
environment (see README, "Settings"); ``timeseal serve`` calls it once and hands the result to
every worker and companion process as an argument."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from timeseal import __version__
from timeseal.core.tlog import VerifierKey
from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.server.accounts.service import AuthService
from timeseal.server.accounts.sms import OUTBOX_FILE, sms_provider
from timeseal.server.api import cases, packages, public, recordings, shares, uploads, vault
from timeseal.server.api.auth import mount_auth
from timeseal.server.api.docs import include_api_docs, offline_swagger_ui
from timeseal.server.api.log import log_api, log_routes
from timeseal.server.api.platform import Health, SequencerRole, keep_platform, platform_routes
from timeseal.server.api.public_records import PublicRecords
from timeseal.server.api.state import ApiServices, keep_services
from timeseal.server.certificate.issue import CertificateIssuer
from timeseal.server.evidence.packages import PackageService
from timeseal.server.evidence.recordings import RecordingService
from timeseal.server.evidence.shares import ShareService
from timeseal.server.evidence.vault import VaultService
from timeseal.server.lifespan import ServerLifespan, StartedTSA
from timeseal.server.log.sequencer import Sequencer, sequencer_for
from timeseal.server.log.sequencer_process import RoleFile
from timeseal.server.log.witness_health import WitnessHealth
from timeseal.server.middleware.disk_full import install_disk_full_handlers
from timeseal.server.middleware.request_bounds import RequestBounds
from timeseal.server.runtime import configuration, datadir, platform_keys
from timeseal.server.runtime.database import unopened_database
from timeseal.server.runtime.disk import FreeSpace, free_space
from timeseal.server.runtime.housekeeping import Housekeeper
from timeseal.server.runtime.http import HttpConfig
from timeseal.server.tsa.clock import ClockGuard, ClockSource, source_by_name
from timeseal.server.tsa.service import TSAEndpoint, TSAService, utc_now
from timeseal.server.web import include_web
from timeseal.server.web.verify_limits import VerifyLimits
from timeseal.store.blobs import BLOB_URL_ENV, S3_ENDPOINT_ENV, BlobStore, blob_store_for
from timeseal.store.db import DATABASE_URL_ENV
from timeseal.store.evidence.records import EvidenceStore
from timeseal.store.log.store import LogStore
from timeseal.store.login_policy import LoginPolicy
from timeseal.store.recordings import RecordingStore
from timeseal.store.uploads import STAGING_DIR

log = logging.getLogger("timeseal.server")

DATA_DIR_ENV = "TIMESEAL_DATA_DIR"
CLOCK_SOURCE_ENV = "TIMESEAL_CLOCK_SOURCE"
PUBLIC_URL_ENV = "TIMESEAL_PUBLIC_URL"
RECORDING_IDLE_ENV = "TIMESEAL_RECORDING_IDLE_MINUTES"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    data_dir: Path
    clock_source: ClockSource | None = None  # None: as configured in config.json
    share_clock: Callable[[], dt.datetime] | None = None  # tests: share-link expiry time
    #: Where people reach this server (certificates' QR codes point to its /verify page).
    public_url: str = DEFAULT_PUBLIC_URL
    #: A browser recording with no chunk for this long is cut off by the housekeeper.
    recording_idle: dt.timedelta = dt.timedelta(minutes=10)
    #: Set when the log sequencer runs in a process of its own: where it writes its role.
    #: None: this process runs the sequencer as a thread.
    sequencer_role_file: Path | None = None
    #: Set when the issuance journal runs in a process of its own: its Unix socket.
    #: None: this process journals its tokens itself.
    journal_socket: Path | None = None
    #: ``POST /verify/package``: verifications at a time per process, and each one's deadline.
    verify_limits: VerifyLimits = field(default_factory=VerifyLimits)
    #: The HTTP front's settings (trusted proxies, timeouts, disk threshold, /docs), as
    #: ``timeseal serve`` resolved them. None: as in config.json.
    http: HttpConfig | None = None
    #: Free bytes in the data directory's file system (tests inject a fake probe).
    free_space: FreeSpace = free_space
    #: Swagger UI's files for /docs (when http.api_docs); None: an installed package's.
    swagger_ui: Path | None = None
    #: The database's URL; None: SQLite in the data directory.
    database_url: str | None = None
    #: The blob store's URL (``s3://bucket/prefix``, ``file:///path``); None: the data
    #: directory's ``blobs/``.
    blob_url: str | None = None
    #: The S3 endpoint; None: what boto3 finds itself.
    s3_endpoint_url: str | None = None
    #: The secrets ``config.json`` names by their environment variable (the HSM's PIN, the
    #: SMS webhook's token), by that name.
    secret_values: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        data_dir: Path | None = None,
        default_public_url: str = DEFAULT_PUBLIC_URL,
    ) -> ServerSettings:
        """The settings ``environ`` (default: this process's environment) gives, for
        ``data_dir`` (default: ``$TIMESEAL_DATA_DIR``, else ``./timeseal-data``). The only
        place a server process reads its environment. ``ValueError`` names a bad value."""
        env = os.environ if environ is None else environ
        data_dir = (data_dir or Path(env.get(DATA_DIR_ENV) or "./timeseal-data")).resolve()
        source = env.get(CLOCK_SOURCE_ENV)
        try:
            config = datadir.load_config(data_dir)
            secret_names: tuple[str, ...] = (
                config.tsa.signer.pkcs11_pin_env,
                config.sms.webhook_token_env,
            )
        except configuration.DataDirError:
            secret_names = ()  # create_app reports the data directory's problem itself
        return cls(
            data_dir=data_dir,
            clock_source=source_by_name(source) if source else None,
            public_url=(env.get(PUBLIC_URL_ENV) or default_public_url).rstrip("/"),
            recording_idle=dt.timedelta(minutes=float(env.get(RECORDING_IDLE_ENV) or 10)),
            verify_limits=VerifyLimits.from_environment(env),
            database_url=env.get(DATABASE_URL_ENV) or None,
            blob_url=env.get(BLOB_URL_ENV) or None,
            s3_endpoint_url=env.get(S3_ENDPOINT_ENV) or None,
            secret_values={name: env[name] for name in secret_names if name in env},
        )


def create_app(settings: ServerSettings) -> RouteFirst:
    """Build the application from a data directory that is already initialised. Building
    reads its configuration and keys only; the lifespan opens, changes and starts the rest
    (:class:`~timeseal.server.lifespan.ServerLifespan`)."""
    config = datadir.load_config(settings.data_dir)
    http = settings.http or config.http
    chain, authority, guard = _timestamping(settings, config)
    # Not connected until the lifespan checks that it is the data directory's database.
    engine = unopened_database(settings.data_dir, settings.database_url)
    log_key = platform_keys.load_log_key(settings.data_dir, config.log)
    log_store = LogStore(engine)
    sequencer, log_role = _sequencer(settings, log_store)
    tsa = StartedTSA()
    chain_pem = b"".join(c.public_bytes(Encoding.PEM) for c in chain)
    auth = _auth_service(settings, config, engine)
    # Not used until the lifespan checks that it is the data directory's blob store.
    blobs = blob_store_for(
        settings.data_dir, settings.blob_url, s3_endpoint_url=settings.s3_endpoint_url
    )
    services = _api_services(
        settings, config, engine, blobs, log_store, log_key.verifier_key, chain, chain_pem, tsa
    )
    lifespan = ServerLifespan(
        data_dir=settings.data_dir,
        engine=engine,
        blobs=blobs,
        blob_url=settings.blob_url,
        authority=authority,
        guard=guard,
        sequencer=sequencer,
        housekeeper=_housekeeper(settings, config, services, auth),
        journal_socket=settings.journal_socket,
        tsa=tsa,
    )
    app = FastAPI(
        title="TimeSeal",
        version=__version__,
        lifespan=lifespan,
        # FastAPI's /docs and /redoc load scripts from a CDN: off (see api_docs).
        docs_url=None,
        redoc_url=None,
        routes=[*platform_routes(), *log_routes(log_store, log_key)],
    )
    health = _health(settings, config, http, guard, log_role, log_store)
    keep_platform(app.state, health, chain_pem)
    _include_api(app, log_store, auth, services, lifespan.housekeeper)
    include_web(
        app,
        roots=chain[-1:],
        log_key=log_key.verifier_key,
        verify_limits=settings.verify_limits,
        public_url=settings.public_url,
    )
    _include_front(app, settings, http)
    return RouteFirst(app, {"/tsa": TSAEndpoint(tsa)})


def _timestamping(
    settings: ServerSettings, config: configuration.Config
) -> tuple[list[x509.Certificate], TimeStampAuthority, ClockGuard]:
    """The TSA's chain, its authority (with the signer) and the clock guard it issues by."""
    chain = platform_keys.load_chain(settings.data_dir, config.tsa.signer)
    signer = platform_keys.load_signer(settings.data_dir, config.tsa.signer, settings.secret_values)
    authority = TimeStampAuthority(
        signer,
        chain,
        policy=config.tsa.policy,
        accepted_policies=config.tsa.accepted_policies,
        accuracy=config.tsa.accuracy,
    )
    source = settings.clock_source or source_by_name(config.clock.source)
    return chain, authority, ClockGuard(source, max_offset=config.clock.max_offset_ms / 1000)


def _sequencer(
    settings: ServerSettings, log_store: LogStore
) -> tuple[Sequencer | None, SequencerRole]:
    """The log sequencer this process runs (None when it runs in a process of its own), and
    where ``/healthz`` reads its role: the sequencer itself, or that process's role file."""
    if settings.sequencer_role_file is not None:
        return None, RoleFile(settings.sequencer_role_file)
    sequencer = sequencer_for(settings.data_dir, log_store)
    return sequencer, sequencer


def _housekeeper(
    settings: ServerSettings, config: configuration.Config, services: ApiServices, auth: AuthService
) -> Housekeeper:
    return Housekeeper(
        services.vault,
        auth,
        upload_expiry=dt.timedelta(hours=config.vault.upload_expiry_hours),
        recordings=services.recordings,
        recording_idle=settings.recording_idle,
    )


def _health(
    settings: ServerSettings,
    config: configuration.Config,
    http: HttpConfig,
    guard: ClockGuard,
    log_role: SequencerRole,
    log_store: LogStore,
) -> Health:
    return Health(
        guard=guard,
        log_role=log_role,
        log_origin=config.log.origin,
        tsa_policy=config.tsa.policy,
        data_dir=settings.data_dir,
        free_space=settings.free_space,
        disk_low_bytes=http.disk_low_bytes,
        witnesses=WitnessHealth(log_store, config.log.witnesses),
    )


def _auth_service(
    settings: ServerSettings, config: configuration.Config, engine: Engine
) -> AuthService:
    auth = AuthService(
        engine,
        secret=platform_keys.load_auth_secret(settings.data_dir),
        sms=sms_provider(config.sms, settings.data_dir, settings.secret_values),
        login_policy=LoginPolicy(sms_budget=config.sms.budget_per_hour),
    )
    if config.sms.provider == "dev":
        log.warning(
            "development SMS provider: login codes are written to %s and not sent",
            settings.data_dir / OUTBOX_FILE,
        )
    return auth


def _include_api(
    app: FastAPI,
    log_store: LogStore,
    auth: AuthService,
    services: ApiServices,
    housekeeper: Housekeeper,
) -> None:
    """The request bounds, the public log's API, the disk-full answers and the JSON API."""
    app.add_middleware(RequestBounds)  # body size, JSON depth, query length
    app.include_router(log_api(log_store))
    install_disk_full_handlers(app)
    mount_auth(app, auth)
    keep_services(app, services)
    app.state.timeseal_housekeeper = housekeeper  # for tests that work beside the API
    for module in (uploads, vault, recordings, cases, packages, shares, public):
        app.include_router(module.router)


def _include_front(app: FastAPI, settings: ServerSettings, http: HttpConfig) -> None:
    """What the HTTP front's settings add: ``/docs``, and the proxies whose forwarded headers
    are believed."""
    if http.api_docs:
        include_api_docs(app, settings.swagger_ui or offline_swagger_ui())
    if http.forwarded_allow_ips:
        # X-Forwarded-For/-Proto are believed from these peers only (uvicorn is told to
        # believe none): see timeseal.server.runtime.http.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(http.forwarded_allow_ips))


def _api_services(
    settings: ServerSettings,
    config: configuration.Config,
    engine: Engine,
    blobs: BlobStore,
    log_store: LogStore,
    log_key: VerifierKey,
    chain: list[x509.Certificate],
    chain_pem: bytes,
    tsa: Callable[[], TSAService],
) -> ApiServices:
    """The services behind the JSON API (and the web pages) over this data directory; ``tsa``
    is the time-stamp service, which the application's lifespan starts."""
    vault = VaultService(
        EvidenceStore(engine),
        blobs,
        log_store,
        tsa,
        settings.data_dir / STAGING_DIR,
    )
    document_signer = datadir.load_document_signer(settings.data_dir, now=utc_now())
    certificates = CertificateIssuer(
        vault, tsa, document_signer, base_url=lambda: settings.public_url
    )
    packages = PackageService(
        vault,
        tsa,
        tsa_chain=chain,
        log_key=log_key,
        document_signer=document_signer,
        certificates=certificates,
    )
    return ApiServices(
        vault=vault,
        vault_config=config.vault,
        recordings=RecordingService(
            RecordingStore(engine),
            vault,
            tsa_chain_pem=chain_pem,
            quota_bytes=config.vault.quota_bytes,
        ),
        packages=packages,
        certificates=certificates,
        shares=ShareService(packages, clock=settings.share_clock),
        public=PublicRecords(vault),
    )


class RouteFirst:
    """Serves a few hot paths with bare ASGI handlers; everything else goes to ``app``
    (lifespan included)."""

    def __init__(self, app: FastAPI, routes: dict[str, ASGIApp]) -> None:
        self.app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self._routes.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.app(scope, receive, send)


def app_from_env() -> RouteFirst:
    """Factory for uvicorn run by hand (``uvicorn --factory``): settings from the environment.
    ``timeseal serve``'s workers get theirs as an argument instead
    (:func:`timeseal.server.runtime.serving.app_factory`)."""
    return create_app(ServerSettings.from_env())
