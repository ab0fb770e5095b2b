"""What ``verify_package`` returns: checks grouped by subject, plus notices for people."""

from __future__ import annotations

from dataclasses import dataclass

from timeseal.core.package.manifest import Manifest
from timeseal.core.tsp.response import TSTInfo
from timeseal.core.verdict import Assessment, Finding, assess, capture_findings, failed_checks
from timeseal.core.verification import Check, VerificationResult


@dataclass(frozen=True, slots=True)
class Section:
    """The checks about one subject: ``package``, a file path, or an evidence number."""

    subject: str
    result: VerificationResult


@dataclass(frozen=True, slots=True)
class PackageReport:
    """Everything ``verify_package`` found. ``ok`` needs every section to pass;
    ``assessment`` is the verdict (:mod:`timeseal.core.verdict`), from the failed checks,
    ``reasons`` (gaps and warnings the verifier found, e.g. a self-supplied root) and what
    each item's capture metadata says of itself."""

    sections: tuple[Section, ...]
    notices: tuple[str, ...] = ()
    manifest: Manifest | None = None
    tst_infos: tuple[tuple[str, TSTInfo], ...] = ()  # (subject, TSTInfo) of tokens that parsed
    reasons: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.sections) and all(s.result.ok for s in self.sections)

    @property
    def assessment(self) -> Assessment:
        failures = [f for s in self.sections for f in failed_checks(s.subject, s.result)]
        reasons = list(self.reasons)
        for item in self.manifest.items if self.manifest is not None else ():
            reasons += capture_findings(item.number, item.capture)
        checked = any(s.result.checks for s in self.sections)
        return assess(failures, reasons, checked=checked)

    @property
    def failed(self) -> tuple[tuple[str, Check], ...]:
        """(subject, check) of every failed check, in report order."""
        return tuple((s.subject, c) for s in self.sections for c in s.result.failed)

    def section(self, subject: str) -> Section | None:
        return next((s for s in self.sections if s.subject == subject), None)
