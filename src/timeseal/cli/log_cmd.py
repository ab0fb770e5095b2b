"""``timeseal log …``: audit a TimeSeal log, and fetch offline receipts for tokens.

``timeseal log verify`` downloads the signed checkpoint and every tile and entry bundle, rebuilds
the tree, and checks it against the checkpoint it accepted last time (a JSON state file). Exit 0
consistent, 1 inconsistent or unreachable (every reason printed, 中文 first, then English),
2 usage error. ``timeseal log receipt FILE…`` writes ``FILE.tlog-proof`` for ``FILE.tsr``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from timeseal.capture.clients.log import (
    AuditReport,
    AuditState,
    LogClient,
    LogClientError,
    ReceiptInvalid,
    ReceiptTimeout,
    format_state,
    parse_state,
    token_leaf,
)
from timeseal.cli import settings as cli_settings
from timeseal.cli.verify import report
from timeseal.core.errors import MalformedError, TimeSealError
from timeseal.core.files import write_durably
from timeseal.core.log_entry import EvidenceEntry, parse_entry
from timeseal.core.tlog import (
    SignatureType,
    TlogProof,
    VerifierKey,
    format_tlog_proof,
    format_verifier_key,
    parse_tlog_proof,
    parse_verifier_key,
    verify_tlog_proof,
)
from timeseal.core.tsp.response import TimeStampResponse, parse_response
from timeseal.core.verification import CheckResult

RECEIPT_SUFFIX = ".tlog-proof"  # C2SP tlog-proof: "Proofs SHOULD be stored with .tlog-proof"
DEFAULT_WAIT = 5.0

ServerOption = Annotated[str, cli_settings.server_option()]


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
) -> None:
    """Ask a witness to cosign this log's checkpoints (from the next server start).

    The witness operator must first follow this log: `timeseal witness add-log --vkey
    <this log's /log/vkey>`.
    """
    from timeseal.server.runtime import configuration, datadir

    try:
        parse_verifier_key(vkey)
    except MalformedError as exc:
        raise _usage_error(f"--vkey: {exc}") from None
    if not url.startswith(("http://", "https://")):
        raise _usage_error("--url must be an http:// or https:// URL")
    try:
        config = datadir.add_witness(
            data_dir, configuration.WitnessConfig(url=url.rstrip("/"), vkey=vkey)
        )
    except configuration.DataDirError as exc:
        raise _usage_error(str(exc)) from None
    typer.echo(f"✓ {len(config.log.witnesses)} witness(es) configured; restart the server")


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"错误 error: {message}", err=True)
    return typer.Exit(2)


def load_verifier_key(value: str, what: str) -> VerifierKey:
    """A note verifier key (``name+hex+base64``) given inline, or a file holding one; a usage
    error (exit 2) if it is neither."""
    text = value.strip()
    try:
        path = Path(value).expanduser()
        if path.is_file():
            text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _usage_error(f"{what}: cannot read {value}: {exc}") from None
    try:
        return parse_verifier_key(text)
    except TimeSealError as exc:
        raise _usage_error(f"{what}: not a verifier key or a file holding one: {exc}") from None


def default_state_path(server: str) -> Path:
    """``$XDG_STATE_HOME/timeseal/log-audit/<server>.json`` (like Go's sumdb cache)."""
    base = cli_settings.xdg_base("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", re.sub(r"^[a-z]+://", "", server)).strip("_")
    return Path(base) / "timeseal" / "log-audit" / f"{slug or 'server'}.json"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, data)


