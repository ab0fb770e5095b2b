"""``VERIFY.md``: how to verify a package with bash, coreutils and OpenSSL alone (中文 first).

Every ``sh`` block is a self-contained bash script run in a subshell with ``set -euo
pipefail``, so that pasted into an interactive shell it stops at the first failed step (and
exits non-zero) without closing the reader's terminal. A test runs each block literally in an
extracted package with plain ``bash -c`` and expects success on a good one and failure, at
the failing step, on a tampered one. Each check that fails calls ``fail``, which prints why
and returns 1.

Every ``openssl`` verification runs with ``-attime``: a token at its own genTime, the
manifest's token and signature at ``sealed_at``; so the commands keep working after the TSA's
and the signer's certificates expire (RFC 3161 Appendix B), the chain being checked when it
was used.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

from cryptography import x509

from timeseal.core.log_entry import EVIDENCE_HEADER
from timeseal.core.package import layout
from timeseal.core.package.manifest import FileEntry, ManifestItem
from timeseal.core.pki import sha256_fingerprint
from timeseal.core.tlog.note import VerifierKey, format_verifier_key

_OPENSSL_TS = (
    "openssl ts -verify -in {token} -data {data} "
    f"-CAfile {layout.TSA_CHAIN} -untrusted {layout.TSA_CHAIN} -attime {{attime}}"
)
#: Opens and closes every ``sh`` block: a subshell, so ``set -e`` stops the block, not the
#: reader's shell.
_BEGIN = "(\nset -euo pipefail"
_END = ")"

#: Canonical JSON puts each ``files`` entry as {"path":…,"sha256":…,"size":N} (sorted keys,
#: no whitespace, paths without quotes or escapes), so grep and sed can read it.
_FROM_MANIFEST = (
    'grep -o \'{"path":"[^"]*","sha256":"[0-9a-f]\\{64\\}","size":[0-9]*}\' '
    "manifest.json \\\n"
    '  | sed \'s/^{"path":"\\([^"]*\\)","sha256":"\\([0-9a-f]*\\)".*/\\2  \\1/\' '
    "| sha256sum --strict -c"
)

_FAIL = 'fail() { echo "✗ 失败 FAILED: $*" >&2; return 1; }'

_LOG_FUNCTIONS = r"""hex() { base64 -d | od -An -v -tx1 | tr -d ' \n'; }
h01() { printf "\\x01$(printf %s "$1$2" | sed 's/../\\x&/g')" | sha256sum | cut -c1-64; }
# RFC 9162 §2.1.3.2: follow the inclusion path from the leaf hash up to a root hash.
tlog_root() {  # tlog_root PROOF LEAF_HASH
  local proof=$1 r=$2 fn sn p ph
  fn=$(grep -m1 '^index ' "$proof" | cut -d' ' -f2)
  sn=$(( $(sed -n '/^$/{n;n;p;q}' "$proof") - 1 ))
  for p in $(sed -n '/^index /,/^$/p' "$proof" | sed '1d;$d'); do
    ph=$(printf %s "$p" | hex)
    [ "$sn" -gt 0 ] || fail "$proof: inclusion path too long"
    if [ $((fn % 2)) -eq 1 ] || [ "$fn" -eq "$sn" ]; then
      r=$(h01 "$ph" "$r")
      while [ $((fn % 2)) -eq 0 ] && [ "$fn" -ne 0 ]; do fn=$((fn / 2)); sn=$((sn / 2)); done
    else
      r=$(h01 "$r" "$ph")
    fi
    fn=$((fn / 2)); sn=$((sn / 2))
  done
  [ "$sn" -eq 0 ] || fail "$proof: inclusion path too short"
  echo "$r"
}
work=$(mktemp -d)
# The log's Ed25519 public key, from certs/log.vkey (name+keyid+base64(0x01 || key)).
(printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'
 cut -d+ -f3- certs/log.vkey | base64 -d | tail -c 32) \
  | openssl pkey -pubin -inform DER -out "$work/log.pub.pem"
