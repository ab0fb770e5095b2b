"""``timeseal stamp FILE…``: RFC 3161 tokens for files, and their log receipts.

Each file is hashed here and only its digest is sent to the server's TSA; the answer is
written to ``FILE.tsr`` (an RFC 3161 TimeStampResp), checked first against ``--ca`` when
given. When the server has a log, ``FILE.tlog-proof`` (the C2SP tlog-proof receipt for the
token) follows. Exit 0 when every file is stamped, 1 when one failed, 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from timeseal.cli import settings as cli_settings
from timeseal.cli.exits import usage_error
from timeseal.cli.verify.trust import load_roots
from timeseal.core.digest import digest_stream
from timeseal.core.files import write_durably
from timeseal.core.tsp.response import TimeStampResponse

if TYPE_CHECKING:
    from cryptography import x509

    from timeseal.capture.clients.tsa import TSAClient

DEFAULT_RECEIPT_WAIT = 5.0

Files = Annotated[list[Path], typer.Argument(help="Files to timestamp.")]
Server = Annotated[str, cli_settings.server_option()]
Ca = Annotated[Path | None, typer.Option(help="Root certificate to check each new token against.")]
Receipt = Annotated[
    bool | None,
    typer.Option(
        "--receipt/--no-receipt",
        help="Also write FILE.tlog-proof, the log's receipt for the token (default: when "
        "the server has a log).",
    ),
]
LogKey = Annotated[
    str | None,
    typer.Option(
        "--log-key",
        help="The log's verifier key (or a file holding it) to check receipts with; "
        "default: the key the server serves at /log/vkey.",
    ),
]
ReceiptWait = Annotated[
    float,
    typer.Option(min=0, help="Seconds to wait, in all, for the log to include the tokens."),
]


def register(app: typer.Typer) -> None:
    """Add ``stamp`` to ``app``."""
    app.command("stamp")(stamp)


def stamp(
    files: Files,
    server: Server = cli_settings.DEFAULT_SERVER,
    ca: Ca = None,
    receipt: Receipt = None,
    log_key: LogKey = None,
    receipt_wait: ReceiptWait = DEFAULT_RECEIPT_WAIT,
) -> None:
    """Timestamp files: writes FILE.tsr (an RFC 3161 TimeStampResp) next to each FILE, and
    FILE.tlog-proof (its C2SP tlog-proof receipt) when the server has a log."""
    from timeseal.capture.clients.tsa import TSAClient
    from timeseal.cli.log_receipts import load_verifier_key, write_receipts

    roots = load_roots(ca) if ca is not None else []
    key = load_verifier_key(log_key, "--log-key") if log_key is not None else None
    failed = False
    stamped: list[tuple[Path, TimeStampResponse]] = []
    with TSAClient(server) as client:
        for path in files:
            response = _stamp_one(client, path, roots)
            if response is None:
                failed = True
            else:
                stamped.append((path, response))
    if receipt is not False and stamped:
        # A receipt that is not ready in time is only a warning: the .tsr stands on its own.
        receipt_failed, _ = write_receipts(
            server, stamped, log_key=key, wait=receipt_wait, required=receipt is True
        )
        failed = failed or bool(receipt_failed)
    if failed:
        raise typer.Exit(1)


def _stamp_one(
    client: TSAClient, path: Path, roots: list[x509.Certificate]
) -> TimeStampResponse | None:
    """Stamp ``path`` and write ``path.tsr``; the response, or None once the failure is
    printed (a file that cannot be read is a usage error)."""
    from timeseal.capture.clients.tsa import TSAClientError, verify_stamp
    from timeseal.cli.verify.report import format_time

    try:
        with path.open("rb") as f:
            digest = digest_stream(f)
    except OSError as exc:
        raise usage_error(f"cannot read {path}: {exc}") from None
    try:
        result = client.stamp_digest(digest)
    except TSAClientError as exc:
        typer.echo(f"✗ {path}: {exc}", err=True)
        return None
    if roots:
        check = verify_stamp(result, roots)
        if not check.ok:
            names = ", ".join(c.value for c in check.failed)
            typer.echo(f"✗ {path}: token does not verify ({names})", err=True)
            return None
    out = path.with_name(path.name + ".tsr")
    write_durably(out, result.response.der)
    assert result.response.token is not None
    tst = result.response.token.tst_info
    typer.echo(f"✓ {path} -> {out}  {format_time(tst.gen_time)}  serial {tst.serial_number:x}")
    return result.response
