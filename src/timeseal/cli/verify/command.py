"""``timeseal verify PATH``: what PATH is decides how it is verified.

An evidence package (a ZIP with ``manifest.json``) is verified offline as a whole
(:mod:`.package`); a live-sealed recording (a directory, or a ZIP, with ``chain.jsonl``) by
:mod:`.recording`; a web capture directory by :mod:`.web_capture`; any other file against its
RFC 3161 token (``--token``, default ``PATH.tsr``) and, when there is one, the token's log
receipt (``PATH.tlog-proof``). Input that is none of these, or cannot be read (missing,
empty, not a ZIP, cut off in download), is reported as unreadable: invalid.

Verdicts and exit codes (:mod:`timeseal.core.verdict`): 0 valid and valid_with_warnings,
1 invalid, 3 incomplete, 2 usage error. ``--json`` always prints one JSON document: the
report with its ``verdict``, or, for a usage error, ``{"verdict": null, "error": "usage"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from timeseal.cli.data_dir import default_log_key
from timeseal.cli.exits import UsageExit, usage_error
from timeseal.cli.log_receipts import ReceiptCheck, check_receipt, load_verifier_key, receipt_path
from timeseal.cli.marks import echo
from timeseal.cli.server_client import ServerOption
from timeseal.cli.verify import report
from timeseal.cli.verify.package import is_package, verify_package_file
from timeseal.cli.verify.trust import check_token_over, trust_roots
from timeseal.core.errors import TimeSealError
from timeseal.core.tsp.response import TimeStampResponse, parse_response
from timeseal.core.verdict import Assessment, Finding, assess, failed_checks
from timeseal.core.verification import Check, VerificationResult

if TYPE_CHECKING:
    from cryptography import x509

    from timeseal.core.tlog import VerifierKey

PathArg = Annotated[
    Path, typer.Argument(help="The file, evidence package or recording directory to verify.")
]
TokenOption = Annotated[
    Path | None, typer.Option(help="RFC 3161 token (.tsr) for the file; default PATH.tsr.")
]
CaOption = Annotated[
    Path | None,
    typer.Option(
        help="Trust anchor (PEM root). Default: the local data directory's root, else the "
        "root of the server you use (see --server), kept on first use."
    ),
]
ReceiptOption = Annotated[
    Path | None,
    typer.Option(
        help="Log receipt (C2SP tlog-proof) for the token; default PATH.tlog-proof if present."
    ),
]
LogKeyOption = Annotated[
    str | None,
    typer.Option(
        "--log-key",
        help="The log's verifier key (name+hex+base64) or a file holding it. Default: the "
        "local data directory's log/log.vkey.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable report.")]
WitnessKeyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--witness-key",
        metavar="VKEY",
        help="Evidence package: a witness's cosignature key (vkey or file) that must have "
        "cosigned each checkpoint; repeatable.",
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``verify`` to ``app``."""
    app.command("verify")(verify)


def verify(
    path: PathArg,
    token: TokenOption = None,
    ca: CaOption = None,
    receipt: ReceiptOption = None,
    log_key: LogKeyOption = None,
    as_json: JsonOption = False,
    witness_key: WitnessKeyOption = None,
    server: ServerOption = None,
) -> None:
    """Verify a file against its token (and the token's log receipt); an
    evidence package (a ZIP with manifest.json); a live-sealed recording (a
    directory, or a ZIP, with chain.jsonl); or a web capture directory.

    The report's first line: the verdict and the first problem (file, check,
    中文 / English), the technical detail below it. Verdicts and exit codes:

    \b
    0 valid                everything checked and passed
    0 valid_with_warnings  root or log key from the evidence itself,
                           or a forced environment check
    3 incomplete           cut off part-way, an output missing, or the
                           page answered an HTTP error (e.g. 404)
    1 invalid              a check failed, or unreadable input (missing,
                           empty, not a ZIP, a truncated download)
    2 usage error          wrong options (no verdict)

    --json always prints one JSON document with "verdict" (null: usage).
    """
    try:
        _verify(path, token, ca, receipt, log_key, as_json, witness_key or [], server)
    except UsageExit as exc:
        if as_json:
            body = {"verdict": None, "error": "usage", "message": exc.message}
            typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
        raise


