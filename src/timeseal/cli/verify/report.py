"""Bilingual (中文 first, then English) wording of verification results, and time display.

Every ``timeseal verify`` report ends through :func:`emit`: its first line is the verdict
and the first finding (the failing file and check, in consumer words from
:mod:`timeseal.core.failure_text`, the technical detail below), then every other finding,
then the verifier's own lines, then the verdict again; ``--json`` prints one document with
``verdict`` and ``findings``. The exit status is the verdict's (0, 0, 3, 1).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import typer

from timeseal.cli.marks import echo
from timeseal.core.failure_text import VERDICT_TEXT, failure_text
from timeseal.core.package import PackageReport
from timeseal.core.tsp.response import TSTInfo
from timeseal.core.verdict import Assessment, Finding, Reason, Severity, Verdict, assess
from timeseal.core.verification import CHECK_TITLES, Check, Status, VerificationResult

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")

_MARK = {Status.PASS: "✓", Status.FAIL: "✗", Status.SKIPPED: "–"}
_STATUS_WORDS = {
    Status.PASS: ("通过", "pass"),
    Status.FAIL: ("失败", "FAIL"),
    Status.SKIPPED: ("跳过", "skipped"),
}


def format_time(t: dt.datetime) -> str:
    """Beijing time first, UTC beside it, to the millisecond."""
    bj = t.astimezone(BEIJING)
    utc = t.astimezone(dt.UTC)
    return (
        f"{bj:%Y-%m-%d %H:%M:%S}.{bj.microsecond // 1000:03d} 北京时间 (UTC+8)"
        f" | {utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d} UTC"
    )


def tst_info_json(tst: TSTInfo) -> dict[str, Any]:
    return {
        "serial_number": format(tst.serial_number, "x"),
        "gen_time": tst.gen_time.isoformat(),
        "gen_time_beijing": tst.gen_time.astimezone(BEIJING).isoformat(),
        "policy": tst.policy,
        "hash_algorithm": tst.hash_algorithm.name.lower(),
        "message_imprint": tst.message_imprint.hex(),
        "nonce": tst.nonce,
        "accuracy_ms": None if tst.accuracy is None else tst.accuracy.total.total_seconds() * 1000,
    }


def result_json(result: VerificationResult) -> list[dict[str, str]]:
    return [
        {
            "check": c.check.value,
            "status": c.status.value,
            "detail": c.detail,
            "title_zh": CHECK_TITLES[c.check][0],
            "title_en": CHECK_TITLES[c.check][1],
        }
        for c in result.checks
    ]


def result_lines(result: VerificationResult) -> list[str]:
    lines = []
    for c in result.checks:
        zh, en = CHECK_TITLES[c.check]
        word_zh, word_en = _STATUS_WORDS[c.status]
        line = f"  {_MARK[c.status]} [{word_zh} {word_en}] {zh} / {en}"
        if c.status is not Status.PASS and c.detail:
            line += f"\n      {c.detail}"
        lines.append(line)
    return lines


_SEVERITY_MARK = {Severity.FAILURE: "✗", Severity.GAP: "…", Severity.WARNING: "!"}


def verdict_line(verdict: Verdict) -> str:
    zh, en = VERDICT_TEXT[verdict]
    return f"结论 Result: {zh} {en}"


def finding_text(finding: Finding) -> str:
    """``subject [code]: 中文 / English`` — what a consumer reads about one finding."""
    zh, en = failure_text(finding.code)
    where = f"{finding.subject} " if finding.subject else ""
    return f"{where}[{finding.code.value}]: {zh} / {en}"


def finding_json(finding: Finding) -> dict[str, str]:
    zh, en = failure_text(finding.code)
    return {
        "subject": finding.subject,
        "code": finding.code.value,
        "severity": finding.severity.value,
        "message_zh": zh,
        "message_en": en,
        "detail": finding.detail,
    }


def assessment_json(assessment: Assessment) -> dict[str, Any]:
    """``verdict`` and ``findings``: the fields every ``--json`` report carries."""
    return {
        "verdict": assessment.verdict.value,
        "findings": [finding_json(f) for f in assessment.findings],
    }


def assessment_lines(assessment: Assessment) -> list[str]:
    """The report's head: the verdict with the first finding on line one, its technical
    detail below it, then each other finding the same way."""
    head = verdict_line(assessment.verdict)
    if not assessment.findings:
        return [head]
    first, rest = assessment.findings[0], assessment.findings[1:]
    lines = [f"{head} — {finding_text(first)}"]
    if first.detail:
        lines.append(f"    技术细节 detail: {first.detail}")
    for finding in rest:
        lines.append(f"  {_SEVERITY_MARK[finding.severity]} {finding_text(finding)}")
        if finding.detail:
            lines.append(f"      技术细节 detail: {finding.detail}")
    return lines


def emit(
    assessment: Assessment,
    as_json: bool,
    body: dict[str, Any],
    heading: str,
    lines: Iterable[str],
) -> NoReturn:
    """Print one verifier's report — ``body`` with the verdict as JSON, or the verdict and
    findings, ``heading``, the ``lines`` and the verdict again — and exit with the verdict's
    status: the one way every ``timeseal verify`` input ends."""
    if as_json:
        doc = {**assessment_json(assessment), **body}
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        for line in (*assessment_lines(assessment), heading, *lines):
            echo(line)
        echo(verdict_line(assessment.verdict))
    raise typer.Exit(assessment.verdict.exit_code)


def unreadable(path: Path, detail: str, as_json: bool, subject: str | None = None) -> NoReturn:
    """The report for input that is no evidence at all (missing, empty, not a ZIP, cut off
    in download): invalid, exit 1, a JSON document with ``--json`` like any other."""
    finding = Finding(subject or str(path), Reason.UNREADABLE, detail)
    body = {"valid": False, "kind": "unreadable", "path": str(path)}
    emit(assess([finding]), as_json, body, f"输入 Input: {path}", [])


def package_json(report: PackageReport) -> dict[str, Any]:
    """The ``--json`` body for ``timeseal verify PACKAGE.zip``."""
    tst = dict(report.tst_infos)
    return {
        "valid": report.ok,
        "kind": "package",
        "notices": list(report.notices),
        "failed": [{"subject": s, "check": c.value} for s, c in report.failed],
        "sections": [
            {
                "subject": s.subject,
                "valid": s.result.ok,
                "checks": result_json(s.result),
                "tst_info": tst_info_json(tst[s.subject]) if s.subject in tst else None,
            }
            for s in report.sections
        ],
    }


def package_lines(report: PackageReport) -> list[str]:
    """The text report: a heading per section (package, file, manifest token, item); files
    that pass take one line each."""
    tst = dict(report.tst_infos)
    items = {i.number: i for i in report.manifest.items} if report.manifest else {}
    lines: list[str] = []
    for section in report.sections:
        result = section.result
        mark = _MARK[Status.PASS if result.ok else Status.FAIL]
        if result.ok and result.checks[0].check is Check.FILE_PRESENT:
            lines.append(f"{mark} {section.subject}: 大小与 SHA-256 一致 size and SHA-256 match")
            continue
        lines.append(f"{mark} {section.subject}")
        if section.subject in items:
            item = items[section.subject]
            lines.append(f"  证据 Item: {item.kind} {item.path} ({item.size} bytes)")
        if section.subject in tst:
            lines.append(f"  时间 Time: {format_time(tst[section.subject].gen_time)}")
        lines.extend(result_lines(result))
    lines.extend(f"! {notice}" for notice in report.notices)
    if report.failed:
        failed = "; ".join(f"{subject}: {check.value}" for subject, check in report.failed)
        lines.append(f"失败项 Failed: {failed}")
    return lines
