"""``timeseal``: one command for the server, the client and the verifier.

Only the wiring lives here: each command is in a module of its own, which adds it with
``register(app)``. Exit codes follow DESIGN.md: 0 valid / success, 1 invalid (every reason
printed), 2 usage error.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from timeseal import __version__
from timeseal.cli import (
    account_cmd,
    case_cmd,
    data_dir,
    env_check_cmd,
    hsm,
    log_cmd,
    serve_cmd,
    stamp_cmd,
    sync_cmd,
    tsa_journal,
    tsa_key,
    vault_cmd,
    witness_cmd,
)
from timeseal.cli.capture import commands as capture_commands
from timeseal.cli.verify import command as verify_command

app = typer.Typer(
    name="timeseal",
    help="TimeSeal 时印: trusted timestamps and evidence you can prove.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: no markup, no <type> columns, nothing cut off
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"timeseal {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """TimeSeal 时印: trusted timestamps and evidence you can prove."""


tsa_app = typer.Typer(help="Time-Stamp Authority administration.", no_args_is_help=True)
app.add_typer(tsa_app, name="tsa")
hsm.register(tsa_app)
tsa_key.register(tsa_app)
witness_cmd.register(app)
log_cmd.register(app)
account_cmd.register(app)
vault_cmd.register(app)
case_cmd.register(app)
capture_commands.register(app)
sync_cmd.register(app)
env_check_cmd.register(app)
data_dir.register(app)
serve_cmd.register(app)
stamp_cmd.register(app)
verify_command.register(app)
tsa_journal.register(tsa_app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
