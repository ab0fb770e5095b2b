"""Bilingual (中文 first, then English) wording of verification results, and time display."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