def _verify(
    path: Path,
    token: Path | None,
    ca: Path | None,
    receipt: Path | None,
    log_key: str | None,
    as_json: bool,
    witness_key: list[str],
    server: str | None,
) -> None:
    """What ``path`` is decides how it is verified; always exits."""
    if not path.exists():
        report.unreadable(path, f"{path}: no such file or directory", as_json)
    if is_package(path):
        if token is not None or receipt is not None:
            raise usage_error(
                "--token、--receipt 只用于单个文件 "
                "--token and --receipt are for a file, not an evidence package"
            )
        verify_package_file(path, ca, log_key, witness_key, as_json, server)
    if path.is_dir():
        _verify_directory(path, token, _Anchor(ca, server), receipt, log_key, as_json)
    if path.is_file() and path.suffix.lower() == ".zip":  # a recording, as a ZIP (chain.zip)
        from timeseal.cli.verify.recording import is_recording_zip, verify_recording_zip

        if is_recording_zip(path):
            verify_recording_zip(path, trust_roots(ca, server), as_json)  # always exits
    _verify_file(path, token, _Anchor(ca, server), receipt, log_key, as_json)


@dataclass(frozen=True, slots=True)
class _Anchor:
    """Where the trust anchor comes from: ``--ca``, else :func:`trust_roots`'s defaults."""

    ca: Path | None
    server: str | None

    def roots(self) -> list[x509.Certificate]:
        return trust_roots(self.ca, self.server)


def _verify_directory(
    path: Path,
    token: Path | None,
    anchor: _Anchor,
    receipt: Path | None,
    log_key: str | None,
    as_json: bool,
) -> None:
    """A live-sealed recording (chain.jsonl inside) or a web capture directory. Always exits."""
    if (path / "chain.jsonl").is_file():
        from timeseal.cli.verify.recording import verify_recording

        verify_recording(path, anchor.roots(), as_json)  # always exits
    from timeseal.cli.verify.web_capture import is_web_capture, verify_web_capture

    if not is_web_capture(path):
        detail = (
            f"{path} 不是网页取证、录像或证据包 is no web capture, recording or evidence package"
        )
        report.unreadable(path, detail, as_json)
    if token is not None or receipt is not None:
        raise usage_error(
            "--token、--receipt 只用于单个文件 "
            "--token and --receipt are for a file, not a capture directory"
        )
    given = load_verifier_key(log_key, "--log-key") if log_key is not None else None
    verify_web_capture(path, anchor.roots(), given, as_json)  # always exits


@dataclass(frozen=True, slots=True)
class _Receipt:
    """The receipt to check beside the token: its file, its bytes, and the log key."""

    path: Path
    data: bytes
    log_key: VerifierKey | None


def _verify_file(
    path: Path,
    token: Path | None,
    anchor: _Anchor,
    receipt: Path | None,
    log_key: str | None,
    as_json: bool,
) -> None:
    """A file against its token (and the token's receipt). Always exits."""
    if token is None:
        sibling = path.with_name(path.name + ".tsr")
        if not sibling.exists():
            detail = (
                f"{path} 不是证据包、录像或网页取证，也没有可对照的令牌 "
                f"is no evidence package, recording or web capture, and has no token "
                f"to check it against ({sibling.name} does not exist; use --token)"
            )
            report.unreadable(path, detail, as_json)
        token = sibling
    roots = anchor.roots()
    if not path.is_file():
        report.unreadable(path, f"{path} 不是可读文件 is not a readable file", as_json)
    try:
        token_der = token.read_bytes()
    except OSError as exc:
        _print_malformed(path, token, f"无法读取 cannot read {token}: {exc}", as_json)
    found = _receipt(path, receipt, log_key)
    try:
        response = parse_response(token_der)
    except TimeSealError as exc:
        _print_malformed(path, token, str(exc), as_json)
    result = check_token_over(response, path, roots)
    log = None
    failures = failed_checks(str(path), result)
    if found is not None:
        log = check_receipt(found.path, found.data, response, found.log_key)
        result = VerificationResult(result.checks + log.checks)
        failures += failed_checks(str(found.path), VerificationResult(log.checks))
        if log.malformed:
            failures.append(Finding(str(found.path), Check.LOG_PROOF_PARSES, log.reason))
    assessment = assess(failures, checked=bool(result.checks))
    valid = result.ok and not (log is not None and log.malformed)
    if as_json:
        _print_file_json(path, token, response, result, log, valid, assessment)
    else:
        _print_file_lines(path, token, response, result, log, assessment)
    raise typer.Exit(assessment.verdict.exit_code)


