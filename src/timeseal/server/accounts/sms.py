"""Delivering login codes: pluggable SMS providers.

- ``dev`` (the default, for development only): appends one JSON line
  ``{"time", "phone", "code"}`` to ``<data-dir>/sms-outbox.log`` (mode 0600), so that a developer
  without an SMS gateway, and the tests, can read it. Nothing reaches a phone, and the code
  never goes to the server log (logs are shipped and kept; the outbox is one private file).
  Anyone who can read that file can log in as anyone, so ``timeseal serve`` refuses it on an
  address other than loopback unless told ``--allow-dev-sms`` (:func:`check_listen_address`),
  prints :func:`dev_banner` while it is on, and ``/login`` says so on the page.
- ``webhook``: POSTs the message as JSON to ``sms.webhook_url``, with ``Authorization: Bearer``
  from the environment variable named by ``sms.webhook_token_env`` when that is set; any 2xx
  answer means sent. The body::

      {"phone": "+8613812345678", "code": "123456", "text": "【时印】…",
       "sent_at": "2026-11-29T08:00:00Z", "expires_at": "2026-11-29T08:05:00Z"}
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from timeseal import __version__
from timeseal.core.phone import mask_phone
from timeseal.server.runtime.configuration import DataDirError, SmsConfig

log = logging.getLogger("timeseal.sms")

OUTBOX_FILE = "sms-outbox.log"
ALLOW_DEV_FLAG = "--allow-dev-sms"


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
            "dev SMS provider: login code for %s written to %s, not sent",
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


def sms_provider(
    config: SmsConfig, data_dir: Path, secret_values: Mapping[str, str] | None = None
) -> SmsProvider:
    """The provider ``config.json``'s ``sms`` section asks for; the webhook's token is
    ``secret_values[config.webhook_token_env]`` (the server's settings read it from the
    environment)."""
    if config.provider == "dev":
        return DevOutbox(data_dir / OUTBOX_FILE)
    if config.provider == "webhook":
        if not config.webhook_url:
            raise DataDirError("sms.provider is webhook but sms.webhook_url is empty")
        try:
            return WebhookProvider(
                config.webhook_url,
                token=(secret_values or {}).get(config.webhook_token_env) or None,
                timeout=config.timeout_ms / 1000,
            )
        except ValueError as exc:
            raise DataDirError(f"sms.webhook_url: {exc}") from exc
    raise DataDirError(f"unknown sms.provider {config.provider!r} (dev or webhook)")


def is_development(provider: SmsProvider) -> bool:
    """Whether ``provider`` keeps codes on this machine instead of texting them."""
    return isinstance(provider, DevOutbox)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); ``0.0.0.0``, ``::`` and any
    name are not, since they may be reached from elsewhere."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen_address(config: SmsConfig, host: str, *, allow_dev: bool) -> None:
    """Refuse to serve the ``dev`` provider on an address others can reach, unless the
    operator said so: there, every login code would sit in a file instead of reaching the
    phone, and the login page would only be usable by whoever reads that file."""
    if config.provider != "dev" or allow_dev or is_loopback(host):
        return
    raise DataDirError(
        f'sms.provider is "dev" (login codes go to {OUTBOX_FILE}, no SMS is sent) and '
        f"--host {host} is not a loopback address. Configure a real SMS gateway in "
        f'config.json ("sms": {{"provider": "webhook", "webhook_url": …}}, see the '
        f"README), or, for a development server only, add {ALLOW_DEV_FLAG}. "
        f"短信通道为开发模式（验证码只写入 {OUTBOX_FILE}，不发送短信），不能在非本机地址上运行："
        f"请在 config.json 中配置短信网关，或仅用于开发时加 {ALLOW_DEV_FLAG}。"
    )


def dev_banner(data_dir: Path) -> str:
    """What ``timeseal serve`` prints at start-up while the ``dev`` provider is on."""
    rule = "=" * 78
    return "\n".join(
        [
            rule,
            "  开发用短信通道 DEVELOPMENT SMS PROVIDER",
            "  登录验证码不会发送到手机，只写入 / Login codes are NOT sent to any phone; they",
            f"  are written to {data_dir / OUTBOX_FILE}",
            '  Development only. For real users set sms.provider to "webhook" in config.json',
            '  (see the README, "Sending real SMS").',
            rule,
        ]
    )
