"""Every message the API answers with: ``code -> (中文, English)``, kept in one place.

:mod:`timeseal.server.api.errors` renders them into error bodies; the account pages show the
same wording. A test reads the codes the code base raises and checks each has its message here.
"""

from __future__ import annotations

from timeseal.core.evidence.number import PROBLEM_TEXT, NumberProblem
from timeseal.store.cases import MAX_CASE_ITEMS

#: code -> (中文, English) for every code the server answers with, all here (a test reads the
#: codes the code base raises and checks each has its message). ``{wait}``, ``{fields}``,
#: ``{status}``, ``{next_index}`` are filled in.
MESSAGES: dict[str, tuple[str, str]] = {
    # accounts, and any route
    "invalid_phone": (
        "请输入有效的中国大陆手机号（11 位，以 13–19 开头，可带 +86）。",
        "Enter a valid mainland China mobile number (11 digits from 13 to 19, +86 optional).",
    ),
    "invalid_request": ("请求格式不正确：{fields}", "The request is malformed: {fields}"),
    "unsupported_media_type": (
        "请求体必须是 JSON（Content-Type: application/json）。",
        "The request body must be JSON (Content-Type: application/json).",
    ),
    "rate_limited": (
        "操作过于频繁，请{wait}后再试。",
        "Too many requests; try again in {wait}.",
    ),
    "sms_budget_exhausted": (
        "本站本小时的短信发送量已达上限，请{wait}后再试。",
        "This site has sent as many text messages as it may this hour; try again in {wait}.",
    ),
    "code_invalid": (
        "验证码不正确或已失效。",
        "The code is wrong or no longer valid.",
    ),
    "code_expired": ("验证码已过期，请重新获取。", "The code has expired; request a new one."),
    "code_used": ("验证码已使用过，请重新获取。", "The code was already used; request a new one."),
    "code_exhausted": (
        "该验证码错误次数过多，请重新获取。",
        "Too many wrong tries at this code; request a new one.",
    ),
    "sms_unavailable": (
        "短信发送失败，请稍后再试。",
        "The text message could not be sent; try again later.",
    ),
    "unauthenticated": ("请先登录。", "Log in first."),
    "csrf_failed": (
        "缺少或错误的 CSRF 令牌，请刷新页面后重试。",
        "Missing or wrong CSRF token; reload the page and try again.",
    ),
    "token_read_only": (
        "该 API 令牌为只读，不能上传、修改或删除。",
        "This API token is read-only: it cannot upload, change or delete anything.",
    ),
    "session_required": (
        "只能在浏览器登录后创建 API 令牌，不能用令牌创建令牌。",
        "API tokens are created from a browser session, not with another token.",
    ),
    "not_found": ("找不到该资源。", "Not found."),
    "method_not_allowed": ("不支持该请求方法。", "Method not allowed."),
    "http_error": ("请求失败（HTTP {status}）。", "The request failed (HTTP {status})."),
    "storage_full": (
        "服务器存储空间已满，此次请求未能保存，请稍后重试。",
        "The server's storage is full and this request could not be saved; try again later.",
    ),
    # request bounds (timeseal.server.request_bounds)
    "request_too_large": (
        "请求内容过大，服务器不予接收。",
        "The request body is larger than this server accepts.",
    ),
    "query_too_long": ("请求地址过长。", "The request's query string is too long."),
    "json_too_deep": (
        "JSON 嵌套层数过多，服务器不予接收。",
        "The JSON body is nested too deeply.",
    ),
    # uploads and downloads (.uploads, .vault)
    "quota_exceeded": (
        "存储空间不足：此次上传会超出账户的存储配额。",
        "Quota exceeded: this upload would take the account past its storage quota.",
    ),
    "upload_too_large": ("文件超过允许的最大大小。", "The file is larger than allowed."),
    "upload_offset_mismatch": (
        "上传偏移量不一致，请先查询当前偏移量（HEAD）。",
        "Upload-Offset does not match the upload; ask for the current one (HEAD).",
    ),
    "upload_busy": ("该上传正在被另一个请求写入。", "Another request is writing this upload."),
    "checksum_mismatch": (
        "数据校验和不一致，本段数据未被接收。",
        "The checksum does not match; this chunk was not accepted.",
    ),
    "sha256_mismatch": (
        "文件的 SHA-256 与声明的不一致，已丢弃。",
        "The file's SHA-256 differs from the declared one; it was discarded.",
    ),
    "tus_version": ("仅支持 tus 1.0.0。", "Only tus 1.0.0 is supported."),
    "sealing_failed": (
        "暂时无法签发时间戳，请稍后重试。",
        "No timestamp can be issued right now; try again later.",
    ),
    "clock_untrusted": (
        "服务器时钟不可信，无法签发时间戳，稍后重试也不会成功，直到服务器管理员处理：启用时间同步"
        "（chrony/NTP），或以 timeseal serve --clock-source local（make serve CLOCK_SOURCE=local）"
        "启动，自行担保本机时钟。",
        "The server's clock is not trusted, so no timestamp can be issued, and retrying will not "
        "help until the server's operator either enables time sync (chrony/NTP) or starts it "
        "with timeseal serve --clock-source local (make serve CLOCK_SOURCE=local) to vouch for "
        "this machine's clock.",
    ),
    "range_not_satisfiable": ("请求的范围无效。", "The requested range is not satisfiable."),
    "upload_expired": (
        "该上传长时间没有进展，已过期；请重新上传。",
        "This upload made no progress for too long and has expired; upload the file again.",
    ),
    # evidence numbers as typed (timeseal.core.evidence.number)
    NumberProblem.CHECK_MISSING.value: PROBLEM_TEXT[NumberProblem.CHECK_MISSING],
    NumberProblem.CHECK_MISMATCH.value: PROBLEM_TEXT[NumberProblem.CHECK_MISMATCH],
    # live recordings (.recordings)
    "chunk_conflict": (
        "该序号的分段已收到，且内容不同；已收到的内容保持不变。",
        "A chunk with this index was received with other bytes; it stays as received.",
    ),
    "chunk_out_of_order": (
        "分段顺序不对：服务器等待第 {next_index} 段。",
        "Chunk out of order: the server expects chunk {next_index}.",
    ),
    "recording_closed": (
        "该录制已结束或已被截断，不再接收分段。",
        "This recording is finished or was cut off; it takes no more chunks.",
    ),
    "chunk_count_mismatch": (
        "分段数不一致：服务器已收到 {next_index} 段。",
        "The chunk count does not match: the server received {next_index} chunks.",
    ),
    "recording_empty": (
        "该录制没有任何分段，无法结束。",
        "This recording has no chunks; there is nothing to finish.",
    ),
    "recording_exists": (
        "该录制编号已被使用。",
        "This recording id is taken.",
    ),
    "chunk_too_large": (
        "分段超过允许的最大大小（8 MiB）。",
        "The chunk is larger than allowed (8 MiB).",
    ),
    "chunk_empty": ("分段不能为空。", "A chunk cannot be empty."),
    # cases (.cases)
    "case_full": (
        f"一个案件最多包含 {MAX_CASE_ITEMS} 项证据。",
        f"A case holds at most {MAX_CASE_ITEMS} items.",
    ),
    # packages (.packages)
    "not_sequenced": (
        "证据刚刚封存，尚未写入公开日志；请几秒后重试。",
        "The item was sealed a moment ago and is not in the public log yet; retry shortly.",
    ),
    "case_empty": ("案件中还没有证据，无法打包。", "The case has no items to package."),
    "certificate_font_missing": (
        "服务器缺少生成认证证书所需的中文字体，暂时无法生成证书和证据包。请服务器管理员安装"
        " fonts-noto-cjk 软件包（apt-get install fonts-noto-cjk，或运行 make serve），无需重启。",
        "The server lacks the Chinese font the certificate PDF needs, so no certificate or "
        "evidence package can be built. The server's operator must install the fonts-noto-cjk "
        "package (apt-get install fonts-noto-cjk, or run make serve); no restart is needed.",
    ),
    "package_failed": (
        "暂时无法生成证据包，请稍后重试。",
        "The package cannot be built right now; try again later.",
    ),
    # share links (.shares)
    "share_expired": ("该分享链接已过期。", "This share link has expired."),
    "share_code_required": (
        "该分享链接需要访问码。",
        "This share link needs an access code.",
    ),
    "share_code_invalid": ("访问码不正确。", "The access code is not correct."),
}
