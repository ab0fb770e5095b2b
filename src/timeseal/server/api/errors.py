"""JSON errors for ``/api/v1``: ``{"error": {"code": "snake_case", "message": "…",
"message_zh": "…", "message_en": "…"}}``.

``code`` is stable (clients and tests branch on it); ``message`` is for people, in Chinese
unless the request's ``Accept-Language`` prefers English (RFC 9110 §12.5.4: the highest
q-value among the languages we have wins, ties go to the one listed first).
``message_zh`` and ``message_en`` are the same message in each language, whatever the request
asked, for clients that show both (the ``timeseal`` command prints "中文 / English").
Some errors add ``retry_after`` (seconds, also sent as a ``Retry-After`` header),
``attempts_left``, ``fields`` or ``next_index`` (the chunk a recording expects).

A service refuses with :class:`~timeseal.server.refusal.Refusal` and a code; its status is in
:data:`REFUSAL_STATUS`. Endpoints raise :class:`ApiError`, a refusal with its own status.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from fastapi import FastAPI
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from timeseal.core.evidence.number import PROBLEM_TEXT, NumberProblem
from timeseal.server.refusal import Refusal
from timeseal.store.cases import MAX_CASE_ITEMS

Language = Literal["zh", "en"]

API_PREFIX = "/api/"
_LANGUAGES: tuple[Language, Language] = ("zh", "en")

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


class ErrorDetail(BaseModel):
    code: str
    message: str
    message_zh: str
    message_en: str
    retry_after: int | None = None
    attempts_left: int | None = None
    fields: list[str] | None = None
    next_index: int | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Refusal):
    """Raise in an endpoint or dependency to answer with a JSON error; the HTTP layer's own
    refusal, with its status (a service's refusal takes its status from
    :data:`REFUSAL_STATUS`)."""

    def __init__(
        self,
        code: str,
        status: int,
        *,
        retry_after: float | None = None,
        attempts_left: int | None = None,
        next_index: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if code not in MESSAGES:
            raise ValueError(f"no message for error code {code!r}")
        super().__init__(code, retry_after=retry_after, attempts_left=attempts_left)
        self.status = status
        self.next_index = next_index
        self.headers = dict(headers or {})


#: The HTTP status of each refusal the services raise (:class:`~timeseal.server.refusal.Refusal`),
#: by its code; the one place a service's "no" becomes a status.
REFUSAL_STATUS: dict[str, int] = {
    # accounts: logging in (timeseal.server.accounts.service)
    "rate_limited": 429,
    "sms_budget_exhausted": 429,
    "sms_unavailable": 502,
    "code_invalid": 400,
    "code_expired": 400,
    "code_used": 400,
    "code_exhausted": 400,
    # certificates (timeseal.server.certificate.issue): an operator's fix, not the client's
    "certificate_font_missing": 503,
    # share links (timeseal.server.evidence.shares)
    "not_found": 404,
    "share_expired": 410,
    "share_code_required": 403,
    "share_code_invalid": 403,
}


def http_status(refusal: Refusal) -> int:
    """The status ``refusal`` is answered with: an :class:`ApiError`'s own, else its code's in
    :data:`REFUSAL_STATUS`."""
    if isinstance(refusal, ApiError):
        return refusal.status
    return REFUSAL_STATUS[refusal.code]


def preferred_language(accept_language: str | None) -> Language:
    """``"en"`` when the header ranks English above Chinese, else ``"zh"``."""
    best: tuple[float, int, Language] | None = None
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        tag = tag.strip().lower()
        lang: Language
        if tag == "en" or tag.startswith("en-"):
            lang = "en"
        elif tag == "zh" or tag.startswith("zh-"):
            lang = "zh"
        else:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        candidate = (q, -position, lang)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return "zh" if best is None else best[2]


def _wait(seconds: int, lang: Language) -> str:
    if seconds >= 120:
        minutes = math.ceil(seconds / 60)
        return f" {minutes} 分钟" if lang == "zh" else f"{minutes} minutes"
    return f" {seconds} 秒" if lang == "zh" else f"{seconds} seconds"


def error_body(
    request: Request,
    code: str,
    *,
    retry_after: int | None = None,
    attempts_left: int | None = None,
    fields: list[str] | None = None,
    status: int = 0,
    next_index: int | None = None,
) -> ErrorBody:
    lang = preferred_language(request.headers.get("accept-language"))
    zh, en = (
        template.format(
            wait=_wait(retry_after or 0, in_lang),
            fields=", ".join(fields or ()),
            status=status,
            next_index=next_index,
        )
        for template, in_lang in zip(MESSAGES[code], _LANGUAGES, strict=True)
    )
    detail = ErrorDetail(
        code=code,
        message=zh if lang == "zh" else en,
        message_zh=zh,
        message_en=en,
        retry_after=retry_after,
        attempts_left=attempts_left,
        fields=fields,
        next_index=next_index,
    )
    return ErrorBody(error=detail)


def _json(body: ErrorBody, status: int, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    error = (
        exc
        if isinstance(exc, ApiError)
        else ApiError(
            exc.code,
            http_status(exc),
            retry_after=exc.retry_after,
            attempts_left=exc.attempts_left,
        )
    )
    body = error_body(
        request,
        error.code,
        retry_after=error.retry_after,
        attempts_left=error.attempts_left,
        next_index=error.next_index,
    )
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return _json(body, error.status, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith(API_PREFIX):
        return await request_validation_exception_handler(request, exc)
    fields = sorted(
        {".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body" for e in exc.errors()}
    )
    return _json(error_body(request, "invalid_request", fields=fields), 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith(API_PREFIX):
        return await http_exception_handler(request, exc)
    code = {404: "not_found", 405: "method_not_allowed", 415: "unsupported_media_type"}.get(
        exc.status_code, "http_error"
    )
    return _json(error_body(request, code, status=exc.status_code), exc.status_code, exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer errors under ``/api/`` in our JSON shape; other paths keep FastAPI's."""
    app.add_exception_handler(Refusal, _refused)  # ApiError is one
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


#: For ``responses=`` in route decorators, so that /openapi.json documents the error shape.
def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {status: {"model": ErrorBody} for status in statuses}
