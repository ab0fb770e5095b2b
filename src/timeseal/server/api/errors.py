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

from timeseal.server.api.messages import MESSAGES
from timeseal.server.refusal import Refusal

Language = Literal["zh", "en"]

API_PREFIX = "/api/"
_LANGUAGES: tuple[Language, Language] = ("zh", "en")


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
