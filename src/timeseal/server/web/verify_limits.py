"""How much of the server ``POST /verify/package`` may take: a few verifications at a time,
each for a bounded wall time.

Anyone may upload a package without logging in, and each verification hashes up to
:data:`timeseal.server.web.verify.MAX_PACKAGE_BYTES` and checks a token and a log proof per
item. :class:`VerifyGate` admits at most ``max_concurrent`` verifications per process (the
rest get a "busy, try again" page, 503 with ``Retry-After``, before their body is read), and
gives each a deadline: receiving the upload is cancelled past it, and the verifier, which
calls :meth:`Admission.check` for every chunk it hashes and before every item, stops there
(the core keeps no clock, so the deadline comes in through that callback).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

#: Environment variables of ``timeseal serve`` (see README, "Deployment").
MAX_CONCURRENT_ENV = "TIMESEAL_VERIFY_MAX_CONCURRENT"
DEADLINE_ENV = "TIMESEAL_VERIFY_DEADLINE_SECONDS"


class DeadlineExceeded(Exception):
    """The verification ran past its deadline (raised inside the verifying thread)."""


@dataclass(frozen=True, slots=True)
class VerifyLimits:
    """``max_concurrent`` verifications per server process, each for at most ``deadline``
    seconds of ``clock`` (monotonic), receiving the upload included; the busy page asks the
    browser to come back after ``retry_after`` seconds."""

    max_concurrent: int = 2
    deadline: float = 120.0
    retry_after: int = 30
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if not self.deadline >= 0:
            raise ValueError("deadline must be a number of seconds >= 0")
        if self.retry_after < 1:
            raise ValueError("retry_after must be at least 1 second")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> VerifyLimits:
        """The limits :data:`MAX_CONCURRENT_ENV` and :data:`DEADLINE_ENV` set in ``environ``
        (the server's settings reader passes its environment); the defaults where they are
        unset. ``ValueError`` naming the variable if one is bad."""
        values: dict[str, float] = {}
        for name, key, kind in (
            (MAX_CONCURRENT_ENV, "max_concurrent", int),
            (DEADLINE_ENV, "deadline", float),
        ):
            text = environ.get(name, "").strip()
            if text:
                try:
                    values[key] = kind(text)
                except ValueError:
                    raise ValueError(f"{name}={text!r} is not a number") from None
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"{MAX_CONCURRENT_ENV}/{DEADLINE_ENV}: {exc}") from None


class Admission:
    """One admitted verification: its deadline, and its place in the gate until closed."""

    def __init__(self, gate: VerifyGate) -> None:
        self._gate = gate
        self.deadline_at = gate.limits.clock() + gate.limits.deadline

    @property
    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline_at - self._gate.limits.clock())

    def check(self, _done: int = 0) -> None:
        """The verifier's progress callback: ``DeadlineExceeded`` once past the deadline."""
        if self._gate.limits.clock() >= self.deadline_at:
            raise DeadlineExceeded

    def __enter__(self) -> Admission:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._gate.release()


class VerifyGate:
    """At most ``limits.max_concurrent`` admissions at a time, across threads and event loops
    (a plain lock and counter: the verification itself runs in a worker thread)."""

    def __init__(self, limits: VerifyLimits | None = None) -> None:
        self.limits = limits or VerifyLimits()
        self._lock = threading.Lock()
        self._active = 0

    @property
    def active(self) -> int:
        return self._active

    def try_admit(self) -> Admission | None:
        """An :class:`Admission` (a context manager that frees the place), or None when
        ``max_concurrent`` verifications are running already."""
        with self._lock:
            if self._active >= self.limits.max_concurrent:
                return None
            self._active += 1
        return Admission(self)

    def release(self) -> None:
        with self._lock:
            if self._active <= 0:
                raise AssertionError("VerifyGate released more often than admitted")
            self._active -= 1
