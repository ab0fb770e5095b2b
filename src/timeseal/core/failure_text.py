"""What each failure code means to a consumer, in Chinese and English: the one table.

:data:`FAILURE_TEXT` holds, for every code a verifier can report against the evidence (each
:class:`~timeseal.core.verification.Check` when it fails, each
:class:`~timeseal.core.verdict.Reason`), a sentence a shopper or a judge understands — what
is wrong and what it means — as ``(中文, English)``. The technical detail (hashes, names)
stays in the finding and is shown below it. ``timeseal verify`` and the ``/verify`` page both
read this table; ``tests/unit/core/test_failure_text.py`` checks that every code has both.
:data:`VERDICT_TEXT` names the four verdicts the same way.
"""

from __future__ import annotations

from timeseal.core.verdict import Reason, Verdict
from timeseal.core.verification import Check

VERDICT_TEXT: dict[Verdict, tuple[str, str]] = {
    Verdict.VALID: ("有效", "VALID"),
    Verdict.VALID_WITH_WARNINGS: ("有效，但有警告", "VALID WITH WARNINGS"),
    Verdict.INCOMPLETE: ("不完整", "INCOMPLETE"),
    Verdict.INVALID: ("无效", "INVALID"),
}

_TOKEN_FORGED = (
    "时间戳不是由可信的时间戳机构签发的，或已被改动",
    "The timestamp was not issued by a trusted timestamp authority, or was altered",
)
_LOG_FORGED = (
    "公开日志的证明无效：无法证明此证据已登记在公开日志中",
    "The public log's proof is not valid: it does not show this evidence is in the public log",
)

