"""``timeseal witness …``: run a C2SP tlog-witness and choose the logs it follows.

::

    timeseal witness vkey    [--data-dir DIR] [--name NAME]     print the witness's vkey
    timeseal witness add-log --vkey VKEY [--origin ORIGIN] [--data-dir DIR]
    timeseal witness serve   [--host 127.0.0.1] [--port 8100] [--data-dir DIR] [--name NAME]

Each command creates the data directory and the witness key on first use; ``--name`` names
a new key (default ``<host name>/timeseal-witness``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from timeseal.cli.exits import usage_error
from timeseal.core.errors import TimeSealError

DataDir = Annotated[
    Path,
    typer.Option("--data-dir", help="Witness data directory (key and state)."),
]
Name = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Key name for a new witness key, e.g. witness.example.org/w1 (default: "
        "<host name>/timeseal-witness); for an existing key it must be that key's name.",
    ),
]
DEFAULT_DATA_DIR = Path("./timeseal-witness")


HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int, typer.Option(help="TCP port.")]
VkeyOption = Annotated[str, typer.Option("--vkey", help="The log's note verifier key.")]
OriginOption = Annotated[
    str | None,
    typer.Option("--origin", help="The log's checkpoint origin (default: key name)."),
]


def register(app: typer.Typer) -> None:
    """Add the ``witness`` command group to ``app``."""
    witness_app = typer.Typer(
        help="Run a C2SP tlog-witness that cosigns logs' checkpoints.", no_args_is_help=True
    )
    witness_app.command("vkey")(witness_vkey)
    witness_app.command("add-log")(witness_add_log)
    witness_app.command("serve")(witness_serve)
    app.add_typer(witness_app, name="witness")


def _initialise(data_dir: Path, name: str | None) -> str:
    """Create the data directory and the witness key on first use; the key's vkey."""
    from timeseal.core.tlog import format_verifier_key
    from timeseal.witness.server import initialise
    from timeseal.witness.store import WitnessError

    try:
        key = initialise(data_dir, name=name)
    except (WitnessError, OSError, ValueError) as exc:
        raise usage_error(str(exc)) from None
    return format_verifier_key(key.verifier_key)


def witness_vkey(data_dir: DataDir = DEFAULT_DATA_DIR, name: Name = None) -> None:
    """Print the witness's verifier key (name+hex+base64), for log operators."""
    typer.echo(_initialise(data_dir, name))


def witness_add_log(
    vkey: VkeyOption, origin: OriginOption = None, data_dir: DataDir = DEFAULT_DATA_DIR
) -> None:
    """Follow a log: cosign its checkpoints from now on (a running witness sees it at once)."""
    from timeseal.core.tlog import parse_verifier_key
    from timeseal.witness.server import DB_FILE
    from timeseal.witness.store import WitnessError, WitnessStore

    _initialise(data_dir, None)
    try:
        key = parse_verifier_key(vkey.strip())
    except TimeSealError as exc:
        raise usage_error(f"--vkey: {exc}") from None
    origin = key.name if origin is None else origin
    try:
        added = WitnessStore(data_dir / DB_FILE).add_log(key, origin, now=dt.datetime.now(dt.UTC))
    except WitnessError as exc:
        raise usage_error(str(exc)) from None
    state = "following" if added else "already following"
    typer.echo(f"{state} {origin} ({key.label})")


def witness_serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8100,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    name: Name = None,
) -> None:
    """Run the witness: POST /add-checkpoint, GET /<origin hash>/checkpoint, /healthz."""
    import logging

    import uvicorn

    from timeseal.witness.server import DB_FILE, create_witness_app
    from timeseal.witness.store import WitnessStore

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")

    vkey = _initialise(data_dir, name)
    witness_app = create_witness_app(data_dir.resolve())
    logs = WitnessStore(data_dir / DB_FILE).logs()
    typer.echo(f"TimeSeal witness on http://{host}:{port}  data {data_dir.resolve()}")
    typer.echo(f"vkey {vkey}")
    for origin, size in logs:
        typer.echo(f"log {origin} at {size}")
    if not logs:
        typer.echo("no logs yet: add one with `timeseal witness add-log --vkey …`")
    # No proxy header is believed (uvicorn would trust 127.0.0.1, or FORWARDED_ALLOW_IPS).
    uvicorn.run(
        witness_app,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        forwarded_allow_ips=[],
    )
