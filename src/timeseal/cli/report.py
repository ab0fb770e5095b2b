"""Bilingual (中文 first, then English) wording of verification results, and time display."""

from __future__ import annotations

import datetime as dt
from typing import Any

from timeseal.core.package import PackageReport
from timeseal.core.tsp.response import TSTInfo
from timeseal.core.verification import Check, Status, VerificationResult

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")

#: What each check establishes when it passes: (中文, English).
CHECK_TITLES: dict[Check, tuple[str, str]] = {
    Check.PKI_STATUS_GRANTED: ("时间戳机构已签发（状态 granted）", "the TSA granted the token"),
    Check.CONTENT_TYPE: ("令牌内容类型为 TSTInfo", "the token carries a TSTInfo"),
    Check.SIGNER_CERTIFICATE: ("找到签名证书", "the signing certificate is present"),
    Check.MESSAGE_DIGEST: (
        "签名属性中的摘要与时间戳内容一致",
        "the signed digest matches the TSTInfo",
    ),
    Check.SIGNATURE: ("数字签名有效", "the signature is valid"),
    Check.ESS_CERT_ID: ("签名证书绑定（ESSCertIDv2）一致", "the ESS certificate binding matches"),
    Check.CHAIN_TRUSTED: (
        "证书链在签发时刻可信，追溯到指定根证书",
        "the certificate chain is trusted at genTime",
    ),
    Check.TSA_EKU_CRITICAL: (
        "证书仅用于时间戳（EKU timeStamping，关键扩展）",
        "the certificate is for time-stamping only (critical EKU)",
    ),
    Check.IMPRINT_MATCHES: ("文件哈希与时间戳记录一致", "the file's hash matches the token"),
    Check.NONCE_MATCHES: ("随机数（nonce）一致", "the nonce matches"),
    Check.POLICY_MATCHES: ("时间戳策略一致", "the policy matches"),
    # Merkle log
    Check.CHECKPOINT_ORIGIN: (
        "日志检查点来自预期的日志（origin 一致）",
        "the checkpoint is from the expected log (origin)",
    ),
    Check.CHECKPOINT_SIGNATURE: ("日志检查点签名有效", "the log's checkpoint signature is valid"),
    Check.COSIGNATURE: (
        "见证方联署签名有效且数量足够",
        "enough witnesses validly cosigned the checkpoint",
    ),
    Check.INCLUSION_PROOF: (
        "记录已收录于公开日志（包含证明有效）",
        "the record is in the public log (inclusion proof)",
    ),
    Check.CONSISTENCY_PROOF: (
        "日志只追加、未改写历史（一致性证明有效）",
        "the log only appended to its history (consistency proof)",
    ),
    Check.LOG_TILES: (
        "日志哈希瓦片完整，与签名检查点一致",
        "the log's hash tiles are complete and rebuild the signed tree",
    ),
    Check.LOG_ENTRIES: (
        "日志全部条目可下载，重算的根哈希与签名检查点一致",
        "the log's entries are all served and rebuild the signed root hash",
    ),
    # Evidence packages
    Check.PACKAGE_ZIP: ("证据包是完好、安全的 ZIP 文件", "the package is a sound, safe ZIP"),
    Check.MANIFEST_CANONICAL: (
        "清单（manifest.json）为规范格式，未被改写",
        "manifest.json is in canonical form",
    ),
    Check.MANIFEST_SCHEMA: ("清单结构符合格式 v1", "manifest.json follows format v1"),
    Check.TRUST_ANCHOR: ("时间戳根证书（信任锚）", "the TSA trust anchor"),
    Check.LOG_KEY: ("日志公钥", "the log's public key"),
    Check.FILE_LISTED: ("文件列于清单中", "the file is listed in the manifest"),
    Check.FILE_PRESENT: ("清单所列文件存在", "the listed file is present"),
    Check.FILE_SIZE: ("文件大小与清单一致", "the file's size matches the manifest"),
    Check.FILE_SHA256: ("文件 SHA-256 与清单一致", "the file's SHA-256 matches the manifest"),
    Check.TOKEN_PARSES: ("时间戳令牌可解析", "the timestamp token parses"),
    Check.CAPTURE_WINDOW: (
        "时间戳时间不早于取证开始时间",
        "the timestamp is not earlier than the capture start",
    ),
    Check.LOG_PROOF_PARSES: ("日志证明可解析", "the log proof parses"),
    Check.LOG_ENTRY_MATCHES: (
        "日志条目对应本证据（编号、哈希、时间戳）",
        "the log entry names this item, its hash and its token",
    ),
    Check.CERTIFICATE_SIGNATURE: ("认证证书签名有效", "the certificate PDF's signature is valid"),
}

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
