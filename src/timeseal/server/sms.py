"""Delivering login codes: pluggable SMS providers.

- ``dev`` (the default): appends one JSON line ``{"time", "phone", "code"}`` to
  ``<data-dir>/sms-outbox.log`` (mode 0600) and logs the code, so that a self-hoster without an
  SMS gateway, and the tests, can read it. Nothing reaches a phone.
- ``webhook``: POSTs the message as JSON to ``sms.webhook_url``, with ``Authorization: Bearer``
  from the environment variable named by ``sms.webhook_token_env`` when that is set; any 2xx
  answer means sent. The body::

      {"phone": "+8613812345678", "code": "123456", "text": "【时印】…",
       "sent_at": "2026-11-29T08:00:00Z", "expires_at": "2026-11-29T08:05:00Z"}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from timeseal import __version__
from timeseal.server.datadir import DataDirError, SmsConfig
from timeseal.server.phone import mask_phone

log = logging.getLogger("timeseal.sms")

OUTBOX_FILE = "sms-outbox.log"


class SmsDeliveryError(Exception):
    """The provider did not accept the message."""


@dataclass(frozen=True, slots=True)
class SmsMessage:
    phone: str  # E.164
    code: str
    sent_at: dt.datetime
    expires_at: dt.datetime

    @property
    def text(self) -> str:
        minutes = max(1, round((self.expires_at - self.sent_at).total_seconds() / 60))
        return f"【时印】您的登录验证码是 {self.code}，{minutes} 分钟内有效。请勿将验证码告诉他人。"


class SmsProvider(Protocol):
    def send(self, message: SmsMessage) -> None:
        """Deliver ``message`` or raise :class:`SmsDeliveryError`."""
        ...


def _utc(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class DevOutbox:
    """Writes codes to a file instead of sending them (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: SmsMessage) -> None:
        line = json.dumps(
            {"time": _utc(message.sent_at), "phone": message.phone, "code": message.code},
            ensure_ascii=False,
        )
        try:
            # One write(2) of one line with O_APPEND: lines from several processes never mix.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise SmsDeliveryError(f"cannot write {self.path}: {exc}") from exc
        log.warning(
            "dev SMS provider: login code %s for %s (written to %s, not sent)",
            message.code,
            mask_phone(message.phone),
            self.path,
        )


class WebhookProvider:
    """POSTs each message to an HTTP endpoint (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"webhook URL must be http(s): {url!r}")
        self.url = url
        self._token = token
        self._timeout = timeout

    def send(self, message: SmsMessage) -> None:
        headers = {"User-Agent": f"timeseal/{__version__}"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        body = {
            "phone": message.phone,
            "code": message.code,
            "text": message.text,
            "sent_at": _utc(message.sent_at),
            "expires_at": _utc(message.expires_at),
        }
        try:
            with httpx.Client(timeout=self._timeout) as client:
                reply = client.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SmsDeliveryError(f"SMS webhook {self.url}: {exc}") from exc
        if not reply.is_success:
            raise SmsDeliveryError(f"SMS webhook {self.url} answered {reply.status_code}")
        log.info("login code for %s sent via webhook", mask_phone(message.phone))


def sms_provider(config: SmsConfig, data_dir: Path) -> SmsProvider:
    """The provider ``config.json``'s ``sms`` section asks for."""
    if config.provider == "dev":
        return DevOutbox(data_dir / OUTBOX_FILE)
    if config.provider == "webhook":
        if not config.webhook_url:
            raise DataDirError("sms.provider is webhook but sms.webhook_url is empty")
        try:
            return WebhookProvider(
                config.webhook_url,
                token=os.environ.get(config.webhook_token_env) or None,
                timeout=config.timeout_ms / 1000,
            )
        except ValueError as exc:
            raise DataDirError(f"sms.webhook_url: {exc}") from exc
    raise DataDirError(f"unknown sms.provider {config.provider!r} (dev or webhook)")
