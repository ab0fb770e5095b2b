"""Verification results: every check by name, never a bare boolean.

A verifier runs its checks in a fixed order and records each as PASS, FAIL or SKIPPED (a check
that depends on one that failed). Callers look at ``result.failed`` rather than parsing text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from timeseal.core.errors import TimeSealError


class Check(enum.Enum):
    """Every check a TimeSeal verifier can run, in the order verifiers run them."""

    # RFC 3161 tokens (timeseal.core.tsp.verify), numbered as in TimestampVerifier.verify.
    PKI_STATUS_GRANTED = "pki_status_granted"  # RFC 3161 §2.4.2
    CONTENT_TYPE = "content_type"  # RFC 3161 §2.4.2, RFC 5652 §11.1
    SIGNER_CERTIFICATE = "signer_certificate"  # RFC 5652 §5.3 sid
    MESSAGE_DIGEST = "message_digest"  # RFC 5652 §11.2
    SIGNATURE = "signature"  # RFC 5652 §5.4
    ESS_CERT_ID = "ess_cert_id"  # RFC 5816 §2.2.1, RFC 5035
    CHAIN_TRUSTED = "chain_trusted"  # RFC 5280 §6 at gen_time
    TSA_EKU_CRITICAL = "tsa_eku_critical"  # RFC 3161 §2.3
    IMPRINT_MATCHES = "imprint_matches"  # RFC 3161 §2.4.2 messageImprint
    NONCE_MATCHES = "nonce_matches"  # RFC 3161 §2.4.2 nonce
    POLICY_MATCHES = "policy_matches"  # RFC 3161 §2.4.2 policy
    # Merkle log (timeseal.core.tlog), in the order of C2SP tlog-proof "Verifying a tlog proof".
    CHECKPOINT_ORIGIN = "checkpoint_origin"  # C2SP tlog-proof step 2, tlog-checkpoint origin
    CHECKPOINT_SIGNATURE = "checkpoint_signature"  # C2SP signed-note, tlog-checkpoint
    COSIGNATURE = "cosignature"  # C2SP tlog-cosignature (cosignature/v1), tlog-proof step 3
    INCLUSION_PROOF = "inclusion_proof"  # RFC 9162 §2.1.3.2, tlog-proof step 4
    CONSISTENCY_PROOF = "consistency_proof"  # RFC 9162 §2.1.4.2
    # Auditing a whole log (timeseal.capture.clients.log), after the checks above.
    LOG_TILES = "log_tiles"  # C2SP tlog-tiles: every tile rebuilt from the tiles below
    LOG_ENTRIES = "log_entries"  # C2SP tlog-tiles entry bundles rebuild the signed root
    # Evidence packages (timeseal.core.package.verify), in the order verify_package runs them;
    # each item's token and log proof then run the RFC 3161 and log checks above.
    PACKAGE_ZIP = "package_zip"  # ZIP readable; member names safe and unique; no encryption
    MANIFEST_CANONICAL = "manifest_canonical"  # docs/package-format.md "Canonical JSON"
    MANIFEST_SCHEMA = "manifest_schema"  # docs/package-format.md "manifest.json"
    TRUST_ANCHOR = "trust_anchor"  # the TSA root: given by the user, or taken from the package
    LOG_KEY = "log_key"  # the log's note key: given by the user, or certs/log.vkey
    FILE_LISTED = "file_listed"  # a file in the ZIP is listed in the manifest
    FILE_PRESENT = "file_present"  # a file the manifest lists is in the ZIP
    FILE_SIZE = "file_size"  # its size is the listed size
    FILE_SHA256 = "file_sha256"  # its SHA-256 is the listed SHA-256
    TOKEN_PARSES = "token_parses"  # proofs/<item>.tsr is a TimeStampResp (RFC 3161 §2.4.2)
    CAPTURE_WINDOW = "capture_window"  # genTime + accuracy is not before capture start
    LOG_PROOF_PARSES = "log_proof_parses"  # log/<item>.proof is a C2SP tlog-proof
    LOG_ENTRY_MATCHES = "log_entry_matches"  # the proof's entry names this item and token
    CERTIFICATE_SIGNATURE = "certificate_signature"  # the certificate PDF's signature (plug-in)
    MANIFEST_SIGNATURE = "manifest_signature"  # proofs/manifest.p7s: the platform's CAdES B-T
    # Segment chains of live-sealed recordings (timeseal.core.segment_verify), in the order
    # verify_segment_chain runs them (docs/segment-chain.md "Verifying"); each head token then
    # runs TOKEN_PARSES and the RFC 3161 checks above, and the end record the FILE_* checks.
    SEGMENT_CHAIN_FORMAT = "segment_chain_format"  # chain.jsonl parses (canonical, in order)
    SEGMENT_LISTED = "segment_listed"  # every segment file is chained or the unfinished tail
    SEGMENT_PRESENT = "segment_present"  # a chained segment's file is at hand
    SEGMENT_SIZE = "segment_size"  # its size is the chained size
    SEGMENT_SHA256 = "segment_sha256"  # its SHA-256 is the chained SHA-256
    SEGMENT_LINK = "segment_link"  # link[i] recomputes from link[i-1], i, size, SHA-256
    SEGMENT_HEAD = "segment_head"  # a token's messageImprint is a link of this chain
    SEGMENT_SEALED = "segment_sealed"  # a valid token covers a link at or after this one
    SEGMENT_CHAIN_END = "segment_chain_end"  # finished and sealed, or cut off after a seal


class Status(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check; ``detail`` says why, with both sides of a mismatch in hex."""

    check: Check
    status: Status
    detail: str = ""


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """All checks a verifier ran, in order."""

    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """True only if at least one check ran and every check passed (an empty result fails)."""
        return bool(self.checks) and all(c.status is Status.PASS for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        """The checks that failed, in order (skipped ones are not listed)."""
        return tuple(c.check for c in self.checks if c.status is Status.FAIL)

    def get(self, check: Check) -> CheckResult | None:
        for c in self.checks:
            if c.check is check:
                return c
        return None

    def raise_for_failure(self) -> None:
        """Raise ``VerificationFailed`` unless ``ok``, like httpx's ``raise_for_status()``."""
        if not self.ok:
            raise VerificationFailed(self)


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
    Check.MANIFEST_SIGNATURE: (
        "清单由签发本证据包的平台签名（文档签名证书，签名带时间戳）",
        "manifest.json is signed by the issuing platform (document-signing certificate, "
        "timestamped signature)",
    ),
    # Segment chains of live-sealed recordings
    Check.SEGMENT_CHAIN_FORMAT: (
        "片段链文件格式正确（规范 JSON，序号连续）",
        "the segment chain file is well formed (canonical, in order)",
    ),
    Check.SEGMENT_LISTED: (
        "每个片段文件都在链中（或为未完成的末尾片段）",
        "every segment file is in the chain (or the unfinished tail)",
    ),
    Check.SEGMENT_PRESENT: ("链中所列片段文件存在", "the chained segment's file is present"),
    Check.SEGMENT_SIZE: ("片段大小与链记录一致", "the segment's size matches the chain"),
    Check.SEGMENT_SHA256: ("片段 SHA-256 与链记录一致", "the segment's SHA-256 matches the chain"),
    Check.SEGMENT_LINK: (
        "链环节哈希可由上一环节重算",
        "the chain link recomputes from the previous link",
    ),
    Check.SEGMENT_HEAD: (
        "时间戳覆盖的是本链中的链头",
        "the token covers a head link of this chain",
    ),
    Check.SEGMENT_SEALED: (
        "片段已被之后（或同一）链头的时间戳固定",
        "the segment is sealed by a token over a later-or-equal head",
    ),
    Check.SEGMENT_CHAIN_END: (
        "录制正常结束，或中断前的片段已固定",
        "the recording finished, or was cut off after a sealed segment",
    ),
}


class VerificationFailed(TimeSealError):
    """Raised by ``VerificationResult.raise_for_failure()``; ``result`` says which checks failed."""

    def __init__(self, result: VerificationResult) -> None:
        self.result = result
        names = ", ".join(c.value for c in result.failed) or "no checks ran"
        super().__init__(f"verification failed: {names}")
