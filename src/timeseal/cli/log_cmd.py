"""``timeseal log …``: audit a TimeSeal log, and fetch offline receipts for tokens.

``timeseal log verify`` downloads the signed checkpoint and every tile and entry bundle, rebuilds
the tree, and checks it against the checkpoint it accepted last time (a JSON state file). Exit 0
consistent, 1 inconsistent or unreachable (every reason printed, 中文 first, then English),
2 usage error. ``timeseal log receipt FILE…`` writes ``FILE.tlog-proof`` for ``FILE.tsr``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from timeseal.capture.clients import http_client
from timeseal.capture.clients.log import (
    AuditReport,
    AuditState,
    LogClient,
    LogClientError,
    audit_log,
    format_state,
    parse_state,
)
from timeseal.cli import settings as cli_settings
from timeseal.cli.exits import usage_error
from timeseal.cli.log_receipts import (
    load_verifier_key,
    log_receipt,
    tree_json,
    write_atomically,
)
from timeseal.cli.server_client import ServerOption, resolve_server
from timeseal.cli.verify import report
from timeseal.core.errors import MalformedError, TimeSealError
from timeseal.core.tlog import SignatureType, VerifierKey, format_verifier_key, parse_verifier_key

#: How long `log add-witness` waits for the witness to answer.
WITNESS_CHECK_TIMEOUT = 10.0

StateOption = Annotated[
    Path | None,
    typer.Option(
        help="State file: the last checkpoint accepted and the pinned log key. Default: "
        "$XDG_STATE_HOME/timeseal/log-audit/<server>.json."
    ),
]
VkeyOption = Annotated[
    str | None,
    typer.Option(
        "--vkey",
        help="The log's verifier key (name+hex+base64) or a file holding it. Default: the "
        "key pinned in the state file; on a first run, the server's /log/vkey (trust on "
        "first use).",
    ),
]
WitnessOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="VKEY", help="A witness's cosignature/v1 verifier key (or file); repeatable."
    ),
]
QuorumOption = Annotated[
    int | None,
    typer.Option(min=1, help="Valid witness cosignatures required (default: all)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable report.")]


def register(app: typer.Typer) -> None:
    """Add the ``log`` command group to ``app``."""
    log_app = typer.Typer(
        help="The public append-only log: audit it, fetch receipts.", no_args_is_help=True
    )
    log_app.command("verify")(log_verify)
    log_app.command("receipt")(log_receipt)
    log_app.command("add-witness")(log_add_witness)
    app.add_typer(log_app, name="log")


def log_add_witness(
    url: Annotated[str, typer.Option("--url", help="The witness's base URL.")],
    vkey: Annotated[
        str, typer.Option("--vkey", help="The witness's verifier key (`timeseal witness vkey`).")
    ],
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir", envvar=cli_settings.DATA_DIR_ENV, help="The log server's data directory."
        ),
    ] = cli_settings.DEFAULT_DATA_DIR,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Ask the witness first (its /healthz) that it answers with this key.",
        ),
    ] = True,
) -> None:
    """Ask a witness to cosign this log's checkpoints (from the next server start).

    The witness operator must first follow this log: `timeseal witness add-log --vkey
    <this log's /log/vkey>`. The witness is asked first that it answers, with this key, and
    follows this log (`--no-check` to configure one that is not reachable yet).
    """
    from timeseal.server.runtime import configuration, datadir

    try:
        key = parse_verifier_key(vkey)
    except MalformedError as exc:
        raise usage_error(f"--vkey: {exc}") from None
    if not url.startswith(("http://", "https://")):
        raise usage_error("--url must be an http:// or https:// URL")
    if check:
        origin = datadir.load_config(data_dir).log.origin
        _check_witness(url.rstrip("/"), key, origin)
    try:
        config = datadir.add_witness(
            data_dir, configuration.WitnessConfig(url=url.rstrip("/"), vkey=vkey)
        )
    except configuration.DataDirError as exc:
        raise usage_error(str(exc)) from None
    typer.echo(f"✓ {len(config.log.witnesses)} witness(es) configured; restart the server")


def _check_witness(url: str, key: VerifierKey, origin: str) -> None:
    """Usage error unless the witness answers ``/healthz`` with ``key``; a warning if its
    status page does not list ``origin`` (it has not run `timeseal witness add-log` yet)."""
    try:
        with http_client(timeout=WITNESS_CHECK_TIMEOUT) as client:
            health = client.get(f"{url}/healthz")
            status = client.get(f"{url}/") if health.status_code == 200 else None
    except httpx.HTTPError as exc:
        raise usage_error(
            f"见证方无应答 the witness at {url} does not answer ({type(exc).__name__}: {exc}); "
            "check the URL, or add --no-check to configure it before it runs"
        ) from None
    if health.status_code != 200:
        raise usage_error(
            f"见证方无应答 the witness at {url} answered /healthz with HTTP "
            f"{health.status_code}; add --no-check if it is a witness without /healthz"
        )
    try:
        served = str(health.json().get("vkey", ""))
    except (ValueError, AttributeError):
        served = ""
    if served != format_verifier_key(key):
        raise usage_error(
            f"见证方公钥不符 the witness at {url} signs with {served or 'an unknown key'}, "
            f"not with the --vkey given ({key.label})"
        )
    listed = status is not None and f"log {origin} " in status.text
    if not listed:
        typer.echo(
            f"⚠ 见证方尚未关注本日志 the witness does not follow {origin} yet: its operator runs "
            "`timeseal witness add-log --vkey <this log's /log/vkey>`",
            err=True,
        )
    typer.echo(f"✓ 见证方应答 the witness at {url} answers with key {key.label}")


def default_state_path(server: str) -> Path:
    """``$XDG_STATE_HOME/timeseal/log-audit/<server>.json`` (like Go's sumdb cache)."""
    base = cli_settings.xdg_base("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", re.sub(r"^[a-z]+://", "", server)).strip("_")
    return Path(base) / "timeseal" / "log-audit" / f"{slug or 'server'}.json"


def _load_state(path: Path) -> AuditState | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise usage_error(f"无法读取状态文件 cannot read the state file {path}: {exc}") from None
    try:
        return parse_state(text)
    except TimeSealError as exc:
        raise usage_error(
            f"the state file {path} is not valid ({exc}); it is the baseline the log is checked "
            "against, so it is not replaced silently: restore it, or move it away to start over"
        ) from None


def _tofu_warning(key: VerifierKey) -> None:
    for line in (
        "⚠ 首次使用即信任：没有给出 --vkey，也没有状态文件，本次信任服务器自己在 /log/vkey "
        "提供的日志公钥，并把它固定在状态文件中。请通过其他渠道（官网、纸质证书）核对：",
        "⚠ TRUST ON FIRST USE: no --vkey and no state file, so this run trusts the log key the "
        "server itself serves at /log/vkey and pins it in the state file. Check it through "
        "another channel:",
        f"    {format_verifier_key(key)}",
    ):
        typer.echo(line, err=True)


def log_verify(
    server: ServerOption = None,
    state: StateOption = None,
    vkey: VkeyOption = None,
    witness: WitnessOption = None,
    quorum: QuorumOption = None,
    as_json: JsonOption = False,
) -> None:
    """Audit the log: verify the checkpoint, rebuild the whole tree from the tiles and entries,
    and check it only grew since the last run. Exit 0 consistent, 1 not, 2 usage error."""
    server = resolve_server(server)
    state_path = state or default_state_path(server)
    previous = _load_state(state_path)
    given = load_verifier_key(vkey, "--vkey") if vkey is not None else None
    cosigners = [load_verifier_key(w, "--witness") for w in witness or []]
    _check_keys(given, cosigners, quorum, previous, state_path)
    with LogClient(server) as client:
        try:
            key, source, tofu = _log_key(client, server, previous, given)
            audit = audit_log(client, key, previous=previous, cosigners=cosigners, quorum=quorum)
        except LogClientError as exc:
            _print_not_audited(server, exc, as_json)
            raise typer.Exit(1) from None
    if audit.state is not None:
        write_atomically(state_path, format_state(audit.state).encode("utf-8"))
    if as_json:
        body = _audit_json(server, state_path, key, tofu, audit)
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        _print_audit(server, state_path, key, source, audit)
    raise typer.Exit(0 if audit.result.ok else 1)


def _check_keys(
    given: VerifierKey | None,
    cosigners: list[VerifierKey],
    quorum: int | None,
    previous: AuditState | None,
    state_path: Path,
) -> None:
    """Usage errors: a log key that is no Ed25519 key or not the pinned one, witness keys
    that are no cosignature keys or given twice, a quorum larger than the witnesses."""
    if given is not None and given.signature_type is not SignatureType.ED25519:
        raise usage_error("--vkey: the log key must be an Ed25519 note key (type 0x01)")
    for key in cosigners:
        if key.signature_type is not SignatureType.COSIGNATURE_V1:
            raise usage_error(f"--witness {key.label} is not a cosignature/v1 key (type 0x04)")
    if len({k.label for k in cosigners}) != len(cosigners):
        raise usage_error("同一个 --witness 给了两次 the same --witness is given twice")
    if quorum is not None and quorum > len(cosigners):
        raise usage_error(
            f"--quorum {quorum} 至少需要 {quorum} 个 --witness "
            f"needs at least {quorum} --witness keys"
        )
    if previous is not None and given is not None and format_verifier_key(given) != previous.vkey:
        raise usage_error(
            f"--vkey {given.label} is not the key pinned in {state_path} "
            f"({previous.verifier_key.label}); use another --state to audit another log"
        )


def _log_key(
    client: LogClient, server: str, previous: AuditState | None, given: VerifierKey | None
) -> tuple[VerifierKey, str, bool]:
    """The log key to audit with, where it came from, and whether it is trusted on first use
    (the server's own /log/vkey, with a warning). Raises :class:`LogClientError`."""
    if previous is not None:
        return previous.verifier_key, "固定于状态文件 pinned in the state file", False
    if given is not None:
        return given, "--vkey", False
    served = client.fetch_verifier_key()
    if served is None:
        raise LogClientError(f"{server}/log/vkey: not found: the server has no log")
    _tofu_warning(served)
    return served, "⚠ 首次使用即信任 trust on first use", True


def _print_not_audited(server: str, exc: LogClientError, as_json: bool) -> None:
    if as_json:
        body = {"consistent": False, "server": server, "error": str(exc), "checks": []}
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"✗ 无法审计日志 cannot audit the log: {exc}")
        typer.echo("结论 Result: 未能验证 NOT VERIFIED")


