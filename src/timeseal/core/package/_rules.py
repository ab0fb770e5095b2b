"""Small pure helpers of the package verifier: a check list, the capture-window and seal-time
rules, how a wrong log entry is described, and certificate fingerprints as people compare
them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509

from timeseal.core.package import layout
from timeseal.core.package.manifest import ManifestItem
from timeseal.core.pki import sha256_fingerprint
from timeseal.core.tsp.response import TSTInfo
from timeseal.core.verdict import Finding, Reason
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult


def capture_window(item: ManifestItem, tst: TSTInfo) -> tuple[Check, bool, str]:
    """RFC 3161 §2.4.2: the true time is within genTime ± accuracy, so a token over the
    captured bytes cannot be earlier than capture start minus the accuracy."""
    if item.capture_window is None:
        raise AssertionError("capture_window called for an item without a window")
    return not_before_start(item.capture_window.start, tst)


def not_before_start(start: dt.datetime, tst: TSTInfo) -> tuple[Check, bool, str]:
    """The rule of :func:`capture_window` for a capture start given directly (a capture
    directory's ``capture.json``)."""
    accuracy = tst.accuracy.total if tst.accuracy is not None else dt.timedelta(0)
    ok = tst.gen_time + accuracy >= start
    detail = f"genTime {tst.gen_time.isoformat()} ± {accuracy}, capture start {start.isoformat()}"
    return Check.CAPTURE_WINDOW, ok, detail if ok else "token predates capture: " + detail


#: How far the manifest's token may lie from ``sealed_at``: the server stamps the manifest
#: the moment it seals it, so minutes apart means the token was obtained some other time.
SEAL_TOLERANCE = dt.timedelta(minutes=5)


def seal_time_finding(sealed_at: dt.datetime, tst: TSTInfo) -> Finding | None:
    """A warning when the manifest token's genTime (± its accuracy) is more than
    :data:`SEAL_TOLERANCE` from the manifest's own ``sealed_at``."""
    accuracy = tst.accuracy.total if tst.accuracy is not None else dt.timedelta(0)
    apart = abs(tst.gen_time - sealed_at) - accuracy
    if apart <= SEAL_TOLERANCE:
        return None
    detail = (
        f"genTime {tst.gen_time.isoformat()} ± {accuracy}, sealed_at {sealed_at.isoformat()}: "
        f"{apart} apart, more than {SEAL_TOLERANCE}"
    )
    return Finding(layout.MANIFEST_TOKEN, Reason.TIMES_DISAGREE, detail)


def entry_difference(found: bytes, expected: bytes) -> str:
    """Which lines of the proof's ``extra`` entry differ from the entry rebuilt for the item."""
    try:
        got_lines = found.decode("ascii").splitlines()
    except UnicodeDecodeError:
        return "the proof's entry is not ASCII"
    want_lines = expected.decode("ascii").splitlines()
    diffs = [f"{g!r} != {w!r}" for g, w in zip(got_lines, want_lines, strict=False) if g != w]
    if len(got_lines) != len(want_lines):
        diffs.append(f"{len(got_lines)} lines, expected {len(want_lines)}")
    return "the proof's entry is not this item's: " + "; ".join(diffs)


def fingerprint(cert: x509.Certificate) -> str:
    """``subject SHA256 AB:CD:…``, as ``openssl x509 -fingerprint -sha256`` prints it."""
    return f"{cert.subject.rfc4514_string()} SHA256 {sha256_fingerprint(cert)}"


class Checks:
    """Check results in the order they are added."""

    def __init__(self) -> None:
        self.results: list[CheckResult] = []

    def add(self, check: Check, ok: bool, detail: str = "") -> bool:
        self.results.append(CheckResult(check, Status.PASS if ok else Status.FAIL, detail))
        return ok

    def skip(self, checks: Sequence[Check], because: Check) -> None:
        for check in checks:
            self.results.append(CheckResult(check, Status.SKIPPED, f"needs {because.value}"))

    def extend(self, result: VerificationResult) -> None:
        self.results.extend(result.checks)

    def result(self) -> VerificationResult:
        return VerificationResult(tuple(self.results))
