"""``timeseal stamp FILE…``: RFC 3161 tokens for files, and their log receipts.

Each file is hashed here and only its digest is sent to the server's TSA; the answer is
written to ``FILE.tsr`` (an RFC 3161 TimeStampResp), checked first against ``--ca`` when
given; an existing ``FILE.tsr`` is never replaced (it proves an earlier date): the new token
goes to ``FILE.2.tsr``, ``FILE.3.tsr``, … When the server has a log, ``FILE.tlog-proof`` (the
C2SP tlog-proof receipt for the token; ``FILE.2.tlog-proof`` beside ``FILE.2.tsr``) follows.
A file that cannot be read or stamped is reported and the others go on. Exit 0 when every
file is stamped, 1 when one failed (after all were tried), 2 usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from timeseal.cli.marks import echo
from timeseal.cli.server_client import ServerOption, resolve_server
from timeseal.cli.verify.trust import load_roots
from timeseal.core.digest import digest_stream
from timeseal.core.files import write_durably
from timeseal.core.tsp.response import TimeStampResponse

if TYPE_CHECKING:
    from cryptography import x509

    from timeseal.capture.clients.tsa import TSAClient

DEFAULT_RECEIPT_WAIT = 5.0

Files = Annotated[list[Path], typer.Argument(metavar="FILE...", help="Files to timestamp.")]
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


def token_path(path: Path) -> Path:
    """Where a new token for ``path`` goes: ``FILE.tsr``, else the first free ``FILE.2.tsr``,
    ``FILE.3.tsr``, … — an earlier token proves an earlier date and is never replaced."""
    out = path.with_name(path.name + ".tsr")
    number = 1
    while out.exists():
        number += 1
        out = path.with_name(f"{path.name}.{number}.tsr")
    return out


def stamp(
    files: Files,
    server: ServerOption = None,
    ca: Ca = None,
    receipt: Receipt = None,
    log_key: LogKey = None,
    receipt_wait: ReceiptWait = DEFAULT_RECEIPT_WAIT,
) -> None:
    """Timestamp files: writes FILE.tsr (an RFC 3161 TimeStampResp) next to each FILE, and
    FILE.tlog-proof (its C2SP tlog-proof receipt) when the server has a log. An existing
    FILE.tsr is kept (it proves an earlier date): the new token goes to FILE.2.tsr, …"""
    from timeseal.capture.clients.tsa import TSAClient
    from timeseal.cli.log_receipts import load_verifier_key, write_receipts

    base = resolve_server(server)
    roots = load_roots(ca) if ca is not None else []
    key = load_verifier_key(log_key, "--log-key") if log_key is not None else None
    progress = _Progress(len(files))
    stamped: list[tuple[Path, TimeStampResponse]] = []
    with TSAClient(base) as client:
        for path in files:
            progress.step(path)
            done = _stamp_one(client, path, roots, progress)
            if done is not None:
                stamped.append(done)
    progress.finish()
    failed = len(files) - len(stamped)
    receipt_failed = 0
    if receipt is not False and stamped:
        # A receipt that is not ready in time is only a warning: the .tsr stands on its own.
        receipt_failed, _ = write_receipts(
            base, stamped, log_key=key, wait=receipt_wait, required=receipt is True
        )
    if len(files) > 1:
        echo(
            f"{'✓' if not failed else '✗'} 已盖时间戳 {len(stamped)}/{len(files)} 个文件，"
            f"失败 {failed} 个 / stamped {len(stamped)} of {len(files)} files, {failed} failed",
            err=bool(failed),
        )
    if failed or receipt_failed:
        raise typer.Exit(1)


class _Progress:
    """One counter for many files: ``[3/5]`` rewritten in place on a terminal's stderr, and
    the per-file lines kept for a log or a pipe (and for one file)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.live = total > 1 and sys.stderr.isatty()

    def step(self, path: Path) -> None:
        self.done += 1
        if self.live:
            typer.echo(f"\r[{self.done}/{self.total}] {path}\x1b[K", err=True, nl=False)

    def stamped(self, line: str) -> None:
        if not self.live:
            echo(f"[{self.done}/{self.total}] {line}" if self.total > 1 else line)

    def failed(self, line: str) -> None:
        if self.live:
            typer.echo("\r\x1b[K", err=True, nl=False)
        echo(f"[{self.done}/{self.total}] {line}" if self.total > 1 else line, err=True)

    def finish(self) -> None:
        if self.live:
            typer.echo("\r\x1b[K", err=True, nl=False)


def _stamp_one(
    client: TSAClient, path: Path, roots: list[x509.Certificate], progress: _Progress
) -> tuple[Path, TimeStampResponse] | None:
    """Stamp ``path`` and write its token (:func:`token_path`); the name its receipt goes
    under (``FILE``, or ``FILE.2`` beside ``FILE.2.tsr``) and the response, or None once the
    failure is printed (a file that cannot be read is one too: the others go on)."""
    from timeseal.capture.clients.tsa import TSAClientError, verify_stamp
    from timeseal.cli.verify.report import format_time

    try:
        with path.open("rb") as f:
            digest = digest_stream(f)
    except OSError as exc:
        progress.failed(f"✗ {path}: 无法读取 cannot read: {exc.strerror or exc}")
        return None
    try:
        result = client.stamp_digest(digest)
    except TSAClientError as exc:
        progress.failed(f"✗ {path}: {exc}")
        return None
    if roots:
        check = verify_stamp(result, roots)
        if not check.ok:
            names = ", ".join(c.value for c in check.failed)
            progress.failed(f"✗ {path}: 令牌未通过验证 token does not verify ({names})")
            return None
    out = token_path(path)
    write_durably(out, result.response.der)
    assert result.response.token is not None
    tst = result.response.token.tst_info
    if out.name != path.name + ".tsr":
        progress.failed(
            f"⚠ {path.name}.tsr 已存在并保留（它证明更早的时间），新令牌写入 {out.name} / "
            f"{path.name}.tsr exists and is kept (it proves an earlier date); the new token "
            f"is {out.name}"
        )
    progress.stamped(
        f"✓ {path} -> {out}  {format_time(tst.gen_time)}  序列号 serial {tst.serial_number:x}"
    )
    return out.with_name(out.name.removesuffix(".tsr")), result.response
