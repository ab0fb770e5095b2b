"""What verifying a live-sealed recording found: each segment, each head token, and where
the chain stops (:func:`timeseal.core.segment_verify.verify_segment_chain` builds it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from timeseal.core.package.report import Section
from timeseal.core.verdict import Assessment, Finding, Reason, assess, failed_checks
from timeseal.core.verification import Check


@dataclass(frozen=True, slots=True)
class SegmentStatus:
    """What the chain says about one segment, and which token seals it (the earliest)."""

    index: int
    name: str
    size: int
    sha256: bytes
    link: bytes
    sealed_by: str | None = None
    sealed_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """One head token: the link it covers (``head_index``; ``segments`` count for the end
    link) and its time, when it verified."""

    name: str
    head_index: int | None
    gen_time: dt.datetime | None
    ok: bool


@dataclass(frozen=True, slots=True)
class SegmentChainReport:
    """Everything ``verify_segment_chain`` found. ``ok`` needs every section to pass;
    ``assessment`` is the verdict: a sound recording that did not finish is incomplete
    (:attr:`~timeseal.core.verdict.Reason.CUT_OFF`), and ``reasons`` adds what its capture
    metadata says (e.g. a forced environment check)."""

    sections: tuple[Section, ...]
    segments: tuple[SegmentStatus, ...] = ()
    tokens: tuple[TokenStatus, ...] = ()
    finished: bool = False
    sealed_through: int | None = None  # index of the last sealed segment
    unsealed: tuple[str, ...] = ()  # chained after the last token: closed, not proven
    tail: tuple[str, ...] = ()  # segment files after the chain: unfinished, not proven
    notices: tuple[str, ...] = ()
    reasons: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.sections) and all(s.result.ok for s in self.sections)

    @property
    def assessment(self) -> Assessment:
        failures = [f for s in self.sections for f in failed_checks(s.subject, s.result)]
        reasons = list(self.reasons)
        if not self.finished:
            stop = self.section("stop")
            detail = stop.result.checks[0].detail if stop and stop.result.checks else ""
            reasons.insert(0, Finding("stop", Reason.CUT_OFF, detail or "not finished"))
        checked = any(s.result.checks for s in self.sections)
        return assess(failures, reasons, checked=checked)

    @property
    def failed(self) -> tuple[tuple[str, Check], ...]:
        return tuple((s.subject, c) for s in self.sections for c in s.result.failed)

    def section(self, subject: str) -> Section | None:
        return next((s for s in self.sections if s.subject == subject), None)
