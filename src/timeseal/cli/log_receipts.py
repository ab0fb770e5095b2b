"""Log receipts (C2SP tlog-proof, ``FILE.tlog-proof``): fetched for tokens, checked offline.

``timeseal log receipt FILE…`` and ``timeseal stamp`` write ``FILE.tlog-proof`` beside
``FILE.tsr`` (:func:`write_receipts`); ``timeseal verify`` checks one with the log's key
alone (:func:`check_receipt`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from timeseal.capture.clients.log import (
    LogClient,
    LogClientError,
    ReceiptFetcher,
    ReceiptInvalid,
    ReceiptTimeout,
    token_leaf,
)
from timeseal.cli.exits import usage_error
from timeseal.cli.server_client import ServerOption, resolve_server
from timeseal.cli.verify import report
from timeseal.core.errors import MalformedError, TimeSealError
from timeseal.core.files import write_durably
from timeseal.core.log_entry import EvidenceEntry, parse_entry
from timeseal.core.tlog import (
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


def load_verifier_key(value: str, what: str) -> VerifierKey:
    """A note verifier key (``name+hex+base64``) given inline, or a file holding one; a usage
    error (exit 2) if it is neither."""
    text = value.strip()
    try:
        path = Path(value).expanduser()
        if path.is_file():
            text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise usage_error(f"{what}: 无法读取 cannot read {value}: {exc}") from None
    try:
        return parse_verifier_key(text)
    except TimeSealError as exc:
        raise usage_error(
            f"{what}: 不是公钥或公钥文件 not a verifier key or a file holding one: {exc}"
        ) from None


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, data)


def tree_json(origin: str, size: int, root_hash: bytes) -> dict[str, Any]:
    return {"origin": origin, "size": size, "root_hash": root_hash.hex()}


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
        fetcher = ReceiptFetcher(client)
        deadline = time.monotonic() + wait
        for path, response in items:
            try:
                proof = fetcher.receipt(response, key, wait=max(0.0, deadline - time.monotonic()))
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
            write_atomically(out, format_tlog_proof(proof))
            size = proof.checkpoint.checkpoint.size
            typer.echo(f"✓ {path} -> {out}  日志 log leaf {proof.leaf_index} / size {size}")
    return failed, missing


def log_receipt(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Stamped files (FILE.tsr next to each).")
    ],
    server: ServerOption = None,
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
            raise usage_error(f"无法读取 cannot read {token}: {exc}") from None
        except TimeSealError as exc:
            raise usage_error(f"{token} 不是时间戳应答 is not a TimeStampResp: {exc}") from None
        if response.token is None:
            raise usage_error(
                f"{token} 没有令牌（时间戳机构拒绝了请求） carries no token (the TSA refused)"
            )
        items.append((path, response))
    base = resolve_server(server)
    failed, missing = write_receipts(base, items, log_key=key, wait=wait, required=True)
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
            body["checkpoint"] = tree_json(cp.origin, cp.size, cp.root_hash)
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