log_name=$(cut -d+ -f1 certs/log.vkey)"""


def _fingerprints(chain: Sequence[x509.Certificate]) -> list[tuple[str, str]]:
    return [
        (cert.subject.rfc4514_string(), sha256_fingerprint(cert))
        for cert in chain
        if cert.issuer == cert.subject
    ]


def _epoch(t: dt.datetime) -> int:
    """``-attime``'s value: whole seconds since 1970, rounded up so a token issued within the
    second counts."""
    return math.ceil(t.timestamp())


def _q(text: str) -> str:
    """Single-quoted for bash (evidence numbers may end in ``$``)."""
    return "'" + text.replace("'", "'\\''") + "'"


def render_verify_md(
    items: Sequence[ManifestItem],
    files: Sequence[FileEntry],
    *,
    tsa_chain: Sequence[x509.Certificate],
    log_key: VerifierKey,
    token_times: Mapping[str, dt.datetime],
    sealed_at: dt.datetime,
) -> bytes:
    """The VERIFY.md for a package holding ``items`` and listing ``files`` (VERIFY.md's own
    entry cannot be among them; manifest.json is checked by its token instead).
    ``token_times``: each item's token genTime, by evidence number."""
    lines = [
        *_introduction(),
        *_trust_anchor_section(tsa_chain, log_key),
        *_file_digests_section(files),
        *_timestamps_section(items, token_times, sealed_at),
        *_signature_section(sealed_at),
        *_log_section(items),
    ]
    return ("\n".join(lines)).encode("utf-8")


def _introduction() -> list[str]:
    return [
        "# 验证说明 / How to verify this evidence package",
        "",
        "本证据包无需任何 TimeSeal 软件即可验证：只需 bash、sha256sum（coreutils）和 OpenSSL。",
        "先解压本包，在解压出的目录中打开终端，依次把下面每个代码块粘贴到 bash 中运行。",
        "任何一步失败都会打印“✗ 失败 FAILED”或“FAILED”，该代码块随即停止并返回非零状态",
        "（每个代码块在子 shell 中运行，不会关闭您的终端）。需要 OpenSSL 3.0 或更新版本，",
        "以及 GNU coreutils（Linux 自带；macOS 上请先 `brew install coreutils openssl@3`，",
        "并使用其 sha256sum 与 openssl）。",
        "",
        "This package can be verified without any TimeSeal software: bash, sha256sum",
        "(coreutils) and OpenSSL are enough. Unzip it, open a terminal in the unzipped folder,",
        "and paste each code block below into bash. Any failing step prints “✗ 失败 FAILED” or",
        "“FAILED”, and the block stops there with a non-zero status (each block runs in a",
        "subshell, so your terminal stays open). Needs OpenSSL 3.0 or later and GNU coreutils",
        "(standard on Linux; on macOS, `brew install coreutils openssl@3` and use those).",
        "",
    ]


def _trust_anchor_section(tsa_chain: Sequence[x509.Certificate], log_key: VerifierKey) -> list[str]:
    """Step 0: the roots' fingerprints and the log key, to compare with published ones."""
    return [
        "## 0. 信任锚 / Trust anchor",
        "",
        f"`{layout.TSA_CHAIN}` 含时间戳机构证书及其根证书。下面的命令以包内根证书为信任锚；",
        "请把根证书的 SHA-256 指纹与时间戳机构公布的指纹核对，或把 `-CAfile` 换成您",
        "从官方渠道取得的根证书文件。",
        "",
        f"`{layout.TSA_CHAIN}` holds the TSA certificate and its root. The commands below trust",
        "the root inside the package: compare its SHA-256 fingerprint with the one the TSA",
        "publishes, or replace `-CAfile` with a root certificate obtained independently.",
        "",
        *(
            f"- {subject}: `SHA256 {fingerprint}`"
            for subject, fingerprint in _fingerprints(tsa_chain)
        ),
        f"- 日志公钥 Log key (`{layout.LOG_VKEY}`): `{format_verifier_key(log_key)}`",
        "",
    ]


