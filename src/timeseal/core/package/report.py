"""What ``verify_package`` returns: checks grouped by subject, plus notices for people."""

from __future__ import annotations

from dataclasses import dataclass

from timeseal.core.package.manifest import Manifest
from timeseal.core.tsp.response import TSTInfo
from timeseal.core.verification import Check, VerificationResult


@dataclass(frozen=True, slots=True)
class Section:
    """The checks about one subject: ``package``, a file path, or an evidence number."""

    subject: str
    result: VerificationResult


@dataclass(frozen=True, slots=True)
class PackageReport:
    """Everything ``verify_package`` found. ``ok`` needs every section to pass."""

    sections: tuple[Section, ...]
    notices: tuple[str, ...] = ()
    manifest: Manifest | None = None
    tst_infos: tuple[tuple[str, TSTInfo], ...] = ()  # (subject, TSTInfo) of tokens that parsed

    @property
    def ok(self) -> bool:
        return bool(self.sections) and all(s.result.ok for s in self.sections)

    @property
    def failed(self) -> tuple[tuple[str, Check], ...]:
        """(subject, check) of every failed check, in report order."""
        return tuple((s.subject, c) for s in self.sections for c in s.result.failed)

    def section(self, subject: str) -> Section | None:
        return next((s for s in self.sections if s.subject == subject), None)
