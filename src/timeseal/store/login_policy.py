"""The limits on login codes (:class:`LoginPolicy`) and what asking for or redeeming a code
can come to; :mod:`timeseal.store.login_codes` enforces them."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from timeseal.store.accounts.records import Account

#: Back-off doubles at most this many times (so the arithmetic stays small; the cap is hit long
#: before).
_MAX_DOUBLINGS = 40


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    code_ttl: dt.timedelta = dt.timedelta(minutes=5)
    attempts_per_code: int = 5
    resend_interval: dt.timedelta = dt.timedelta(seconds=60)  # per (number, IP)
    codes_per_client: int = 10  # per (number, IP) per phone_window
    codes_per_phone: int = 30  # per number per phone_window, from clients not known to it
    # Live codes a number holds at once, one per client; more than codes_per_phone, so the
    # codes strangers can get never fill it and the owner's known device always finds room.
    live_codes_per_phone: int = 40
    phone_window: dt.timedelta = dt.timedelta(days=1)
    codes_per_ip: int = 20
    failures_per_ip: int = 30
    ip_window: dt.timedelta = dt.timedelta(hours=1)
    sms_budget: int = (
        300  # codes sent in all per sms_budget_window (config.json sms.budget_per_hour)
    )
    sms_budget_window: dt.timedelta = dt.timedelta(hours=1)
    free_failures: int = 3  # wrong codes per (number, IP) before the back-off starts
    backoff_base: dt.timedelta = dt.timedelta(seconds=2)
    backoff_cap: dt.timedelta = dt.timedelta(minutes=15)
    client_window: dt.timedelta = dt.timedelta(days=1)

    def __post_init__(self) -> None:
        counts = (
            self.attempts_per_code,
            self.codes_per_client,
            self.codes_per_phone,
            self.codes_per_ip,
            self.failures_per_ip,
            self.sms_budget,
            self.free_failures,
        )
        if min(counts) < 1:
            raise ValueError("every limit must allow at least one")
        if self.live_codes_per_phone <= self.codes_per_phone:
            raise ValueError("live_codes_per_phone must exceed codes_per_phone")
        if self.backoff_base <= dt.timedelta(0) or self.backoff_cap < self.backoff_base:
            raise ValueError("backoff_base must be positive and at most backoff_cap")

    @property
    def longest_window(self) -> dt.timedelta:
        """How long any limit looks back."""
        return max(self.phone_window, self.ip_window, self.sms_budget_window, self.client_window)

    def backoff(self, failures: int) -> dt.timedelta:
        """How long a client waits after its ``failures``-th failure in a row (0: not at all)."""
        if failures < self.free_failures:
            return dt.timedelta(0)
        doublings = min(failures - self.free_failures, _MAX_DOUBLINGS)
        return min(self.backoff_base * (1 << doublings), self.backoff_cap)


class Limit(enum.Enum):
    """Which limit refused a request."""

    RESEND_INTERVAL = "resend_interval"  # this client asked for this number a moment ago
    CLIENT_CODE_QUOTA = "client_code_quota"  # this client's codes for this number today
    PHONE_QUOTA = "phone_quota"  # the number's codes today, from clients not known to it
    IP_CODE_QUOTA = "ip_code_quota"
    IP_FAILURE_QUOTA = "ip_failure_quota"
    SMS_BUDGET = "sms_budget"
    CLIENT_BACKOFF = "client_backoff"
    LIVE_CODES = "live_codes"  # the number holds live_codes_per_phone live codes already


@dataclass(frozen=True, slots=True)
class Refused:
    limit: Limit
    retry_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CodeIssued:
    expires_at: dt.datetime
    resend_at: dt.datetime


class CodeProblem(enum.Enum):
    """Why a code was not accepted. The three that name the code's state are only told to
    someone who typed that very code; anyone else hears :attr:`WRONG` or
    :attr:`NO_LIVE_CODE`, which the API answers alike."""

    NO_LIVE_CODE = "no_live_code"  # the number has no code this could be a guess at
    EXPIRED = "code_expired"  # the right code, too late
    USED = "code_used"  # the right code, already spent
    EXHAUSTED = "code_exhausted"  # the right code, burned by too many wrong guesses
    WRONG = "code_invalid"  # a wrong guess at a live code: counted


@dataclass(frozen=True, slots=True)
class CodeRejected:
    problem: CodeProblem
    # for WRONG only: wrong guesses left before every live code of the number is burned
    attempts_left: int | None


@dataclass(frozen=True, slots=True)
class LoggedIn:
    account: Account
