"""What verifying a live-sealed recording found: each segment, each head token, and where
the chain stops (:func:`timeseal.core.segment_verify.verify_segment_chain` builds it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from timeseal.core.package.report import Section
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
    """Everything ``verify_segment_chain`` found. ``ok`` needs every section to pass."""

    sections: tuple[Section, ...]
    segments: tuple[SegmentStatus, ...] = ()
    tokens: tuple[TokenStatus, ...] = ()
    finished: bool = False
    sealed_through: int | None = None  # index of the last sealed segment
    unsealed: tuple[str, ...] = ()  # chained after the last token: closed, not proven
    tail: tuple[str, ...] = ()  # segment files after the chain: unfinished, not proven
    notices: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.sections) and all(s.result.ok for s in self.sections)

    @property
    def failed(self) -> tuple[tuple[str, Check], ...]:
        return tuple((s.subject, c) for s in self.sections for c in s.result.failed)

    def section(self, subject: str) -> Section | None:
        return next((s for s in self.sections if s.subject == subject), None)
