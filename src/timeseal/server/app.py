"""The ASGI application: ``create_app`` wires the data directory to the HTTP endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from timeseal import __version__
from timeseal.core.tlog import VerifierKey
from timeseal.core.tsp.authority import TimeStampAuthority
from timeseal.server.accounts.sms import OUTBOX_FILE, sms_provider
from timeseal.server.api import cases, packages, public, recordings, shares, uploads, vault
from timeseal.server.api.auth import include_auth
from timeseal.server.api.docs import include_api_docs, offline_swagger_ui
from timeseal.server.api.public import PublicRecords
from timeseal.server.api.state import ApiServices, keep_services
from timeseal.server.certificate.issue import CertificateIssuer
from timeseal.server.evidence.packages import PackageService
from timeseal.server.evidence.recordings import RecordingService
from timeseal.server.evidence.shares import ShareService
from timeseal.server.evidence.vault import VaultService
from timeseal.server.journal.client import RemoteJournal
from timeseal.server.journal.process import SOCKET_ENV as JOURNAL_SOCKET_ENV
from timeseal.server.log.sequencer import log_api, log_routes, sequencer_for
from timeseal.server.log.sequencer_process import ROLE_FILE_ENV, read_failure, read_role
from timeseal.server.request_bounds import RequestBounds
from timeseal.server.runtime import datadir, permissions
from timeseal.server.runtime.database import open_database
from timeseal.server.runtime.disk import FreeSpace, free_space, install_disk_full_handlers
from timeseal.server.runtime.housekeeping import Housekeeper
from timeseal.server.runtime.http import HttpConfig
from timeseal.server.tsa.clock import ClockGuard, ClockSource, source_by_name
from timeseal.server.tsa.fast_path import TSA_STATE_KEY
from timeseal.server.tsa.service import TSAEndpoint, TSAService, utc_now
from timeseal.server.web import include_web
from timeseal.server.web.verify_limits import VerifyLimits
from timeseal.store.blobs import blob_store_from_env
from timeseal.store.evidence import EvidenceStore
from timeseal.store.issuance import IssuanceJournal, Journal, SerialAllocator
from timeseal.store.log import LogStore
from timeseal.store.login_codes import LoginPolicy
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

    @classmethod
    def from_env(cls) -> ServerSettings:
        data_dir = Path(os.environ.get(DATA_DIR_ENV, "./timeseal-data")).resolve()
        source = os.environ.get(CLOCK_SOURCE_ENV)
        return cls(
            data_dir=data_dir,
            clock_source=source_by_name(source) if source else None,
            public_url=os.environ.get(PUBLIC_URL_ENV) or DEFAULT_PUBLIC_URL,
            recording_idle=dt.timedelta(minutes=float(os.environ.get(RECORDING_IDLE_ENV) or 10)),
            sequencer_role_file=Path(role) if (role := os.environ.get(ROLE_FILE_ENV)) else None,
            journal_socket=Path(path) if (path := os.environ.get(JOURNAL_SOCKET_ENV)) else None,
            verify_limits=VerifyLimits.from_env(),
        )


def create_app(settings: ServerSettings) -> RouteFirst:
    """Build the application. The data directory must already be initialised."""
    config = datadir.load_config(settings.data_dir)
    http = settings.http or config.http
    permissions.tighten(settings.data_dir)
    chain = datadir.load_chain(settings.data_dir, config.tsa.signer)
    signer = datadir.load_signer(settings.data_dir, config.tsa.signer)
    authority = TimeStampAuthority(
        signer,
        chain,
        policy=config.tsa.policy,
        accepted_policies=config.tsa.accepted_policies,
        accuracy=config.tsa.accuracy,
    )
    source = settings.clock_source or source_by_name(config.clock.source)
    guard = ClockGuard(source, max_offset=config.clock.max_offset_ms / 1000)
    # Refuses a database other than the data directory's before anything is written to it.
    engine = open_database(settings.data_dir)
    log_key = datadir.load_log_key(settings.data_dir, config.log)
    log_store = LogStore(engine)
    sequencer = sequencer_for(settings.data_dir, log_store)
    role_file = settings.sequencer_role_file

    def is_sequencer() -> bool:
        return sequencer.is_sequencer if role_file is None else read_role(role_file)

    def log_failure() -> str | None:
        return sequencer.failure if role_file is None else read_failure(role_file)

    chain_pem = b"".join(c.public_bytes(Encoding.PEM) for c in chain)

    state: dict[str, TSAService] = {}

    def tsa_service() -> TSAService:
        return state["tsa"]

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, TSAService]]:
        allocator = SerialAllocator.start(engine, now=utc_now(), pid=os.getpid())
        journal: Journal = (
            IssuanceJournal(engine)
            if settings.journal_socket is None
            else await RemoteJournal.connect(settings.journal_socket)
        )
        guard.start()
        if role_file is None:
            sequencer.start()
        housekeeper.start(asyncio.get_running_loop())
        state["tsa"] = TSAService(authority, allocator, journal, guard)
        log.info("TSA ready: serial epoch %d, policy %s", allocator.epoch, config.tsa.policy)
        try:
            # The lifespan state: where the HTTP fast path for /tsa finds the service.
            yield {TSA_STATE_KEY: state["tsa"]}
        finally:
            guard.stop()
            if role_file is None:
                sequencer.stop()
            # Off the loop: a recording close in progress needs the loop to finish.
            await anyio.to_thread.run_sync(housekeeper.stop)
            journal.close()
            engine.dispose()

    async def tsa_certs(_request: Request) -> Response:
        return Response(chain_pem, media_type="application/pem-certificate-chain")

    async def healthz(_request: Request) -> Response:
        status = guard.status
        trusted = guard.trusted()
        free = settings.free_space(settings.data_dir)
        disk_low = free < http.disk_low_bytes
        failure = log_failure()
        log_body: dict[str, object] = {"origin": config.log.origin, "sequencer": is_sequencer()}
        if failure is not None:  # the log stopped signing; the TSA goes on journalling
            log_body.update(failed=True, reason=failure)
        if failure:
            status_name = "log_failed"
        elif not trusted:
            status_name = "clock_untrusted"
        elif disk_low:
            status_name = "disk_low"
        else:
            status_name = "ok"
        body = {
            "status": status_name,
            "version": __version__,
            "clock": status.as_json(guard.max_offset),
            "tsa": {"policy": config.tsa.policy, "issuing": trusted},
            "log": log_body,
            "disk": {"free_bytes": free, "low_bytes": http.disk_low_bytes, "low": disk_low},
        }
        healthy = trusted and not disk_low and not failure
        return JSONResponse(body, status_code=200 if healthy else 503)

    app = FastAPI(
        title="TimeSeal",
        version=__version__,
        lifespan=lifespan,
        # FastAPI's /docs and /redoc load scripts from a CDN: off (see api_docs).
        docs_url=None,
        redoc_url=None,
        routes=[
            Route("/tsa/certs", tsa_certs, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            *log_routes(log_store, log_key),
        ],
    )
    app.add_middleware(RequestBounds)  # body size, JSON depth, query length
    app.include_router(log_api(log_store))
    install_disk_full_handlers(app)
    auth = include_auth(
        app,
        engine=engine,
        secret=datadir.load_auth_secret(settings.data_dir),
        sms=sms_provider(config.sms, settings.data_dir),
        login_policy=LoginPolicy(sms_budget=config.sms.budget_per_hour),
    )
    if config.sms.provider == "dev":
        log.warning(
            "development SMS provider: login codes are written to %s and not sent",
            settings.data_dir / OUTBOX_FILE,
        )
    services = _api_services(
        settings, config, engine, log_store, log_key.verifier_key, chain, chain_pem, tsa_service
    )
    keep_services(app, services)
    housekeeper = Housekeeper(
        services.vault,
        auth,
        upload_expiry=dt.timedelta(hours=config.vault.upload_expiry_hours),
        recordings=services.recordings,
        recording_idle=settings.recording_idle,
    )
    app.state.timeseal_housekeeper = housekeeper  # for tests that work beside the API
    for module in (uploads, vault, recordings, cases, packages, shares, public):
        app.include_router(module.router)
    include_web(
        app,
        services.public,
        roots=chain[-1:],
        log_key=log_key.verifier_key,
        verify_limits=settings.verify_limits,
        public_url=settings.public_url,
    )
    if http.api_docs:
        include_api_docs(app, settings.swagger_ui or offline_swagger_ui())
    if http.forwarded_allow_ips:
        # X-Forwarded-For/-Proto are believed from these peers only (uvicorn is told to
        # believe none): see timeseal.server.runtime.http.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(http.forwarded_allow_ips))
    return RouteFirst(app, {"/tsa": TSAEndpoint(tsa_service)})


def _api_services(
    settings: ServerSettings,
    config: datadir.Config,
    engine: Engine,
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
        blob_store_from_env(settings.data_dir),
        log_store,
        tsa,
        settings.data_dir / STAGING_DIR,
    )
    certificates = CertificateIssuer(
        vault,
        tsa,
        datadir.load_document_signer(settings.data_dir, now=utc_now()),
        base_url=lambda: settings.public_url,
    )
    packages = PackageService(
        vault, tsa, tsa_chain=chain, log_key=log_key, certificates=certificates
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
    """Factory for uvicorn workers: settings come from the environment."""
    return create_app(ServerSettings.from_env())


def app_with_http(http: HttpConfig) -> RouteFirst:
    """Factory for ``timeseal serve``'s workers: the HTTP front's settings passed explicitly
    (:func:`timeseal.server.runtime.http.app_factory`), the rest from the environment."""
    return create_app(dataclasses.replace(ServerSettings.from_env(), http=http))
