"""``timeseal``: one command for the server, the client and the verifier.

Exit codes follow DESIGN.md: 0 valid / success, 1 invalid (every reason printed), 2 usage error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from cryptography import x509

from timeseal.cli import settings as cli_settings
from timeseal.cli.account_cmd import register as register_account_commands
from timeseal.cli.capture.commands import register as register_capture_commands
from timeseal.cli.case_cmd import register as register_case_commands
from timeseal.cli.env_check_cmd import register as register_env_check_commands
from timeseal.cli.hsm import register as register_hsm_commands
from timeseal.cli.log_cmd import register as register_log_commands
from timeseal.cli.sync_cmd import register as register_sync_commands
from timeseal.cli.tsa_key import register as register_key_commands
from timeseal.cli.vault_cmd import register as register_vault_commands
from timeseal.cli.witness_cmd import register as register_witness_commands
from timeseal.core.digest import digest_stream
from timeseal.core.errors import TimeSealError
from timeseal.core.files import write_durably
from timeseal.core.tsp.response import TimeStampResponse, parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Engine

    from timeseal.store.issuance import JournalEntry

app = typer.Typer(
    name="timeseal",
    help="TimeSeal 时印: trusted timestamps and evidence you can prove.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tsa_app = typer.Typer(help="Time-Stamp Authority administration.", no_args_is_help=True)
app.add_typer(tsa_app, name="tsa")
register_hsm_commands(tsa_app)
register_key_commands(tsa_app)
register_witness_commands(app)
register_log_commands(app)
register_account_commands(app)
register_vault_commands(app)
register_case_commands(app)
register_capture_commands(app)
register_sync_commands(app)
register_env_check_commands(app)

DEFAULT_RECEIPT_WAIT = 5.0

DataDirOption = Annotated[Path, cli_settings.data_dir_option()]


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"错误 error: {message}", err=True)
    return typer.Exit(2)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@app.command()
def init(data_dir: DataDirOption = cli_settings.DEFAULT_DATA_DIR) -> None:
    """Create the data directory: root CA, TSA certificate and configuration, and bind it to
    its database ($TIMESEAL_DATABASE_URL, else SQLite in the directory). Idempotent."""
    from timeseal.server.runtime import datadir, platform_keys

    config = datadir.initialise(data_dir, now=_now())
    _open_database(data_dir.resolve(), cli_settings.database_url_from_env()).dispose()
    config = datadir.load_config(data_dir)
    typer.echo(f"data directory {data_dir.resolve()}")
    typer.echo(f"database {config.database.location} (id {config.database.id})")
    typer.echo(f"TSA policy {config.tsa.policy}")
    typer.echo(f"root certificate {platform_keys.root_certificate_path(data_dir).resolve()}")


def _open_database(data_dir: Path, database_url: str | None) -> Engine:
    """The data directory's database (``database_url``, else its SQLite one), checked to be
    the one it was created with (else a usage error naming the fix, with nothing written)."""
    from timeseal.server.runtime.configuration import DataDirError
    from timeseal.server.runtime.database import open_database

    try:
        return open_database(data_dir, database_url)
    except DataDirError as exc:
        raise _usage_error(str(exc)) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    data_dir: DataDirOption = cli_settings.DEFAULT_DATA_DIR,
    workers: Annotated[int, typer.Option(help="Worker processes (default: one per CPU core).")] = 0,
    clock_source: Annotated[
        str | None,
        typer.Option(
            help="Clock source: auto, chrony, kernel, local (trust this machine's clock), "
            "unsynchronised. Default: as in config.json (auto)."
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="Where people reach this server (certificates' QR codes point to its /verify "
            "page); default: $TIMESEAL_PUBLIC_URL, else http://HOST:PORT."
        ),
    ] = None,
    recording_idle_minutes: Annotated[
        float,
        typer.Option(
            help="Cut off a browser recording that sent no chunk for this many minutes: its "
            "chunks so far are filed as sealed evidence."
        ),
    ] = 10,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Reverse proxies (comma-separated IP addresses or CIDR networks) whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed. Default: as in config.json "
            "(none: no proxy header is trusted, not even from 127.0.0.1).",
        ),
    ] = None,
    header_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds a client has to send a request's headers (default 10, config.json)."
        ),
    ] = None,
    body_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds a request body may send nothing before it is cut off with 408 "
            "(default 30, config.json)."
        ),
    ] = None,
    disk_low_mb: Annotated[
        int | None,
        typer.Option(
            help="/healthz reports disk_low (503) below this many MiB free in the data "
            "directory (default 1024, config.json)."
        ),
    ] = None,
    api_docs: Annotated[
        bool | None,
        typer.Option(
            "--api-docs/--no-api-docs",
            help="Serve /docs (Swagger UI) from locally installed files (the swagger-ui-bundle "
            "package); never from a CDN. Default: off.",
        ),
    ] = None,
    allow_dev_sms: Annotated[
        bool,
        typer.Option(
            "--allow-dev-sms",
            help="Serve the development SMS provider (codes written to sms-outbox.log, none "
            "sent) on a non-loopback --host. Never for real users.",
        ),
    ] = False,
) -> None:
    """Run the whole platform (TSA, API, log, web UI)."""
    from timeseal.server.accounts.sms import check_listen_address, dev_banner
    from timeseal.server.app import ServerSettings
    from timeseal.server.journal import process as journal_process
    from timeseal.server.log import sequencer_process
    from timeseal.server.runtime import configuration, datadir
    from timeseal.server.runtime import http as runtime
    from timeseal.server.runtime import workers as workers_module
    from timeseal.server.tsa.clock import source_by_name

    if not 0 < recording_idle_minutes <= 24 * 60:
        raise _usage_error("--recording-idle-minutes must be more than 0 and at most 1440")
    data_dir = data_dir.resolve()
    datadir.initialise(data_dir, now=_now())
    # The server's settings, read from the environment here once and handed to every worker
    # and companion process as an argument; the flags go over them.
    try:
        settings = ServerSettings.from_env(
            data_dir=data_dir, default_public_url=f"http://{host}:{port}"
        )
        config = datadir.validate(data_dir, settings.secret_values)
    except (ValueError, configuration.DataDirError) as exc:
        raise _usage_error(str(exc)) from None
    try:
        check_listen_address(config.sms, host, allow_dev=allow_dev_sms)
    except configuration.DataDirError as exc:
        raise _usage_error(str(exc)) from None
    # Before any worker starts: refuse a database that is not this data directory's.
    _open_database(data_dir, settings.database_url).dispose()
    if clock_source is not None:
        try:
            settings = dataclasses.replace(settings, clock_source=source_by_name(clock_source))
        except ValueError as exc:
            raise _usage_error(str(exc)) from None
    url = public_url.rstrip("/") if public_url else settings.public_url
    if not url.startswith(("http://", "https://")):
        raise _usage_error(f"--public-url must be an http(s) URL, not {url!r}")
    settings = dataclasses.replace(
        settings,
        public_url=url,
        recording_idle=dt.timedelta(minutes=recording_idle_minutes),
    )
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
        raise _usage_error(str(exc)) from None
    settings = dataclasses.replace(settings, http=http)
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
    if n == 1:
        workers_module.run_single(runtime.server_options(host, port, settings))
        return
    # Several workers: each its own SO_REUSEPORT socket, so the kernel spreads connections;
    # the log sequencer in a process of its own, so its rounds never stall a worker's loop;
    # one journal process commits every worker's tokens together.
    try:
        workers_module.check_port_free(host, port)
    except workers_module.PortInUse as exc:
        raise _usage_error(str(exc)) from None
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
            journal_process.run, (data_dir, database, journal_socket)
        )
        server_config = runtime.server_options(host, port, settings)
        supervisor = workers_module.Supervisor(server_config, n, companions=[journal, sequencer])
        code = supervisor.run()
    raise typer.Exit(code)


@app.command()
def stamp(
    files: Annotated[list[Path], typer.Argument(help="Files to timestamp.")],
    server: Annotated[str, cli_settings.server_option()] = cli_settings.DEFAULT_SERVER,
    ca: Annotated[
        Path | None, typer.Option(help="Root certificate to check each new token against.")
    ] = None,
    receipt: Annotated[
        bool | None,
        typer.Option(
            "--receipt/--no-receipt",
            help="Also write FILE.tlog-proof, the log's receipt for the token (default: when "
            "the server has a log).",
        ),
    ] = None,
    log_key: Annotated[
        str | None,
        typer.Option(
            "--log-key",
            help="The log's verifier key (or a file holding it) to check receipts with; "
            "default: the key the server serves at /log/vkey.",
        ),
    ] = None,
    receipt_wait: Annotated[
        float,
        typer.Option(min=0, help="Seconds to wait, in all, for the log to include the tokens."),
    ] = DEFAULT_RECEIPT_WAIT,
) -> None:
    """Timestamp files: writes FILE.tsr (an RFC 3161 TimeStampResp) next to each FILE, and
    FILE.tlog-proof (its C2SP tlog-proof receipt) when the server has a log."""
    from timeseal.capture.clients.tsa import TSAClient, TSAClientError, verify_stamp
    from timeseal.cli.log_cmd import load_verifier_key, write_receipts
    from timeseal.cli.verify.report import format_time

    roots = _load_roots(ca) if ca is not None else []
    key = load_verifier_key(log_key, "--log-key") if log_key is not None else None
    failed = False
    stamped: list[tuple[Path, TimeStampResponse]] = []
    with TSAClient(server) as client:
        for path in files:
            try:
                with path.open("rb") as f:
                    digest = digest_stream(f)
            except OSError as exc:
                raise _usage_error(f"cannot read {path}: {exc}") from None
            try:
                result = client.stamp_digest(digest)
            except TSAClientError as exc:
                typer.echo(f"✗ {path}: {exc}", err=True)
                failed = True
                continue
            if roots:
                check = verify_stamp(result, roots)
                if not check.ok:
                    names = ", ".join(c.value for c in check.failed)
                    typer.echo(f"✗ {path}: token does not verify ({names})", err=True)
                    failed = True
                    continue
            out = path.with_name(path.name + ".tsr")
            write_durably(out, result.response.der)
            assert result.response.token is not None
            tst = result.response.token.tst_info
            typer.echo(
                f"✓ {path} -> {out}  {format_time(tst.gen_time)}  serial {tst.serial_number:x}"
            )
            stamped.append((path, result.response))
    if receipt is not False and stamped:
        # A receipt that is not ready in time is only a warning: the .tsr stands on its own.
        receipt_failed, _ = write_receipts(
            server, stamped, log_key=key, wait=receipt_wait, required=receipt is True
        )
        failed = failed or bool(receipt_failed)
    if failed:
        raise typer.Exit(1)


def _load_roots(path: Path) -> list[x509.Certificate]:
    try:
        roots = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise _usage_error(f"cannot read trust anchor {path}: {exc}") from None
    if not roots:
        raise _usage_error(f"{path} holds no certificate")
    return roots


def _default_ca() -> Path | None:
    candidate = cli_settings.data_dir_from_env() / "pki" / "root.pem"
    return candidate if candidate.exists() else None


def _trust_roots(ca: Path | None) -> list[x509.Certificate]:
    """The roots in ``--ca``, else the local server's root; a usage error when there is none."""
    anchor = ca or _default_ca()
    if anchor is None:
        raise _usage_error("no trust anchor: pass --ca ROOT.pem")
    return _load_roots(anchor)


