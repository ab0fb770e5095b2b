"""Is the local clock right? Compared with the TSA's clock through a probe token's genTime.

Evidence times come from the TSA, but the capture's own log (operation times, file times) comes
from this machine's clock; a large offset means those local times cannot be read at face value.
The HTTP transport and the clock are arguments, so tests can shift the clock or go offline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Sequence

import httpx
from cryptography import x509

from timeseal.capture.clients.tsa import TSAClient, TSAClientError, verify_stamp
from timeseal.capture.environment.report import Finding, JSONValue, Status, format_utc

Clock = Callable[[], dt.datetime]

CLOCK_PASS_MS = 1_000
CLOCK_WARN_MS = 10_000


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def clock_offset(
    server_url: str,
    *,
    clock: Clock = utc_now,
    transport: httpx.BaseTransport | None = None,
    tsa_roots: Sequence[x509.Certificate] = (),
    timeout: float = 10.0,
) -> Finding:
    """Compare the local clock with the genTime of a fresh probe token from ``<server>/tsa``.

    The local time is taken as the midpoint of the request (``clock()`` before and after), so
    the offset is exact to within half the round trip plus the TSA's stated accuracy; both
    are in the evidence. Positive ``offset_ms`` means the local clock is ahead. With
    ``tsa_roots`` the probe token must also verify, so a forged TSA cannot set our clock."""
    base = server_url.rstrip("/")
    probe = hashlib.sha256(b"timeseal env-check clock probe " + secrets.token_bytes(16)).digest()
    with TSAClient(base, transport=transport, timeout=timeout) as client:
        before = clock()
        try:
            result = client.stamp_digest(probe)
        except TSAClientError as exc:
            return Finding(
                "clock_offset",
                Status.WARN,
                "未检查：无法连接时间戳机构，本机时钟未经核对",
                "not checked: the TSA could not be reached, so the local clock is unchecked",
                {"tsa_url": f"{base}/tsa", "error": str(exc)},
            )
        after = clock()
    if result.response.token is None:  # stamp_digest returns granted tokens only
        raise AssertionError("TSAClient.stamp_digest returned no token")
    tst = result.response.token.tst_info
    local = before + (after - before) / 2
    offset_ms = _millis(local - tst.gen_time)
    round_trip_ms = _millis(after - before)
    evidence: dict[str, JSONValue] = {
        "tsa_url": f"{base}/tsa",
        "local_time": format_utc(local),
        "gen_time": format_utc(tst.gen_time),
        "offset_ms": offset_ms,
        "round_trip_ms": round_trip_ms,
        "tsa_accuracy_ms": None if tst.accuracy is None else _millis(tst.accuracy.total),
        "serial_number": format(tst.serial_number, "x"),
        "pass_within_ms": CLOCK_PASS_MS,
        "warn_within_ms": CLOCK_WARN_MS,
    }
    if tsa_roots:
        verified = verify_stamp(result, list(tsa_roots))
        evidence["token_verified"] = verified.ok
        if not verified.ok:
            return Finding(
                "clock_offset",
                Status.FAIL,
                "时间戳机构的探测令牌未通过验证，其时间不可信",
                "the TSA's probe token does not verify, so its time cannot be trusted",
                evidence,
            )
    return _offset_finding(offset_ms, round_trip_ms, evidence)


def _offset_finding(offset_ms: int, round_trip_ms: int, evidence: dict[str, JSONValue]) -> Finding:
    """PASS within ``CLOCK_PASS_MS`` of the TSA's clock, WARN within ``CLOCK_WARN_MS``."""
    size = abs(offset_ms)
    ahead_zh = "快" if offset_ms > 0 else "慢"
    ahead_en = "ahead of" if offset_ms > 0 else "behind"
    if size <= CLOCK_PASS_MS:
        status = Status.PASS
    elif size <= CLOCK_WARN_MS:
        status = Status.WARN
    else:
        status = Status.FAIL
    return Finding(
        "clock_offset",
        status,
        f"本机时钟比时间戳机构{ahead_zh} {size} 毫秒（往返 {round_trip_ms} 毫秒）",
        f"the local clock is {size} ms {ahead_en} the TSA's (round trip {round_trip_ms} ms)",
        evidence,
    )


def _millis(delta: dt.timedelta) -> int:
    """Whole milliseconds, rounded half away from zero, without going through a float."""
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    sign = -1 if micros < 0 else 1
    return sign * ((abs(micros) + 500) // 1000)