def _file_digests_section(files: Sequence[FileEntry]) -> list[str]:
    """Step 1: sha256sum over the listed files, then over the list read from manifest.json."""
    return [
        "## 1. 文件完整性 / Every file's SHA-256",
        "",
        "`manifest.json` 列出包内每个文件的大小和 SHA-256（`manifest.json`、",
        "`proofs/manifest.tsr` 与 `proofs/manifest.p7s` 本身除外，",
        "由第 2、3 步的时间戳和签名保护）。",
        "`manifest.json` lists every file with its size and SHA-256, except itself,",
        "`proofs/manifest.tsr` and `proofs/manifest.p7s`, which steps 2 and 3 check with a",
        "timestamp and a signature.",
        "",
        "第二条命令直接从 `manifest.json` 读取清单（含 VERIFY.md 本身），不依赖本文件；",
        "`manifest.json` 是否为封存时的原件由第 2 步验证。",
        "The second command reads the list from `manifest.json` itself (VERIFY.md included), so",
        "it does not depend on this file; step 2 proves `manifest.json` is the sealed one.",
        "",
        "```sh",
        _BEGIN,
        "sha256sum --strict -c <<'EOF'",
        *(f"{f.sha256.hex()}  {f.path}" for f in files),
        "EOF",
        _FROM_MANIFEST,
        _END,
        "```",
        "",
    ]


def _timestamps_section(
    items: Sequence[ManifestItem], token_times: Mapping[str, dt.datetime], sealed_at: dt.datetime
) -> list[str]:
    """Step 2: ``openssl ts -verify`` for each item's token and the manifest's."""
    return [
        "## 2. 时间戳 / RFC 3161 timestamps",
        "",
        "每个证据文件的时间戳（`proofs/<编号>.tsr`）针对该文件的 SHA-256；",
        "`proofs/manifest.tsr` 针对 `manifest.json` 的 SHA-256。"
        "每条命令应输出 `Verification: OK`。",
        "Each item's token (`proofs/<number>.tsr`) covers that file's SHA-256;",
        "`proofs/manifest.tsr` covers the SHA-256 of `manifest.json`. Each command prints",
        "`Verification: OK`. To see the time: `openssl ts -reply -in proofs/FILE.tsr -text`.",
        "OpenSSL 提示 TSA 证书 “is not a CA cert” 属正常（链文件也含 TSA 证书本身）。",
        "OpenSSL's warning that the TSA certificate “is not a CA cert” is expected: the chain",
        "file holds the TSA certificate too.",
        "",
        "```sh",
        _BEGIN,
        *(
            _OPENSSL_TS.format(token=i.token, data=i.path, attime=_epoch(token_times[i.number]))
            for i in items
        ),
        _OPENSSL_TS.format(
            token=layout.MANIFEST_TOKEN, data=layout.MANIFEST, attime=_epoch(sealed_at)
        ),
        _END,
        "```",
        "",
    ]


def _signature_section(sealed_at: dt.datetime) -> list[str]:
    """Step 3: ``openssl cms -verify`` of the platform's signature over manifest.json, and the
    signer certificate's purpose (document signing, RFC 9336), which ``-purpose any`` leaves
    to us."""
    return [
        "## 3. 平台签名 / The platform's signature",
        "",
        f"`{layout.MANIFEST_SIGNATURE}` 是签发平台对 `manifest.json` 的 CMS（CAdES）分离签名，",
        "签名者为同一根证书下的文档签名证书（扩展密钥用途 1.3.6.1.5.5.7.3.36）。时间戳只证明",
        "“何时”，签名证明清单所述（标题、文件、保管记录）出自该平台。应输出",
        "`CMS Verification successful`。",
        f"`{layout.MANIFEST_SIGNATURE}` is the issuing platform's detached CMS (CAdES) signature",
        "over `manifest.json`, by a document-signing certificate (extended key usage",
        "1.3.6.1.5.5.7.3.36) under the same root. A timestamp proves only *when*; the signature",
        "proves that what the manifest says (titles, files, custody) is the platform's. The first",
        "command prints `CMS Verification successful`.",
        "",
        "```sh",
        _BEGIN,
        _FAIL,
        "work=$(mktemp -d)",
        f"openssl cms -verify -binary -inform DER -in {layout.MANIFEST_SIGNATURE} "
        f"-content {layout.MANIFEST} \\",
        f"  -CAfile {layout.TSA_CHAIN} -purpose any -attime {_epoch(sealed_at)} "
        '-signer "$work/signer.pem" -out /dev/null \\',
        f'  || fail "{layout.MANIFEST_SIGNATURE}: the signature does not verify"',
        'openssl x509 -in "$work/signer.pem" -noout -ext extendedKeyUsage '
        "| grep -Eq '1\\.3\\.6\\.1\\.5\\.5\\.7\\.3\\.36|Document Signing' \\",
        f'  || fail "{layout.MANIFEST_SIGNATURE}: the signer is not for signing documents"',
        'echo "✓ manifest.json: 平台签名有效 signed by the platform"',
        _END,
        "```",
        "",
    ]