def _default_log_key() -> Path | None:
    """The local server's log verifier key, which ``timeseal serve`` writes there."""
    candidate = cli_settings.data_dir_from_env() / "log" / "log.vkey"
    return candidate if candidate.exists() else None


@app.command()
def verify(
    path: Annotated[
        Path, typer.Argument(help="The file, evidence package or recording directory to verify.")
    ],
    token: Annotated[
        Path | None, typer.Option(help="RFC 3161 token (.tsr) for the file; default PATH.tsr.")
    ] = None,
    ca: Annotated[
        Path | None,
        typer.Option(help="Trust anchor (PEM root). Default: the local data directory's root."),
    ] = None,
    receipt: Annotated[
        Path | None,
        typer.Option(
            help="Log receipt (C2SP tlog-proof) for the token; default PATH.tlog-proof if present."
        ),
    ] = None,
    log_key: Annotated[
        str | None,
        typer.Option(
            "--log-key",
            help="The log's verifier key (name+hex+base64) or a file holding it. Default: the "
            "local data directory's log/log.vkey.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key",
            help="Evidence package: a witness's cosignature key (vkey or file) that must have "
            "cosigned each checkpoint; repeatable.",
        ),
    ] = None,
) -> None:
    """Verify a file against its token, and the token's log receipt when there is one; or an
    evidence package (a ZIP with manifest.json); or a live-sealed recording (a directory, or
    a ZIP, with chain.jsonl); or a web capture directory. Exit 0 valid, 1 invalid, 2 usage error."""
    from timeseal.cli.log_cmd import check_receipt, load_verifier_key, receipt_path
    from timeseal.cli.verify import report
    from timeseal.core.tlog import SignatureType, VerifierKey
    from timeseal.core.verification import VerificationResult

    if _is_package(path):
        if token is not None or receipt is not None:
            raise _usage_error("--token and --receipt are for a file, not an evidence package")
        _verify_package(path, ca, log_key, witness_key or [], as_json)
    if path.is_dir() and (path / "chain.jsonl").is_file():  # a live-sealed recording
        from timeseal.cli.verify.recording import verify_recording

        verify_recording(path, _trust_roots(ca), as_json)  # always exits
    if path.is_dir():
        from timeseal.cli.verify.web_capture import is_web_capture, verify_web_capture

        if not is_web_capture(path):
            raise _usage_error(f"{path} is no web capture, recording or evidence package")
        if token is not None or receipt is not None:
            raise _usage_error("--token and --receipt are for a file, not a capture directory")
        given = load_verifier_key(log_key, "--log-key") if log_key is not None else None
        verify_web_capture(path, _trust_roots(ca), given, as_json)  # always exits
    if path.is_file() and path.suffix.lower() == ".zip":  # the same, as a ZIP (chain.zip)
        from timeseal.cli.verify.recording import is_recording_zip, verify_recording_zip

        if is_recording_zip(path):
            verify_recording_zip(path, _trust_roots(ca), as_json)  # always exits
    if token is None:
        sibling = path.with_name(path.name + ".tsr")
        if not sibling.exists():
            raise _usage_error(f"no token given and {sibling} does not exist (use --token)")
        token = sibling
    roots = _trust_roots(ca)
    try:
        token_der = token.read_bytes()
    except OSError as exc:
        raise _usage_error(f"cannot read {token}: {exc}") from None
    if not path.is_file():
        raise _usage_error(f"{path} is not a readable file")
    receipt_file = receipt
    if receipt_file is None and receipt_path(path).exists():
        receipt_file = receipt_path(path)
    receipt_der = b""
    key: VerifierKey | None = None
    if receipt_file is not None:
        try:
            receipt_der = receipt_file.read_bytes()
        except OSError as exc:
            raise _usage_error(f"cannot read {receipt_file}: {exc}") from None
        default_key = _default_log_key()
        if log_key is not None:
            key = load_verifier_key(log_key, "--log-key")
        elif default_key is not None:
            key = load_verifier_key(str(default_key), str(default_key))
        elif receipt is not None:
            raise _usage_error("--receipt needs the log's key: pass --log-key VKEY_OR_FILE")
        if key is not None and key.signature_type is not SignatureType.ED25519:
            raise _usage_error(f"{key.label} is not a log key (Ed25519, type 0x01)")

    try:
        response = parse_response(token_der)
    except TimeSealError as exc:
        _print_malformed(path, token, str(exc), as_json)
        raise typer.Exit(1) from None

    builder = TimestampVerifierBuilder()
    for root in roots:
        builder = builder.add_root(root)
    hashed = b""
    if response.token is not None:
        with path.open("rb") as f:
            hashed = digest_stream(f, response.token.tst_info.hash_algorithm)
    result = builder.build().verify(response, hashed)
    log = None
    if receipt_file is not None:
        log = check_receipt(receipt_file, receipt_der, response, key)
        result = VerificationResult(result.checks + log.checks)
    valid = result.ok and not (log is not None and log.malformed)

    if as_json:
        body = {
            "valid": valid,
            "file": str(path),
            "token": str(token),
            "checks": report.result_json(result),
            "tst_info": None
            if response.token is None
            else report.tst_info_json(response.token.tst_info),
            "receipt": None if log is None else log.json(),
        }
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"文件 File: {path}")
        typer.echo(f"令牌 Token: {token}")
        if response.token is not None:
            tst = response.token.tst_info
            typer.echo(f"时间 Time: {report.format_time(tst.gen_time)}")
            typer.echo(f"序列号 Serial: {tst.serial_number:x}")
            typer.echo(f"策略 Policy: {tst.policy}")
            typer.echo(f"哈希 {tst.hash_algorithm.name}: {tst.message_imprint.hex()}")
        for line in log.lines() if log is not None else []:
            typer.echo(line)
        for line in report.result_lines(result):
            typer.echo(line)
        typer.echo(report.verdict_line(valid))
    raise typer.Exit(0 if valid else 1)


