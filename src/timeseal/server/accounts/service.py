"""Logging in: one-time codes by SMS, browser sessions and API tokens.

Secrets and what is stored of them:

- login code: 6 digits from :mod:`secrets`; stored as HMAC-SHA256(server secret,
  ``"timeseal login-code v1" ‖ 0 ‖ phone ‖ 0 ‖ code``), so a copy of the database alone does not
  let anyone try the million candidates offline;
- session: 32 random bytes (base64url) in the ``ts_session`` cookie; stored as SHA-256;
- API token: ``ts_`` + 32 random bytes (base64url), shown once; stored as SHA-256. Each has
  an expiry chosen at creation (:data:`DEFAULT_TOKEN_LIFETIME`, at most
  :data:`MAX_TOKEN_LIFETIME`) and a scope: ``full``, or ``read`` (safe methods only; see
  ``security.current_account``). Only a browser session or an SMS-code login creates one, never
  a request made with a token, so a stolen token cannot outlive itself;
- CSRF token of a session: HMAC-SHA256(server secret, ``"timeseal csrf v1" ‖ 0 ‖
  SHA-256(session secret)``), recomputed on each request, never stored (see ``security``);
- known-device token: ``kd1.<expiry, Unix seconds>.<nonce>.<base64url HMAC-SHA256(server
  secret, "timeseal known-device v1" ‖ 0 ‖ phone ‖ 0 ‖ expiry ‖ 0 ‖ nonce)>``, given at each
  successful login (the ``ts_device`` cookie, or ``device_token`` for the command line), never
  stored. It proves that this client logged in with that number before, which exempts it from
  the number's overall cap on codes (``LoginPolicy.codes_per_phone``), so strangers who spent
  that cap cannot keep the owner out, and makes its per-client limits its own, not its IP's. It
  grants nothing else: no login, no account access, no other number.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine

from timeseal.core.phone import mask_phone
from timeseal.server.accounts.sms import SmsDeliveryError, SmsMessage, SmsProvider
from timeseal.server.refusal import Refusal
from timeseal.store.accounts.records import Account, SessionRecord, TokenRecord
from timeseal.store.accounts.store import AccountStore
from timeseal.store.login_codes import LoginCodes
from timeseal.store.login_policy import (
    CodeIssued,
    CodeProblem,
    CodeRejected,
    Limit,
    LoginPolicy,
    Refused,
)

log = logging.getLogger("timeseal.auth")

TOKEN_PREFIX = "ts_"
DEFAULT_TOKEN_LIFETIME = dt.timedelta(days=90)
MAX_TOKEN_LIFETIME = dt.timedelta(days=365)
TokenScope = Literal["full", "read"]
DEVICE_TOKEN_PREFIX = "kd1."
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: dt.timedelta = dt.timedelta(hours=12)  # no request for this long ends a session
    lifetime: dt.timedelta = dt.timedelta(days=14)  # absolute, from login
    touch_every: dt.timedelta = dt.timedelta(minutes=1)  # last_seen / last_used resolution
    known_device: dt.timedelta = dt.timedelta(days=90)  # a known-device token's lifetime


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made the request, and with which credential."""

    account: Account
    via: Literal["session", "token"]
    credential_id: str  # the session's or the token's id
    csrf_token: str | None = None  # sessions only
    scope: TokenScope = "full"  # a session's is always full

    @property
    def read_only(self) -> bool:
        return self.scope == "read"


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _refusal(refused: Refused, now: dt.datetime) -> Refusal:
    wait = (refused.retry_at - now).total_seconds()
    if refused.limit is Limit.SMS_BUDGET:
        return Refusal("sms_budget_exhausted", retry_after=wait)
    return Refusal("rate_limited", retry_after=wait)