FAILURE_TEXT: dict[Check | Reason, tuple[str, str]] = {
    # RFC 3161 tokens
    Check.PKI_STATUS_GRANTED: (
        "时间戳机构拒绝了盖时间戳的请求，这不是一个时间戳",
        "The timestamp authority refused the request: this is not a timestamp",
    ),
    Check.CONTENT_TYPE: _TOKEN_FORGED,
    Check.SIGNER_CERTIFICATE: (
        "时间戳缺少签发它的证书，无法确认是谁签发的",
        "The timestamp lacks the certificate of whoever issued it",
    ),
    Check.MESSAGE_DIGEST: _TOKEN_FORGED,
    Check.SIGNATURE: (
        "时间戳的数字签名无效：时间戳被改动过或是伪造的",
        "The timestamp's digital signature is not valid: it was altered or forged",
    ),
    Check.ESS_CERT_ID: _TOKEN_FORGED,
    Check.CHAIN_TRUSTED: (
        "时间戳的签发者不受信任：它不是由指定的时间戳机构（根证书）签发的",
        "The timestamp was not issued under the trusted root certificate",
    ),
    Check.TSA_EKU_CRITICAL: (
        "签发时间戳的证书不是专用于时间戳的证书",
        "The certificate that signed the timestamp is not one for timestamps only",
    ),
    Check.IMPRINT_MATCHES: (
        "文件内容与时间戳不符：该文件在盖时间戳后被修改过",
        "The file was changed after it was timestamped",
    ),
    Check.NONCE_MATCHES: (
        "时间戳不是对这次请求的回答（随机数不符）",
        "The timestamp does not answer this request (nonce differs)",
    ),
    Check.POLICY_MATCHES: (
        "时间戳的策略与要求的不符",
        "The timestamp was issued under another policy than required",
    ),
    # Merkle log
    Check.CHECKPOINT_ORIGIN: (
        "日志证明来自另一个日志，而不是本平台的公开日志",
        "The log proof is from another log than this platform's public log",
    ),
    Check.CHECKPOINT_SIGNATURE: _LOG_FORGED,
    Check.COSIGNATURE: (
        "公开日志的状态未得到足够见证方的联署确认",
        "Not enough independent witnesses confirmed the public log's state",
    ),
    Check.INCLUSION_PROOF: _LOG_FORGED,
    Check.CONSISTENCY_PROOF: (
        "公开日志改写了历史记录：日志不可信",
        "The public log rewrote its history: it cannot be trusted",
    ),
    Check.LOG_TILES: (
        "公开日志的数据不完整或与其签名不符",
        "The public log's data is incomplete or does not match its signature",
    ),
    Check.LOG_ENTRIES: (
        "公开日志的条目不完整或与其签名不符",
        "The public log's entries are incomplete or do not match its signature",
    ),
    # Evidence packages and capture directories
    Check.PACKAGE_ZIP: (
        "证据包文件已损坏或不是证据包（ZIP 无法读取、不完整或结构不安全）",
        "The evidence package is damaged or not a package (an unreadable, incomplete or "
        "unsafe ZIP)",
    ),
    Check.MANIFEST_CANONICAL: (
        "证据清单在封存后被手工改动过，或已损坏",
        "The evidence list (manifest) was edited after sealing, or is damaged",
    ),
    Check.MANIFEST_SCHEMA: (
        "证据清单的内容不符合格式，无法确认包里应有哪些文件",
        "The evidence list (manifest) is malformed: what the package should hold is unknown",
    ),
    Check.TRUST_ANCHOR: (
        "没有可用的根证书，无法判断时间戳是否可信",
        "No root certificate to trust, so the timestamps cannot be checked",
    ),
    Check.LOG_KEY: (
        "没有可用的日志公钥，无法核对公开日志",
        "No public-log key, so the public log cannot be checked",
    ),
    Check.FILE_LISTED: (
        "包中多出一个清单未列出的文件：封存后被加入",
        "A file was added that the sealed list does not name",
    ),
    Check.FILE_PRESENT: (
        "清单列出的文件不见了：封存后被删除或未一并提供",
        "A file on the sealed list is missing",
    ),
    Check.FILE_SIZE: (
        "文件大小与封存时不同：该文件在封存后被修改过",
        "The file's size differs from when it was sealed: it was changed",
    ),
    Check.FILE_SHA256: (
        "文件内容与封存时不同：该文件在封存后被修改过",
        "The file's content differs from when it was sealed: it was changed",
    ),
    Check.TOKEN_PARSES: (
        "时间戳文件缺失或已损坏",
        "The timestamp file is missing or damaged",
    ),
    Check.CAPTURE_WINDOW: (
        "时间戳早于取证开始的时间：时间记录自相矛盾",
        "The timestamp is earlier than the capture began: the times contradict each other",
    ),
    Check.LOG_PROOF_PARSES: (
        "公开日志证明文件缺失或已损坏",
        "The public-log proof file is missing or damaged",
    ),
    Check.LOG_ENTRY_MATCHES: (
        "公开日志中登记的是另一份证据，不是这一份",
        "The public log's entry is for other evidence, not this one",
    ),
    Check.CERTIFICATE_SIGNATURE: (
        "认证证书（PDF）的签名无效：证书被改动过或不是本平台签发的",
        "The certificate PDF's signature is not valid: it was altered or not issued here",
    ),
    Check.MANIFEST_SIGNATURE: (
        "证据清单没有签发平台的有效签名：清单内容（标题、文件、保管记录等）在签发后被改动过，"
        "或证据包不是该平台签发的",
        "The evidence list is not validly signed by the issuing platform: what it says (title, "
        "files, custody) was changed after issue, or the package was not issued there",
    ),
    # Segment chains of live-sealed recordings
    Check.SEGMENT_CHAIN_FORMAT: (
        "录像的片段链文件已损坏或被改动",
        "The recording's segment chain file is damaged or was edited",
    ),
    Check.SEGMENT_LISTED: (
        "录像中多出一个链上没有的片段：事后被加入",
        "A recording segment was added that the chain does not name",
    ),
    Check.SEGMENT_PRESENT: (
        "录像缺少一个链上记录的片段",
        "A recording segment named in the chain is missing",
    ),
    Check.SEGMENT_SIZE: (
        "录像片段大小与录制时不同：片段被修改过",
        "A recording segment's size differs from when it was recorded: it was changed",
    ),
    Check.SEGMENT_SHA256: (
        "录像片段内容与录制时不同：片段被修改过",
        "A recording segment's content differs from when it was recorded: it was changed",
    ),
    Check.SEGMENT_LINK: (
        "录像片段的顺序或内容被改动：链条断开",
        "The recording's segments were reordered or changed: the chain is broken",
    ),
    Check.SEGMENT_HEAD: (
        "时间戳不属于这段录像",
        "A timestamp does not belong to this recording",
    ),
    Check.SEGMENT_SEALED: (
        "录像片段没有被时间戳固定",
        "A recording segment is not covered by any timestamp",
    ),
    Check.SEGMENT_CHAIN_END: (
        "录像没有任何片段被时间戳固定",
        "No part of the recording is covered by a timestamp",
    ),
    # Reasons that are not a failed check
    Reason.UNREADABLE: (
        "无法读取：这不是证据包、录像或带时间戳的文件，或文件已损坏、不完整（下载中断？）",
        "Cannot be read: not an evidence package, recording or timestamped file, or it is "
        "damaged or incomplete (an interrupted download?)",
    ),
    Reason.NOTHING_CHECKED: (
        "没有进行任何检查，不能认定有效",
        "Nothing was checked, so nothing can be called valid",
    ),
    Reason.CUT_OFF: (
        "录像中途中断：只有中断前已固定的部分可以作为证据",
        "The recording was cut off part-way: only the part sealed before that is evidence",
    ),
    Reason.CAPTURE_STOPPED: (
        "取证中途出错停止：取到的内容可能不完整",
        "The capture stopped with an error: what it holds may be incomplete",
    ),
    Reason.OUTPUT_MISSING: (
        "取证记录中列出的文件缺失（例如网页存档）：证据不完整",
        "A file the capture says it made is missing (e.g. the web archive): the evidence is "
        "incomplete",
    ),
    Reason.TARGET_ERROR: (
        "取证的网页返回了错误（例如 404 页面不存在）：取到的可能不是要取证的内容",
        "The captured page answered with an error (e.g. 404 not found): it may not show what "
        "was meant to be captured",
    ),
    Reason.SELF_SUPPLIED_ROOT: (
        "根证书取自证据本身：请把它的指纹与平台公布的核对，或用 --ca 指定根证书",
        "The root certificate came from the evidence itself: compare its fingerprint with the "
        "published one, or pass --ca",
    ),
    Reason.SELF_SUPPLIED_LOG_KEY: (
        "日志公钥取自证据本身：请与日志公布的公钥核对，或用 --log-key 指定",
        "The log key came from the evidence itself: compare it with the published one, or "
        "pass --log-key",
    ),
    Reason.LOCAL_CLOCK_TSA: (
        "时间戳机构的时间仅由其本机时钟担保，未与外部时间源同步",
        "The timestamp authority's time is vouched for by its own local clock only",
    ),
    Reason.FORCED_ENVIRONMENT: (
        "取证前的环境检查未通过，取证被强制继续",
        "The pre-capture environment check failed and the capture was forced to go on",
    ),
    Reason.TIMES_DISAGREE: (
        "证据清单的时间戳与其封存时间相差过大：请核实清单是否在封存后另行加盖时间戳",
        "The evidence list's timestamp is far from its sealing time: check whether it was "
        "timestamped again after sealing",
    ),
}


def failure_text(code: Check | Reason) -> tuple[str, str]:
    """``(中文, English)`` for ``code``; a code missing from the table (a test forbids it)
    still reads as a failure of the check it names."""
    found = FAILURE_TEXT.get(code)
    if found is not None:
        return found
    return (f"检查未通过：{code.value}", f"A check failed: {code.value}")
