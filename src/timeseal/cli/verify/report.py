"""Bilingual (中文 first, then English) wording of verification results, and time display."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, NoReturn

import typer

from timeseal.cli.marks import echo
from timeseal.core.package import PackageReport
from timeseal.core.tsp.response import TSTInfo
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


def verdict_line(ok: bool) -> str:
    return "结论 Result: 有效 VALID" if ok else "结论 Result: 无效 INVALID"


def emit(
    ok: bool, as_json: bool, body: dict[str, Any], heading: str, lines: Iterable[str]
) -> NoReturn:
    """Print one verifier's report — ``body`` as JSON, or ``heading``, the ``lines`` and the
    verdict — and exit 0 (valid) or 1 (invalid): the one way every ``timeseal verify``
    input ends."""
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        typer.echo(heading)
        for line in lines:
            echo(line)
        echo(verdict_line(ok))
    raise typer.Exit(0 if ok else 1)


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