class AuthService:
    """Everything the accounts API does, over the store. One per application."""

    def __init__(
        self,
        engine: Engine,
        *,
        secret: bytes,
        sms: SmsProvider,
        clock: Clock = utc_now,
        login_policy: LoginPolicy | None = None,
        session_policy: SessionPolicy | None = None,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        self.accounts = AccountStore(engine)
        self.codes = LoginCodes(engine, login_policy)
        self.sessions = session_policy or SessionPolicy()
        self.sms = sms
        self.clock = clock
        self._secret = secret

    def now(self) -> dt.datetime:
        return self.clock()

    # --- codes ----------------------------------------------------------------------------

    def code_hash(self, phone: str, code: str) -> bytes:
        message = b"timeseal login-code v1\0" + phone.encode() + b"\0" + code.encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def request_code(self, phone: str, ip: str, device_token: str | None = None) -> CodeIssued:
        """Send a code. ``device_token``: what the client holds from an earlier login (the
        ``ts_device`` cookie or the API's ``device_token``); if it is valid for this number,
        the number's overall cap does not apply, and its per-client limits count for the
        token rather than the IP."""
        now = self.now()
        code = f"{secrets.randbelow(1_000_000):06d}"
        digest = self.code_hash(phone, code)
        known = device_token is not None and self.is_known_device(phone, device_token)
        device = _sha256(device_token).hex() if known and device_token is not None else None
        outcome = self.codes.issue(phone, ip, digest, now=now, known_device=device)
        if isinstance(outcome, Refused):
            if outcome.limit is Limit.SMS_BUDGET:
                log.warning("SMS budget spent: no login codes until %s", outcome.retry_at)
            raise _refusal(outcome, now)
        try:
            self.sms.send(SmsMessage(phone, code, now, outcome.expires_at))
        except SmsDeliveryError as exc:
            log.error("login code for %s not delivered: %s", mask_phone(phone), exc)
            self.codes.discard(phone, digest)
            raise Refusal("sms_unavailable") from exc
        return outcome

    def redeem_code(self, phone: str, code: str, ip: str) -> Account:
        now = self.now()
        outcome = self.codes.redeem(phone, ip, self.code_hash(phone, code.strip()), now=now)
        if isinstance(outcome, Refused):
            raise _refusal(outcome, now)
        if isinstance(outcome, CodeRejected):
            # No live code to guess at is answered exactly like a wrong guess (without the
            # guesses left): a stranger learns nothing about the number.
            problem = outcome.problem
            code = CodeProblem.WRONG.value if problem is CodeProblem.NO_LIVE_CODE else problem.value
            raise Refusal(code, attempts_left=outcome.attempts_left)
        return outcome.account

    # --- known devices --------------------------------------------------------------------

    def _device_mac(self, phone: str, expires: int, nonce: str) -> str:
        message = f"timeseal known-device v1\0{phone}\0{expires}\0{nonce}".encode()
        mac = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def device_token(self, phone: str) -> str:
        """A new known-device token for ``phone``, valid for ``SessionPolicy.known_device``;
        given to a client that has just logged in with that number. The nonce makes each
        login's token, and so its per-client limits, its own."""
        expires = int((self.now() + self.sessions.known_device).timestamp())
        nonce = secrets.token_urlsafe(12)
        return f"{DEVICE_TOKEN_PREFIX}{expires}.{nonce}.{self._device_mac(phone, expires, nonce)}"

    def is_known_device(self, phone: str, token: str) -> bool:
        """Whether ``token`` was given at a login with ``phone`` and has not expired."""
        parts = token.split(".")
        if len(parts) != 4 or f"{parts[0]}." != DEVICE_TOKEN_PREFIX:
            return False
        _, expiry, nonce, mac = parts
        if not (expiry.isascii() and expiry.isdigit() and len(expiry) <= 12):
            return False
        if int(expiry) <= self.now().timestamp():
            return False
        expected = self._device_mac(phone, int(expiry), nonce)
        return hmac.compare_digest(mac.encode(), expected.encode())

    # --- sessions -------------------------------------------------------------------------

    def csrf_token(self, session_secret: str) -> str:
        message = b"timeseal csrf v1\0" + _sha256(session_secret)
        mac = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def start_session(
        self, account: Account, *, ip: str, user_agent: str
    ) -> tuple[str, SessionRecord]:
        """A new session for ``account``: (cookie value, record)."""
        secret = secrets.token_urlsafe(32)
        record = self.accounts.create_session(
            account.id,
            _sha256(secret),
            now=self.now(),
            lifetime=self.sessions.lifetime,
            ip=ip,
            user_agent=user_agent,
        )
        return secret, record

    def session_principal(self, cookie: str) -> Principal | None:
        now = self.now()
        found = self.accounts.session_by_secret(_sha256(cookie), now=now, idle=self.sessions.idle)
        if found is None:
            return None
        account, session = found
        if now - session.last_seen_at >= self.sessions.touch_every:  # most requests write nothing
            self.accounts.touch_session(session.id, now=now, every=self.sessions.touch_every)
        return Principal(account, "session", session.id, self.csrf_token(cookie))

    # --- API tokens -----------------------------------------------------------------------

    def create_token(
        self,
        account_id: int,
        name: str,
        *,
        lifetime: dt.timedelta = DEFAULT_TOKEN_LIFETIME,
        scope: TokenScope = "full",
    ) -> tuple[str, TokenRecord]:
        """A new API token: (the secret, shown once; record). The caller checked that the
        request creating it is not itself made with a token (``auth.create_token``)."""
        if not dt.timedelta(0) < lifetime <= MAX_TOKEN_LIFETIME:
            raise ValueError("a token's lifetime is more than nothing and at most a year")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.now()
        record = self.accounts.create_token(
            account_id,
            name,
            _sha256(secret),
            secret[-4:],
            now=now,
            expires_at=now + lifetime,
            scope=scope,
        )
        return secret, record

    def token_principal(self, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        now = self.now()
        found = self.accounts.token_by_secret(_sha256(token), now=now)
        if found is None:
            return None
        account, record = found
        last = record.last_used_at
        if last is None or now - last >= self.sessions.touch_every:
            self.accounts.touch_token(record.id, now=now, every=self.sessions.touch_every)
        scope: TokenScope = "read" if record.scope == "read" else "full"
        return Principal(account, "token", record.id, scope=scope)
