"""The verdict of a verification: four levels, and the findings (by code) that set it.

Every verifier (packages, recordings, web capture directories, a file and its token) ends
in one :class:`Assessment`. Its verdict is, in this order:

(1) ``invalid``              a check failed (a :class:`~timeseal.core.verification.Check`
                             with status FAIL not excused below), or the input could not be
                             read at all (:attr:`Reason.UNREADABLE`), or nothing was checked
(2) ``incomplete``           what is there is sound, but the evidence is not all there: a
                             recording cut off part-way, a capture that stopped with an error
                             or lacks an output its metadata lists, a target that answered an
                             HTTP error (4xx/5xx)
(3) ``valid_with_warnings``  sound and complete, but trusted less than fully: the trust root
                             or log key was taken from the evidence itself, the TSA's clock
                             was only vouched for locally, the environment check was forced,
                             the manifest was timestamped long before or after its sealing
(4) ``valid``                everything checked and passed

A gap may *excuse* failed checks of its own subject that only restate it (a listed file
that is missing also fails FILE_PRESENT and, having no bytes, IMPRINT_MATCHES). Consumer
wording for every code is in :mod:`timeseal.core.failure_text`. Exit codes (DESIGN.md): 0
valid and valid_with_warnings, 1 invalid, 3 incomplete (2 is a usage error, no verdict).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from timeseal.core.verification import Check, Status, VerificationResult


class Verdict(enum.Enum):
    VALID = "valid"
    VALID_WITH_WARNINGS = "valid_with_warnings"
    INCOMPLETE = "incomplete"
    INVALID = "invalid"

    @property
    def exit_code(self) -> int:
        """The process exit status ``timeseal verify`` ends with."""
        return _EXIT[self]


_EXIT = {
    Verdict.VALID: 0,
    Verdict.VALID_WITH_WARNINGS: 0,
    Verdict.INCOMPLETE: 3,
    Verdict.INVALID: 1,
}


class Severity(enum.Enum):
    FAILURE = "failure"  # makes the verdict invalid
    GAP = "incomplete"  # makes it incomplete
    WARNING = "warning"  # makes it valid_with_warnings


class Reason(enum.Enum):
    """Findings that are not a failed check, each with one severity (:data:`SEVERITY`)."""

    UNREADABLE = "unreadable"  # the input is no evidence this verifier can read
    NOTHING_CHECKED = "nothing_checked"  # a verifier ran no check at all
    CUT_OFF = "cut_off"  # a recording stopped part-way (sealed through segment N)
    CAPTURE_STOPPED = "capture_stopped"  # capture metadata: completed false (an error)
    OUTPUT_MISSING = "output_missing"  # an output the capture metadata lists is not there
    TARGET_ERROR = "target_error"  # the captured page answered HTTP 4xx/5xx
    SELF_SUPPLIED_ROOT = "self_supplied_root"  # TSA root taken from the evidence itself
    SELF_SUPPLIED_LOG_KEY = "self_supplied_log_key"  # log key taken from the evidence
    LOCAL_CLOCK_TSA = "local_clock_tsa"  # the TSA's time source is its own local clock
    FORCED_ENVIRONMENT = "forced_environment"  # the environment check failed, then forced
    TIMES_DISAGREE = "times_disagree"  # the manifest's token is far from its sealing time


SEVERITY: dict[Reason, Severity] = {
    Reason.UNREADABLE: Severity.FAILURE,
    Reason.NOTHING_CHECKED: Severity.FAILURE,
    Reason.CUT_OFF: Severity.GAP,
    Reason.CAPTURE_STOPPED: Severity.GAP,
    Reason.OUTPUT_MISSING: Severity.GAP,
    Reason.TARGET_ERROR: Severity.GAP,
    Reason.SELF_SUPPLIED_ROOT: Severity.WARNING,
    Reason.SELF_SUPPLIED_LOG_KEY: Severity.WARNING,
    Reason.LOCAL_CLOCK_TSA: Severity.WARNING,
    Reason.FORCED_ENVIRONMENT: Severity.WARNING,
    Reason.TIMES_DISAGREE: Severity.WARNING,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason for the verdict: about ``subject`` (a file, an evidence number,
    ``package``), by ``code``, with the technical ``detail`` for experts. ``excuses``: checks
    of the same subject that fail only because of this finding (gaps only)."""

    subject: str
    code: Check | Reason
    detail: str = ""
    excuses: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        if self.excuses and self.severity is not Severity.GAP:
            raise ValueError("only a gap can excuse failed checks")

    @property
    def severity(self) -> Severity:
        return Severity.FAILURE if isinstance(self.code, Check) else SEVERITY[self.code]


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict and every finding behind it: failures in report order, then gaps, then
    warnings. ``first`` is what the report's first line names."""

    verdict: Verdict
    findings: tuple[Finding, ...]

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def of(self, severity: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is severity)


def failed_checks(subject: str, result: VerificationResult) -> list[Finding]:
    """A finding per FAIL check of ``result``, about ``subject``."""
    return [Finding(subject, c.check, c.detail) for c in result.checks if c.status is Status.FAIL]


def assess(
    failures: Iterable[Finding], reasons: Iterable[Finding] = (), *, checked: bool = True
) -> Assessment:
    """The verdict from ``failures`` (failed checks) and ``reasons`` (any severity), as the
    module docstring orders them. ``checked`` False: no check ran (invalid)."""
    reasons = tuple(reasons)
    excused = {(r.subject, c) for r in reasons for c in r.excuses}
    kept = [f for f in failures if (f.subject, f.code) not in excused]
    if not checked:
        kept.append(Finding("", Reason.NOTHING_CHECKED))
    kept += [r for r in reasons if r.severity is Severity.FAILURE]
    gaps = [r for r in reasons if r.severity is Severity.GAP]
    warnings = [r for r in reasons if r.severity is Severity.WARNING]
    if kept:
        verdict = Verdict.INVALID
    elif gaps:
        verdict = Verdict.INCOMPLETE
    elif warnings:
        verdict = Verdict.VALID_WITH_WARNINGS
    else:
        verdict = Verdict.VALID
    return Assessment(verdict, (*kept, *gaps, *warnings))


def capture_findings(subject: str, capture: Mapping[str, object]) -> list[Finding]:
    """What a capture's own metadata (a ``capture.json``, or a package item's ``capture``)
    says about its completeness and trust: ``completed`` false (with its ``error``), the
    page's ``network.final_status`` 4xx/5xx, ``environment_check.forced`` (``environment``
    in older captures). Unknown or absent fields say nothing."""
    found: list[Finding] = []
    if capture.get("completed") is False:
        error = capture.get("error")
        found.append(Finding(subject, Reason.CAPTURE_STOPPED, str(error or "completed: false")))
    network = capture.get("network")
    status = network.get("final_status") if isinstance(network, Mapping) else None
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        url = capture.get("final_url") or capture.get("target_url") or ""
        found.append(Finding(subject, Reason.TARGET_ERROR, f"HTTP {status} {url}".strip()))
    env = capture.get("environment_check", capture.get("environment"))
    if isinstance(env, Mapping) and env.get("forced") is True:
        overall = env.get("overall", "")
        found.append(Finding(subject, Reason.FORCED_ENVIRONMENT, f"forced: true, {overall}"))
    return found