def _is_package(path: Path) -> bool:
    """An evidence package is a ZIP holding manifest.json (docs/package-format.md); a ZIP
    too large in its directory to be one is verified as one too, so the report says why.
    Never parses more of the ZIP than the package verifier would."""
    from timeseal.core.package.verify import looks_like_package

    try:
        with path.open("rb") as f:
            return looks_like_package(f)
    except OSError:
        return False


def _verify_package(
    path: Path, ca: Path | None, log_key: str | None, witnesses: list[str], as_json: bool
) -> None:
    """``timeseal verify PACKAGE.zip``: offline; trust from --ca/--log-key, else (with a
    warning) from the package itself. Always exits: 0 valid, 1 invalid."""
    from timeseal.cli.log_cmd import load_verifier_key
    from timeseal.cli.verify import report
    from timeseal.core.package import verify_package
    from timeseal.core.pdf_signature import certificate_signature_check

    roots = _load_roots(ca) if ca is not None else []
    key = load_verifier_key(log_key, "--log-key") if log_key is not None else None
    cosigners = [load_verifier_key(w, "--witness-key") for w in witnesses]
    try:
        with path.open("rb") as f:
            result = verify_package(
                f,
                roots=roots,
                log_key=key,
                cosigners=cosigners,
                certificate_check=certificate_signature_check,
            )
    except OSError as exc:
        raise _usage_error(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise _usage_error(str(exc)) from None
    if as_json:
        body = {"file": str(path), **report.package_json(result)}
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"证据包 Package: {path}")
        for line in report.package_lines(result):
            typer.echo(line)
        typer.echo(report.verdict_line(result.ok))
    raise typer.Exit(0 if result.ok else 1)