def _log_section(items: Sequence[ManifestItem]) -> list[str]:
    """Step 3: each item's leaf rebuilt, hashed up its inclusion path to a signed checkpoint."""
    return [
        "## 4. 公开日志 / The public log",
        "",
        "`log/<编号>.proof` 是 C2SP tlog-proof：第一行 `c2sp.org/tlog-proof@v1`，可选的 `extra`",
        "行（未经认证的附加数据），`index <叶子序号>`，包含路径（每行一个 base64 哈希），一个",
        "空行，然后是日志签名的检查点（origin、树大小、base64 根哈希、空行、签名行）。",
        f"日志叶子是下面用 printf 重建的 `{EVIDENCE_HEADER}` 文本，其中 token-sha256 是",
        "时间戳令牌（.tsr 中去掉状态后的 DER）的 SHA-256。叶子哈希为 SHA-256(0x00 ‖ 叶子)，",
        "沿包含路径逐层计算 SHA-256(0x01 ‖ 左 ‖ 右)，结果必须等于检查点中的根哈希；",
        "检查点本身须有 `certs/log.vkey` 的 Ed25519 签名。",
        "",
        "`log/<number>.proof` is a C2SP tlog-proof: the line `c2sp.org/tlog-proof@v1`, an",
        "optional `extra` line (unauthenticated data), `index <leaf index>`, the inclusion path",
        "(one base64 hash a line), an empty line, then the log's signed checkpoint (origin, tree",
        "size, base64 root hash, an empty line, signature lines). The leaf is the",
        f"`{EVIDENCE_HEADER}` text rebuilt below with printf; its token-sha256 is the SHA-256 of",
        "the TimeStampToken (the .tsr without its status). The leaf hash is SHA-256(0x00 ‖ leaf);",
        "hashing up the path with SHA-256(0x01 ‖ left ‖ right) must give the checkpoint's root",
        "hash, and the checkpoint must carry an Ed25519 signature by `certs/log.vkey`.",
        "",
        "```sh",
        _BEGIN,
        _FAIL,
        _LOG_FUNCTIONS,
        *(_log_commands(item) for item in items),
        _END,
        "```",
        "",
    ]


def _log_commands(item: ManifestItem) -> str:
    ident = layout.item_id(item.number)
    proof = item.log_proof
    leaf = f'"$work/{ident}.leaf"'
    return "\n".join(
        [
            f"# {item.number}",
            f"token_sha256=$(openssl ts -reply -in {item.token} -token_out"
            " | sha256sum | cut -c1-64)",
            "printf '" + EVIDENCE_HEADER + "\\nnumber %s\\nkind %s\\ncontent-sha256 %s\\n"
            "size %s\\ntoken-sha256 %s\\nsupersedes %s\\n' "
            f"{_q(item.number)} {item.kind} {item.sha256.hex()} {item.size} "
            f'"$token_sha256" {_q(item.supersedes or "-")} > {leaf}',
            f"leaf_hash=$( (printf '\\000'; cat {leaf}) | sha256sum | cut -c1-64)",
            f"root=$(sed -n '/^$/{{n;n;n;p;q}}' {proof} | hex)",
            f'[ "$(tlog_root {proof} "$leaf_hash")" = "$root" ] '
            f'|| fail "{proof}: the leaf is not in the checkpoint"',
            f"sed -n '/^$/,$p' {proof} | sed '1d' | sed '/^$/,$d' > \"$work/{ident}.note\"",
            f'grep "^— $log_name " {proof} | head -n1 | cut -d" " -f3 | base64 -d | tail -c 64 '
            f'> "$work/{ident}.sig"',
            f'openssl pkeyutl -verify -pubin -inkey "$work/log.pub.pem" -rawin '
            f'-in "$work/{ident}.note" -sigfile "$work/{ident}.sig" '
            f'|| fail "{proof}: the checkpoint is not signed by certs/log.vkey"',
            f'echo "✓ {item.number}: 已收录于日志 in the log"',
        ]
    )
