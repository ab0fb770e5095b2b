"""``timeseal init`` and what the server-side commands share about the data directory.

The data directory (``--data-dir``, default ``$TIMESEAL_DATA_DIR`` or ``./timeseal-data``)
holds the PKI, the configuration and, unless ``$TIMESEAL_DATABASE_URL`` names another, the
SQLite database; the local server's root certificate and log key found there are also the
default trust anchors of ``timeseal verify``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from timeseal.cli import settings as cli_settings
from timeseal.cli.exits import usage_error

if TYPE_CHECKING:
    from sqlalchemy import Engine

DataDirOption = Annotated[Path, cli_settings.data_dir_option()]


def register(app: typer.Typer) -> None:
    """Add ``init`` to ``app``."""
    app.command("init")(init)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_database(data_dir: Path, database_url: str | None) -> Engine:
    """The data directory's database (``database_url``, else its SQLite one), checked to be
    the one it was created with (else a usage error naming the fix, with nothing written)."""
    from timeseal.server.runtime.configuration import DataDirError
    from timeseal.server.runtime.database import open_database as open_checked

    try:
        return open_checked(data_dir, database_url)
    except DataDirError as exc:
        raise usage_error(str(exc)) from None


def default_root() -> Path | None:
    """The local server's root certificate, when there is one."""
    candidate = cli_settings.data_dir_from_env() / "pki" / "root.pem"
    return candidate if candidate.exists() else None


def default_log_key() -> Path | None:
    """The local server's log verifier key, which ``timeseal serve`` writes there."""
    candidate = cli_settings.data_dir_from_env() / "log" / "log.vkey"
    return candidate if candidate.exists() else None


def init(data_dir: DataDirOption = cli_settings.DEFAULT_DATA_DIR) -> None:
    """Create the data directory: root CA, TSA certificate and configuration, and bind it to
    its database ($TIMESEAL_DATABASE_URL, else SQLite in the directory). Idempotent."""
    from cryptography import x509

    from timeseal.core.pki import sha256_fingerprint
    from timeseal.server.runtime import datadir, platform_keys

    config = datadir.initialise(data_dir, now=utc_now())
    open_database(data_dir.resolve(), cli_settings.database_url_from_env()).dispose()
    config = datadir.load_config(data_dir)
    typer.echo(f"data directory {data_dir.resolve()}")
    typer.echo(f"database {config.database.location} (id {config.database.id})")
    typer.echo(f"TSA policy {config.tsa.policy}")
    root_path = platform_keys.root_certificate_path(data_dir).resolve()
    typer.echo(f"root certificate {root_path}")
    root = x509.load_pem_x509_certificate(root_path.read_bytes())
    # What verifiers compare with: publish it where your users can find it independently.
    typer.echo(f"root SHA-256 fingerprint {sha256_fingerprint(root)}")