def _print_malformed(path: Path, token: Path, reason: str, as_json: bool) -> None:
    if as_json:
        body = {
            "valid": False,
            "file": str(path),
            "token": str(token),
            "error": "malformed_token",
            "detail": reason,
            "checks": [],
        }
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"✗ 令牌无法解析 the token does not parse: {reason}")
        typer.echo("结论 Result: 无效 INVALID")


@tsa_app.command("journal")
def tsa_journal(
    data_dir: DataDirOption = cli_settings.DEFAULT_DATA_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List every token the TSA has issued, from the issuance journal (refused when the
    database is not the data directory's)."""
    from timeseal.store.issuance import iter_journal

    engine = _open_database(data_dir.resolve(), cli_settings.database_url_from_env())
    try:
        _print_journal(iter_journal(engine), as_json)
    finally:
        engine.dispose()


def _print_journal(rows: Iterable[tuple[int, JournalEntry]], as_json: bool) -> None:
    for row_id, e in rows:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "id": row_id,
                        "serial_number": format(e.serial_number, "x"),
                        "gen_time": e.gen_time.isoformat(),
                        "hash_algorithm": e.hash_algorithm,
                        "message_imprint": e.message_imprint.hex(),
                        "policy": e.policy,
                        "token_sha256": e.token_sha256.hex(),
                    }
                )
            )
        else:
            typer.echo(
                f"{row_id}\t{e.serial_number:x}\t{e.gen_time.isoformat()}\t"
                f"{e.hash_algorithm}\t{e.message_imprint.hex()}\t{e.token_sha256.hex()}"
            )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
