"""``timeseal tsa journal``: every token the TSA has issued, from the issuance journal."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

import typer

from timeseal.cli import settings as cli_settings
from timeseal.cli.data_dir import DataDirOption, open_database

if TYPE_CHECKING:
    from timeseal.store.issuance import JournalEntry


def register(tsa_app: typer.Typer) -> None:
    """Add ``journal`` to ``timeseal tsa``."""
    tsa_app.command("journal")(tsa_journal)


def tsa_journal(
    data_dir: DataDirOption = cli_settings.DEFAULT_DATA_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List every token the TSA has issued, from the issuance journal (refused when the
    database is not the data directory's)."""
    from timeseal.store.issuance import iter_journal

    engine = open_database(data_dir.resolve(), cli_settings.database_url_from_env())
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
