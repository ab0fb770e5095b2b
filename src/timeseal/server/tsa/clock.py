"""Clock guard: a TSA whose clock is outside its stated accuracy must not issue.

ETSI EN 319 421 §7.7.2 asks a TSA to stop issuing while its clock may be off by more than the
declared accuracy. A :class:`ClockSource` reports the clock's state; the :class:`ClockGuard`
refreshes it in the background and answers ``trusted()`` on the hot path without blocking.

Sources:
- ``chrony``: ``chronyc -c tracking``; error bound = |offset| + root dispersion + root delay / 2
  (chrony's own definition of the maximum error), unsynchronised when the leap status says so.
- ``kernel``: ``adjtimex(2)``; unsynchronised while STA_UNSYNC is set, error bound = maxerror.
- ``auto``: chrony when chronyd answers, else the kernel.
- ``local``: the operator asserts the local clock is right (development only; stated in
  ``/healthz``).
- ``unsynchronised``: never trusted (maintenance, tests).

An untrusted clock is never silent: :func:`untrusted_clock_hint` says which source was asked,
why its clock is not trusted and the two fixes (time sync, or ``--clock-source local``);
``timeseal serve`` prints it at start-up, the guard logs it at the first refusal of each
untrusted spell (:meth:`ClockGuard.note_refusal`), and the TSA's rejection carries
:func:`refusal_text`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import logging
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("timeseal.clock")

#: The two ways out, for the operator (中文, English).
CLOCK_FIXES = (
    "解决办法：启用时间同步（chrony 或其他 NTP 客户端，如 apt-get install chrony），"
    "或自行担保本机时钟：timeseal serve --clock-source local（make serve CLOCK_SOURCE=local）。",
    "Fix: enable time sync (chrony or another NTP client, e.g. apt-get install chrony), or "
    "vouch for this machine's clock yourself: timeseal serve --clock-source local "
    "(make serve CLOCK_SOURCE=local).",
)


@dataclass(frozen=True, slots=True)
class ClockStatus:
    synchronised: bool
    source: str
    error_bound: float | None  # seconds; None when the source cannot say
    detail: str
    checked_at: dt.datetime

    def within(self, max_offset: float) -> bool:
        if not self.synchronised:
            return False
        return self.error_bound is None or self.error_bound <= max_offset

    def as_json(self, max_offset: float) -> dict[str, object]:
        return {
            "trusted": self.within(max_offset),
            "synchronised": self.synchronised,
            "source": self.source,
            "error_bound_seconds": self.error_bound,
            "max_offset_seconds": max_offset,
            "detail": self.detail,
            "checked_at": self.checked_at.isoformat(),
        }


class ClockSource(Protocol):
    name: str

    def status(self) -> ClockStatus: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ChronySource:
    name = "chrony"

    def __init__(self, chronyc: str = "chronyc") -> None:
        self._chronyc = chronyc

    def status(self) -> ClockStatus:
        try:
            out = subprocess.run(
                [self._chronyc, "-c", "-n", "tracking"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return ClockStatus(False, self.name, None, f"chronyc failed: {exc}", _now())
        if out.returncode != 0:
            return ClockStatus(
                False, self.name, None, f"chronyc: {out.stderr.strip() or out.stdout}", _now()
            )
        return parse_chrony_tracking(out.stdout, _now())


def parse_chrony_tracking(csv_line: str, checked_at: dt.datetime) -> ClockStatus:
    """Parse ``chronyc -c tracking`` (14 comma-separated fields)."""
    fields = csv_line.strip().split(",")
    if len(fields) < 14:
        return ClockStatus(
            False, "chrony", None, f"unexpected tracking output: {csv_line!r}", checked_at
        )
    try:
        system_offset = float(fields[4])
        root_delay = float(fields[10])
        root_dispersion = float(fields[11])
    except ValueError:
        return ClockStatus(
            False, "chrony", None, f"unexpected tracking output: {csv_line!r}", checked_at
        )
    leap = fields[13].strip()
    bound = abs(system_offset) + root_dispersion + root_delay / 2
    if leap == "Not synchronised" or fields[0] in ("00000000", "7F7F0101"):
        return ClockStatus(
            False, "chrony", bound, f"not synchronised (reference {fields[1]})", checked_at
        )
    return ClockStatus(
        True, "chrony", bound, f"reference {fields[1]}, stratum {fields[2]}", checked_at
    )


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    ]


_STA_UNSYNC = 0x0040
_TIME_ERROR = 5


class KernelSource:
    """The kernel's NTP discipline state, as set by chronyd, ntpd or systemd-timesyncd."""

    name = "kernel"

    def status(self) -> ClockStatus:
        libc_name = ctypes.util.find_library("c")
        if libc_name is None:
            return ClockStatus(False, self.name, None, "libc not found", _now())
        libc = ctypes.CDLL(libc_name, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
        if state < 0:
            return ClockStatus(
                False, self.name, None, f"adjtimex errno {ctypes.get_errno()}", _now()
            )
        bound = tx.maxerror / 1e6
        if tx.status & _STA_UNSYNC or state == _TIME_ERROR:
            return ClockStatus(
                False, self.name, bound, "kernel clock not synchronised (STA_UNSYNC)", _now()
            )
        return ClockStatus(True, self.name, bound, "kernel clock synchronised", _now())


class AutoSource:
    """chrony when chronyd answers, otherwise the kernel's state."""

    name = "auto"

    def __init__(self) -> None:
        self._chrony = ChronySource() if shutil.which("chronyc") else None
        self._kernel = KernelSource()

    def status(self) -> ClockStatus:
        if self._chrony is not None:
            status = self._chrony.status()
            if "chronyc" not in status.detail:  # chronyd answered
                return status
        return self._kernel.status()


class LocalSource:
    """The operator vouches for the local clock. For development and closed test setups."""

    name = "local"

    def status(self) -> ClockStatus:
        return ClockStatus(True, self.name, None, "local clock trusted by operator setting", _now())


class UnsynchronisedSource:
    """A clock that is never trusted."""

    name = "unsynchronised"

    def __init__(self, detail: str = "clock marked unsynchronised") -> None:
        self._detail = detail

    def status(self) -> ClockStatus:
        return ClockStatus(False, self.name, None, self._detail, _now())


class FixedSource:
    """A source with a fixed report (tests and operators who measure the clock elsewhere)."""

    def __init__(
        self, *, synchronised: bool, error_bound: float | None, name: str = "fixed"
    ) -> None:
        self.name = name
        self._synchronised = synchronised
        self._bound = error_bound

    def status(self) -> ClockStatus:
        return ClockStatus(self._synchronised, self.name, self._bound, "fixed report", _now())


def _why_untrusted(status: ClockStatus, max_offset: float) -> str:
    if not status.synchronised or status.error_bound is None:
        return status.detail
    return (
        f"error bound {status.error_bound * 1000:.0f} ms exceeds clock.max_offset_ms "
        f"({max_offset * 1000:.0f} ms); {status.detail}"
    )


def untrusted_clock_hint(source_name: str, status: ClockStatus, max_offset: float) -> str:
    """For the operator, three lines: the clock source ``source_name`` (and the one it asked,
    when ``auto`` chose), why its clock is not trusted, and :data:`CLOCK_FIXES`."""
    asked = source_name if status.source == source_name else f"{source_name} ({status.source})"
    return (
        f"时钟不可信，不签发任何时间戳 The clock is not trusted: no timestamp will be issued. "
        f"clock source {asked}: {_why_untrusted(status, max_offset)}\n"
        f"  {CLOCK_FIXES[0]}\n  {CLOCK_FIXES[1]}"
    )


def startup_report(source: ClockSource, max_offset: float) -> tuple[bool, str]:
    """Ask ``source`` once: whether its clock is trusted now, and what ``timeseal serve``
    prints about it as it starts (one line, or :func:`untrusted_clock_hint`)."""
    status = source.status()
    if status.within(max_offset):
        return True, f"clock source {source.name}: {status.detail}"
    return False, untrusted_clock_hint(source.name, status, max_offset)


def refusal_text(status: ClockStatus) -> str:
    """The statusString of a ``timeNotAvailable`` rejection: why, and what the operator can do
    (every RFC 3161 client prints it; ``timeseal stamp`` does)."""
    return f"time source not trusted: {status.detail}. {CLOCK_FIXES[1]} {CLOCK_FIXES[0]}"


def source_by_name(name: str) -> ClockSource:
    sources: dict[str, type[ClockSource]] = {
        "auto": AutoSource,
        "chrony": ChronySource,
        "kernel": KernelSource,
        "local": LocalSource,
        "unsynchronised": UnsynchronisedSource,
    }
    if name not in sources:
        raise ValueError(f"unknown clock source {name!r}; one of {', '.join(sources)}")
    return sources[name]()


class ClockGuard:
    """Caches the source's status, refreshed every ``interval`` seconds in a thread.

    Until the first reading arrives, and whenever a reading is older than ``3 * interval``,
    the clock counts as untrusted: a stuck refresher must not leave a stale "synchronised".
    """

    def __init__(self, source: ClockSource, *, max_offset: float, interval: float = 1.0) -> None:
        self.source = source
        self.max_offset = max_offset
        self._interval = interval
        self._status: ClockStatus | None = None
        self._read_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refusal_noted = False

    def refresh(self) -> ClockStatus:
        status = self.source.status()
        self._status = status
        self._read_at = time.monotonic()
        if status.within(self.max_offset):
            self._refusal_noted = False  # the next untrusted spell is told again
        return status

    def note_refusal(self) -> None:
        """A request was refused for the clock: the first refusal of an untrusted spell logs
        :func:`untrusted_clock_hint` (a warning), the rest of the spell stays quiet."""
        if self._refusal_noted:
            return
        self._refusal_noted = True
        log.warning("%s", untrusted_clock_hint(self.source.name, self.status, self.max_offset))

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="clock-guard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh()

    @property
    def status(self) -> ClockStatus:
        if self._status is None:
            return self.refresh()
        return self._status

    def trusted(self) -> bool:
        status = self._status
        if status is None or time.monotonic() - self._read_at > 3 * self._interval + 2:
            return False
        return status.within(self.max_offset)
