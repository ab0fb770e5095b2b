"""``timeseal serve``: the whole platform (TSA, API, log, web UI) in one or several processes.

The data directory is created when missing and checked before any worker starts. The
server's settings are read from the environment here once
(:meth:`timeseal.server.app.ServerSettings.from_env`), the flags go over them, and every worker
and companion process is handed them as an argument. Several workers each get their own
``SO_REUSEPORT`` socket, beside one log sequencer process and one issuance journal process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from timeseal.cli import settings as cli_settings
from timeseal.cli.data_dir import DataDirOption, open_database, utc_now
from timeseal.cli.exits import usage_error

if TYPE_CHECKING:
    from timeseal.server.app import ServerSettings
    from timeseal.server.runtime.configuration import Config
    from timeseal.server.runtime.http import HttpConfig

Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(help="TCP port.")]
Workers = Annotated[int, typer.Option(help="Worker processes (default: one per CPU core).")]
ClockSource = Annotated[
    str | None,
    typer.Option(
        help="Clock source: auto, chrony, kernel, local (trust this machine's clock), "
        "unsynchronised. Default: as in config.json (auto)."
    ),
]
PublicUrl = Annotated[
    str | None,
    typer.Option(
        help="Where people reach this server (certificates' QR codes point to its /verify "
        "page); default: $TIMESEAL_PUBLIC_URL, else http://HOST:PORT."
    ),
]
RecordingIdleMinutes = Annotated[
    float,
    typer.Option(
        help="Cut off a browser recording that sent no chunk for this many minutes: its "
        "chunks so far are filed as sealed evidence."
    ),
]
ForwardedAllowIps = Annotated[
    str | None,
    typer.Option(
        "--forwarded-allow-ips",
        help="Reverse proxies (comma-separated IP addresses or CIDR networks) whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed. Default: as in config.json "
        "(none: no proxy header is trusted, not even from 127.0.0.1).",
    ),
]
HeaderTimeout = Annotated[
    float | None,
    typer.Option(
        help="Seconds a client has to send a request's headers (default 10, config.json)."
    ),
]
BodyTimeout = Annotated[
    float | None,
    typer.Option(
        help="Seconds a request body may send nothing before it is cut off with 408 "
        "(default 30, config.json)."
    ),
]
DiskLowMb = Annotated[
    int | None,
    typer.Option(
        help="/healthz reports disk_low (503) below this many MiB free in the data "
        "directory (default 1024, config.json)."
    ),
]
ApiDocs = Annotated[
    bool | None,
    typer.Option(
        "--api-docs/--no-api-docs",
        help="Serve /docs (Swagger UI) from locally installed files (the swagger-ui-bundle "
        "package); never from a CDN. Default: off.",
    ),
]
AllowDevSms = Annotated[
    bool,
    typer.Option(
        "--allow-dev-sms",
        help="Serve the development SMS provider (codes written to sms-outbox.log, none "
        "sent) on a non-loopback --host. Never for real users.",
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: DataDirOption = cli_settings.DEFAULT_DATA_DIR,
    workers: Workers = 0,
    clock_source: ClockSource = None,
    public_url: PublicUrl = None,
    recording_idle_minutes: RecordingIdleMinutes = 10,
    forwarded_allow_ips: ForwardedAllowIps = None,
    header_timeout: HeaderTimeout = None,
    body_timeout: BodyTimeout = None,
    disk_low_mb: DiskLowMb = None,
    api_docs: ApiDocs = None,
    allow_dev_sms: AllowDevSms = False,
) -> None:
    """Run the whole platform (TSA, API, log, web UI)."""
    from timeseal.server.runtime import http as runtime
    from timeseal.server.runtime import serving
    from timeseal.server.runtime import workers as workers_module

    if not 0 < recording_idle_minutes <= 24 * 60:
        raise usage_error("--recording-idle-minutes must be more than 0 and at most 1440")
    data_dir = data_dir.resolve()
    settings, config = _checked_data_dir(data_dir, host, port, allow_dev_sms)
    settings = _with_flags(settings, clock_source, public_url, recording_idle_minutes)
    # Workers start with this environment: at most two malloc arenas per process, so the
    # threads that write uploads do not each keep their own heap (resident memory).
    cli_settings.limit_malloc_arenas()
    n = workers or os.cpu_count() or 1
    # The HTTP front's settings, read here once and passed to every worker explicitly.
    try:
        http = runtime.resolve(
            config.http,
            forwarded_allow_ips=forwarded_allow_ips,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            disk_low_mb=disk_low_mb,
            api_docs=api_docs,
        )
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    settings = dataclasses.replace(settings, http=http)
    _announce(host, port, data_dir, n, config, http)
    _warn_missing_dependencies()
    _announce_clock(settings, config)
    if n == 1:
        workers_module.run_single(serving.server_options(host, port, settings))
        return
    raise typer.Exit(_run_workers(settings, n, host, port, data_dir))


def _checked_data_dir(
    data_dir: Path, host: str, port: int, allow_dev_sms: bool
) -> tuple[ServerSettings, Config]:
    """The data directory, created when missing; the server's settings, read from the
    environment here once; the directory's configuration, checked (the SMS provider against
    the listen address, the database against the directory)."""
    from timeseal.server.accounts.sms import check_listen_address
    from timeseal.server.app import ServerSettings
    from timeseal.server.runtime import configuration, datadir
    from timeseal.server.runtime.blob_store import check_blob_store
    from timeseal.store.blobs import blob_store_for

    datadir.initialise(data_dir, now=utc_now())
    try:
        settings = ServerSettings.from_env(
            data_dir=data_dir, default_public_url=f"http://{host}:{port}"
        )
        config = datadir.validate(data_dir, settings.secret_values)
    except (ValueError, configuration.DataDirError) as exc:
        raise usage_error(str(exc)) from None
    try:
        check_listen_address(config.sms, host, allow_dev=allow_dev_sms)
    except configuration.DataDirError as exc:
        raise usage_error(str(exc)) from None
    # Before any worker starts: refuse a database, or a blob store, not this data directory's.
    engine = open_database(data_dir, settings.database_url)
    try:
        blobs = blob_store_for(
            data_dir, settings.blob_url, s3_endpoint_url=settings.s3_endpoint_url
        )
        check_blob_store(data_dir, blobs, settings.blob_url, engine)
    except (ValueError, configuration.DataDirError) as exc:
        raise usage_error(str(exc)) from None
    finally:
        engine.dispose()
    return settings, config


def _with_flags(
    settings: ServerSettings,
    clock_source: str | None,
    public_url: str | None,
    recording_idle_minutes: float,
) -> ServerSettings:
    """``settings`` with the command line's clock source, public URL and recording idle
    limit over what the environment and config.json gave."""
    from timeseal.server.tsa.clock import source_by_name

    if clock_source is not None:
        try:
            settings = dataclasses.replace(settings, clock_source=source_by_name(clock_source))
        except ValueError as exc:
            raise usage_error(str(exc)) from None
    url = public_url.rstrip("/") if public_url else settings.public_url
    if not url.startswith(("http://", "https://")):
        raise usage_error(f"--public-url must be an http(s) URL, not {url!r}")
    return dataclasses.replace(
        settings,
        public_url=url,
        recording_idle=dt.timedelta(minutes=recording_idle_minutes),
    )


def _announce(
    host: str, port: int, data_dir: Path, n: int, config: Config, http: HttpConfig
) -> None:
    """What the operator should know as the server starts."""
    from timeseal.server.accounts.sms import dev_banner

    typer.echo(f"TimeSeal on http://{host}:{port}  data {data_dir}  workers {n}")
    typer.echo(f"TSA policy {config.tsa.policy}")
    if config.sms.provider == "dev":
        typer.echo(dev_banner(data_dir))
    trusted = ", ".join(http.forwarded_allow_ips) or "none"
    typer.echo(f"forwarded headers trusted from: {trusted}")
    if cli_settings.uvicorn_proxy_variable_set():
        typer.echo(
            "warning: FORWARDED_ALLOW_IPS is ignored; use --forwarded-allow-ips or "
            'config.json "http": {"forwarded_allow_ips": [...]}',
            err=True,
        )


def _warn_missing_dependencies() -> None:
    """Each system package the server needs and lacks, named (the start goes on)."""
    from timeseal.server.runtime.dependencies import missing_dependencies

    for missing in missing_dependencies():
        typer.echo(missing.message(), err=True)


def _announce_clock(settings: ServerSettings, config: Config) -> None:
    """The clock source the TSA issues by, and, when its clock is not trusted now, why and
    the two fixes: the server still starts (time sync may come up), but says so."""
    from timeseal.server.tsa.clock import source_by_name, startup_report

    source = settings.clock_source or source_by_name(config.clock.source)
    trusted, text = startup_report(source, config.clock.max_offset_ms / 1000)
    typer.echo(text, err=not trusted)


def _run_workers(settings: ServerSettings, n: int, host: str, port: int, data_dir: Path) -> int:
    """Several workers: each its own SO_REUSEPORT socket, so the kernel spreads connections;
    the log sequencer in a process of its own, so its rounds never stall a worker's loop;
    one journal process commits every worker's tokens together. The supervisor's exit code."""
    from timeseal.server.journal import process as journal_process
    from timeseal.server.log import sequencer_process
    from timeseal.server.runtime import serving
    from timeseal.server.runtime import workers as workers_module

    try:
        workers_module.check_port_free(host, port)
    except workers_module.PortInUse as exc:
        raise usage_error(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="timeseal-") as run_dir:
        role_file = Path(run_dir) / "sequencer-role"
        journal_socket = Path(run_dir) / "journal.sock"
        settings = dataclasses.replace(
            settings, sequencer_role_file=role_file, journal_socket=journal_socket
        )
        database = settings.database_url
        sequencer = workers_module.ProcessSpec(
            sequencer_process.run, (data_dir, database, role_file)
        )
        journal = workers_module.ProcessSpec(
            journal_process.run, (data_dir, database, journal_socket), reload=False
        )
        server_config = serving.server_options(host, port, settings)
        supervisor = workers_module.Supervisor(server_config, n, companions=[journal, sequencer])
        return supervisor.run()