def _receipt(path: Path, receipt: Path | None, log_key: str | None) -> _Receipt | None:
    """``--receipt``, else ``PATH.tlog-proof`` when present; with the key to check it by:
    ``--log-key``, else the local data directory's (None: the receipt is reported
    unchecked; a usage error when ``--receipt`` was given)."""
    receipt_file = receipt
    if receipt_file is None and receipt_path(path).exists():
        receipt_file = receipt_path(path)
    if receipt_file is None:
        return None
    from timeseal.core.tlog import SignatureType

    try:
        data = receipt_file.read_bytes()
    except OSError as exc:
        raise usage_error(f"无法读取 cannot read {receipt_file}: {exc}") from None
    default_key = default_log_key()
    key: VerifierKey | None = None
    if log_key is not None:
        key = load_verifier_key(log_key, "--log-key")
    elif default_key is not None:
        key = load_verifier_key(str(default_key), str(default_key))
    elif receipt is not None:
        raise usage_error("--receipt 需要日志公钥 needs the log's key: pass --log-key VKEY_OR_FILE")
    if key is not None and key.signature_type is not SignatureType.ED25519:
        raise usage_error(f"{key.label} 不是日志公钥 is not a log key (Ed25519, type 0x01)")
    return _Receipt(receipt_file, data, key)


def _print_file_json(
    path: Path,
    token: Path,
    response: TimeStampResponse,
    result: VerificationResult,
    log: ReceiptCheck | None,
    valid: bool,
    assessment: Assessment,
) -> None:
    body = {
        **report.assessment_json(assessment),
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


def _print_file_lines(
    path: Path,
    token: Path,
    response: TimeStampResponse,
    result: VerificationResult,
    log: ReceiptCheck | None,
    assessment: Assessment,
) -> None:
    for line in report.assessment_lines(assessment):
        typer.echo(line)
    typer.echo(f"文件 File: {path}")
    typer.echo(f"令牌 Token: {token}")
    if response.token is not None:
        tst = response.token.tst_info
        typer.echo(f"时间 Time: {report.format_time(tst.gen_time)}")
        typer.echo(f"序列号 Serial: {tst.serial_number:x}")
        typer.echo(f"策略 Policy: {tst.policy}")
        typer.echo(f"哈希 {tst.hash_algorithm.name}: {tst.message_imprint.hex()}")
    for line in log.lines() if log is not None else []:
        echo(line)
    for line in report.result_lines(result):
        echo(line)
    echo(report.verdict_line(assessment.verdict))


def _print_malformed(path: Path, token: Path, reason: str, as_json: bool) -> NoReturn:
    """The token is missing or does not parse: invalid, naming the token."""
    finding = Finding(str(token), Check.TOKEN_PARSES, reason)
    body = {
        "valid": False,
        "file": str(path),
        "token": str(token),
        "error": "malformed_token",
        "detail": reason,
        "checks": [],
    }
    lines = [f"✗ 令牌无法解析 the token does not parse: {reason}"]
    report.emit(assess([finding]), as_json, body, f"文件 File: {path}", lines)