def _audit_json(
    server: str, state_path: Path, key: VerifierKey, tofu: bool, audit: AuditReport
) -> dict[str, Any]:
    cp = audit.checkpoint.checkpoint if audit.checkpoint is not None else None
    prev = audit.previous
    return {
        "consistent": audit.result.ok or bool(audit.missing_cosigners),
        "witnessed": audit.result.ok,
        "missing_cosignatures": list(audit.missing_cosigners),
        "server": server,
        "log_key": format_verifier_key(key),
        "trust_on_first_use": tofu,
        "state_file": str(state_path),
        "state_updated": audit.state is not None,
        "previous": None if prev is None else tree_json(prev.origin, prev.size, prev.root_hash),
        "checkpoint": None if cp is None else tree_json(cp.origin, cp.size, cp.root_hash),
        "fetched": {"tiles": audit.tiles, "entry_bundles": audit.bundles, "bytes": audit.bytes},
        "checks": report.result_json(audit.result),
    }


def _print_audit(
    server: str, state_path: Path, key: VerifierKey, source: str, audit: AuditReport
) -> None:
    typer.echo(f"日志 Log: {server}")
    typer.echo(f"日志公钥 Log key: {format_verifier_key(key)}  ({source})")
    typer.echo(f"状态文件 State: {state_path}")
    prev = audit.previous
    if prev is None:
        typer.echo("上次 Previous: 无，首次审计 none, first audit (nothing to compare with)")
    else:
        typer.echo(f"上次 Previous: 大小 size {prev.size}, 根 root {prev.root_hash.hex()}")
    if audit.checkpoint is not None:
        cp = audit.checkpoint.checkpoint
        typer.echo(
            f"检查点 Checkpoint: {cp.origin}, 大小 size {cp.size}, 根 root {cp.root_hash.hex()}"
        )
    for line in report.result_lines(audit.result):
        typer.echo(line)
    typer.echo(
        f"下载 Fetched: {audit.tiles} 个瓦片 tiles, {audit.bundles} 个条目包 entry bundles, "
        f"{audit.bytes:,} 字节 bytes"
    )
    if audit.state is not None:
        typer.echo(f"状态已更新 State updated: {state_path}")
    else:
        typer.echo("状态未更新 State NOT updated: the last accepted checkpoint stays the baseline")
    typer.echo(_verdict_line(audit))


def _verdict_line(audit: AuditReport) -> str:
    if audit.result.ok:
        return "结论 Result: 一致 CONSISTENT"
    if audit.missing_cosigners:
        who = ", ".join(audit.missing_cosigners)
        return (
            f"结论 Result: 日志一致，但缺少见证方联署：{who} "
            f"CONSISTENT, but missing cosignature from {who} (is the witness down?)"
        )
    return "结论 Result: 不一致 INCONSISTENT"