def _load_state(path: Path) -> AuditState | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _usage_error(f"cannot read the state file {path}: {exc}") from None
    try:
        return parse_state(text)
    except TimeSealError as exc:
        raise _usage_error(
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
    server: ServerOption = cli_settings.DEFAULT_SERVER,
    state: Annotated[
        Path | None,
        typer.Option(
            help="State file: the last checkpoint accepted and the pinned log key. Default: "
            "$XDG_STATE_HOME/timeseal/log-audit/<server>.json."
        ),
    ] = None,
    vkey: Annotated[
        str | None,
        typer.Option(
            "--vkey",
            help="The log's verifier key (name+hex+base64) or a file holding it. Default: the "
            "key pinned in the state file; on a first run, the server's /log/vkey (trust on "
            "first use).",
        ),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(help="A witness's cosignature/v1 verifier key (or file); repeatable."),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option(min=1, help="Valid witness cosignatures required (default: all)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Audit the log: verify the checkpoint, rebuild the whole tree from the tiles and entries,
    and check it only grew since the last run. Exit 0 consistent, 1 not, 2 usage error."""
    state_path = state or default_state_path(server)
    previous = _load_state(state_path)
    given = load_verifier_key(vkey, "--vkey") if vkey is not None else None
    cosigners = [load_verifier_key(w, "--witness") for w in witness or []]
    if given is not None and given.signature_type is not SignatureType.ED25519:
        raise _usage_error("--vkey: the log key must be an Ed25519 note key (type 0x01)")
    for key in cosigners:
        if key.signature_type is not SignatureType.COSIGNATURE_V1:
            raise _usage_error(f"--witness {key.label} is not a cosignature/v1 key (type 0x04)")
    if len({k.label for k in cosigners}) != len(cosigners):
        raise _usage_error("the same --witness is given twice")
    if quorum is not None and quorum > len(cosigners):
        raise _usage_error(f"--quorum {quorum} needs at least {quorum} --witness keys")
    if previous is not None and given is not None and format_verifier_key(given) != previous.vkey:
        raise _usage_error(
            f"--vkey {given.label} is not the key pinned in {state_path} "
            f"({previous.verifier_key.label}); use another --state to audit another log"
        )

    tofu = False
    with LogClient(server) as client:
        try:
            if previous is not None:
                key, source = previous.verifier_key, "固定于状态文件 pinned in the state file"
            elif given is not None:
                key, source = given, "--vkey"
            else:
                served = client.fetch_verifier_key()
                if served is None:
                    raise LogClientError(f"{server}/log/vkey: not found: the server has no log")
                key, source, tofu = served, "⚠ 首次使用即信任 trust on first use", True
                _tofu_warning(key)
            audit = client.audit(key, previous=previous, cosigners=cosigners, quorum=quorum)
        except LogClientError as exc:
            if as_json:
                body = {"consistent": False, "server": server, "error": str(exc), "checks": []}
                typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
            else:
                typer.echo(f"✗ 无法审计日志 cannot audit the log: {exc}")
                typer.echo("结论 Result: 未能验证 NOT VERIFIED")
            raise typer.Exit(1) from None
    if audit.state is not None:
        _write_atomically(state_path, format_state(audit.state).encode("utf-8"))
    if as_json:
        body = _audit_json(server, state_path, key, tofu, audit)
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        _print_audit(server, state_path, key, source, audit)
    raise typer.Exit(0 if audit.result.ok else 1)


def _tree_json(origin: str, size: int, root_hash: bytes) -> dict[str, Any]:
    return {"origin": origin, "size": size, "root_hash": root_hash.hex()}


def _audit_json(
    server: str, state_path: Path, key: VerifierKey, tofu: bool, audit: AuditReport
) -> dict[str, Any]:
    cp = audit.checkpoint.checkpoint if audit.checkpoint is not None else None
    prev = audit.previous
    return {
        "consistent": audit.result.ok,
        "server": server,
        "log_key": format_verifier_key(key),
        "trust_on_first_use": tofu,
        "state_file": str(state_path),
        "state_updated": audit.state is not None,
        "previous": None if prev is None else _tree_json(prev.origin, prev.size, prev.root_hash),
        "checkpoint": None if cp is None else _tree_json(cp.origin, cp.size, cp.root_hash),
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
    ok = audit.result.ok
    typer.echo("结论 Result: 一致 CONSISTENT" if ok else "结论 Result: 不一致 INCONSISTENT")


# --- receipts ---------------------------------------------------------------------------------


def receipt_path(path: Path) -> Path:
    """Where the receipt of ``path`` (the evidence file, not its .tsr) is kept."""
    return path.with_name(path.name + RECEIPT_SUFFIX)


def write_receipts(
    server: str,
    items: Sequence[tuple[Path, TimeStampResponse]],
    *,
    log_key: VerifierKey | None,
    wait: float,
    required: bool,
) -> tuple[int, int]:
    """Fetch, verify and write ``FILE.tlog-proof`` for each ``(FILE, response)``, waiting up
    to ``wait`` seconds in all for the log to include them. Returns (failed, not yet in the
    log). A server without a log counts as one failure only when ``required``."""
    failed = missing = 0
    with LogClient(server) as client:
        try:
            served = client.fetch_verifier_key()
        except LogClientError as exc:
            typer.echo(f"✗ 无法获取日志公钥 cannot fetch the log key: {exc}", err=True)
            return 1, 0
        if served is None:
            mark = "✗" if required else "–"
            typer.echo(
                f"{mark} 服务器没有日志，未写回执 the server has no log: no receipt", err=True
            )
            return int(required), 0
        key = log_key or served
        deadline = time.monotonic() + wait
        for path, response in items:
            try:
                proof = client.receipt(response, key, wait=max(0.0, deadline - time.monotonic()))
            except ReceiptTimeout:
                missing += 1
                typer.echo(
                    f"⚠ {path}: 日志在 {wait:g} 秒内尚未收录该令牌，未写回执；令牌本身有效，"
                    f"稍后运行 timeseal log receipt {path} / not in the log within {wait:g} s, "
                    f"no receipt written; the token is valid without it: run "
                    f"`timeseal log receipt {path}` later",
                    err=True,
                )
                continue
            except ReceiptInvalid as exc:
                failed += 1
                typer.echo(f"✗ {path}: 日志回执无效 the log's receipt is invalid: {exc}", err=True)
                for line in report.result_lines(exc.result):
                    typer.echo(line, err=True)
                continue
            except LogClientError as exc:
                failed += 1
                typer.echo(f"✗ {path}: 无法获取回执 cannot fetch the receipt: {exc}", err=True)
                continue
            out = receipt_path(path)
            _write_atomically(out, format_tlog_proof(proof))
            size = proof.checkpoint.checkpoint.size
            typer.echo(f"✓ {path} -> {out}  日志 log leaf {proof.leaf_index} / size {size}")
    return failed, missing


def log_receipt(
    files: Annotated[list[Path], typer.Argument(help="Stamped files (FILE.tsr next to each).")],
    server: ServerOption = cli_settings.DEFAULT_SERVER,
    log_key: Annotated[
        str | None,
        typer.Option(
            "--log-key",
            help="The log's verifier key (or file) to check receipts with; default: the key "
            "the server serves at /log/vkey.",
        ),
    ] = None,
    wait: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for the log to include the tokens.")
    ] = DEFAULT_WAIT,
) -> None:
    """Fetch the log receipt (C2SP tlog-proof) of each FILE's token into FILE.tlog-proof."""
    key = load_verifier_key(log_key, "--log-key") if log_key is not None else None
    items = []
    for path in files:
        token = path.with_name(path.name + ".tsr")
        try:
            response = parse_response(token.read_bytes())
        except OSError as exc:
            raise _usage_error(f"cannot read {token}: {exc}") from None
        except TimeSealError as exc:
            raise _usage_error(f"{token} is not a TimeStampResp: {exc}") from None
        if response.token is None:
            raise _usage_error(f"{token} carries no token (the TSA refused)")
        items.append((path, response))
    failed, missing = write_receipts(server, items, log_key=key, wait=wait, required=True)
    raise typer.Exit(1 if failed or missing else 0)


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    """What ``timeseal verify`` found about a file's receipt (FILE.tlog-proof)."""

    path: Path
    checked: bool
    reason: str = ""  # why it was not checked, or why it is invalid (malformed)
    malformed: bool = False
    proof: TlogProof | None = None
    log_key: VerifierKey | None = None
    checks: tuple[CheckResult, ...] = ()

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"path": str(self.path), "checked": self.checked}
        if self.malformed:
            body.update(error="malformed_receipt", detail=self.reason)
        elif not self.checked:
            body["reason"] = self.reason
        if self.log_key is not None:
            body["log_key"] = format_verifier_key(self.log_key)
        if self.proof is not None:
            cp = self.proof.checkpoint.checkpoint
            body["leaf_index"] = self.proof.leaf_index
            body["checkpoint"] = _tree_json(cp.origin, cp.size, cp.root_hash)
        return body

    def lines(self) -> list[str]:
        lines = [f"回执 Receipt: {self.path}"]
        if self.proof is not None:
            cp = self.proof.checkpoint.checkpoint
            lines.append(
                f"日志 Log: {cp.origin}, 条目 leaf {self.proof.leaf_index} / 大小 size {cp.size}"
            )
        if self.log_key is not None and self.checked:
            lines.append(f"日志公钥 Log key: {format_verifier_key(self.log_key)}")
        if self.malformed:
            lines.append(f"  ✗ 回执无效 the receipt is invalid: {self.reason}")
        elif not self.checked:
            lines.append(f"  – 回执未检查 receipt NOT CHECKED: {self.reason}")
        return lines


def check_receipt(
    path: Path, data: bytes, response: TimeStampResponse, log_key: VerifierKey | None
) -> ReceiptCheck:
    """Verify a receipt offline (C2SP tlog-proof): the leaf is rebuilt from the token, the
    checkpoint must be signed by ``log_key`` and the path must bind the leaf to its root."""
    try:
        proof = parse_tlog_proof(data)
    except TimeSealError as exc:
        return ReceiptCheck(path, True, str(exc), malformed=True)
    if log_key is None:
        reason = (
            "没有日志公钥 no log key: pass --log-key VKEY_OR_FILE (the log's /log/vkey, checked "
            "through another channel)"
        )
        return ReceiptCheck(path, False, reason, proof=proof)
    if response.token is None:
        reason = "没有令牌，无法重建日志条目 no token to rebuild the log entry from"
        return ReceiptCheck(path, False, reason, proof=proof, log_key=log_key)
    leaf, problem = _receipt_leaf(proof.extra, response)
    if problem:
        return ReceiptCheck(path, True, problem, malformed=True)
    result = verify_tlog_proof(proof, leaf=leaf, log_key=log_key)
    return ReceiptCheck(path, True, proof=proof, log_key=log_key, checks=result.checks)


def _receipt_leaf(extra: bytes, response: TimeStampResponse) -> tuple[bytes, str]:
    """The leaf a receipt proves, and what is wrong with it ("" if nothing).

    Without ``extra`` it is the token's own log entry, rebuilt from the token. A vault
    receipt's ``extra`` carries its ``timeseal/evidence/v1`` entry: that entry must name this
    token (by SHA-256) and the token's imprint must be the entry's content hash, so the proof
    ties the file, through its token, to the sealed record.
    """
    own = token_leaf(response)
    if not extra:
        return own, ""
    token = response.token
    assert token is not None
    try:
        entry = parse_entry(extra)
    except MalformedError as exc:
        return own, f"回执附带的日志条目无效 the receipt's log entry is malformed: {exc}"
    if isinstance(entry, EvidenceEntry):
        if entry.token_sha256 != hashlib.sha256(token.der).digest():
            return own, "回执中的证据记录指向另一个时间戳 the receipt's record names another token"
        if entry.content_sha256 != token.tst_info.message_imprint:
            return own, "回执中的证据记录的哈希与时间戳不符 the record's hash is not the token's"
        return extra, ""
    if extra != own:
        return own, "回执附带的日志条目不是这个时间戳的 the receipt's entry is another token's"
    return own, ""
