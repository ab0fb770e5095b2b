"""The environment check's report: named findings with pass / warn / fail and their evidence.

A court asks whether the capturing device was clean and the network real. The report is the
answer we keep: it goes, as it is, into the capture metadata, which is canonical JSON with
integers only. So a :class:`Finding` refuses floats at construction (write offsets as integer
milliseconds and decimals as strings), and :meth:`EnvironmentReport.to_json` gives only
strings, integers, booleans, ``None``, lists and objects.

A ``fail`` stops a capture. The person may go on with ``--force``; then the report says
``"forced": true`` and, being part of the sealed metadata, says so forever
(:func:`require_clean`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from timeseal.capture.errors import CaptureError

#: A value that canonical JSON with integers only can carry.
JSONValue = str | int | bool | None | list["JSONValue"] | dict[str, "JSONValue"]

REPORT_FORMAT = "timeseal-environment-report/1"


class Status(enum.Enum):
    """Ordered by severity: the report's overall status is its worst finding's."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


class EnvironmentCheckFailed(CaptureError):
    """A check failed and the capture was not forced (``--force``). ``.report`` has the details."""

    def __init__(self, report: EnvironmentReport) -> None:
        self.report = report
        names = ", ".join(f.name for f in report.findings if f.status is Status.FAIL)
        super().__init__(
            f"环境检查未通过，取证已停止（可用 --force 强制继续，证据将被永久标记）: {names}. "
            f"The environment check failed ({names}); the capture stopped. "
            "--force goes on and marks the evidence as forced, permanently."
        )


def check_json_safe(value: object, where: str = "evidence") -> JSONValue:
    """Return ``value`` if canonical integer-only JSON can carry it, else raise ``TypeError``.

    Floats are refused on purpose: the capture metadata is canonical JSON, where a float has
    no single spelling."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, list | tuple):
        return [check_json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, JSONValue] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: key {k!r} is not a string")
            out[k] = check_json_safe(v, f"{where}.{k}")
        return out
    raise TypeError(f"{where}: {type(value).__name__} is not JSON-safe (no floats; use strings)")


@dataclass(frozen=True, slots=True)
class Finding:
    """One named check's result: what we saw (``evidence``) and what it means (zh, en)."""

    name: str
    status: Status
    summary_zh: str
    summary_en: str
    evidence: dict[str, JSONValue] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            raise TypeError(f"status must be a Status, not {type(self.status).__name__}")
        if not self.name or not self.name.isidentifier():
            raise ValueError(f"finding name {self.name!r} is not a snake_case identifier")
        safe = check_json_safe(self.evidence, f"{self.name}.evidence")
        if not isinstance(safe, dict):
            raise AssertionError("check_json_safe changed a dict's type")
        object.__setattr__(self, "evidence", safe)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "name": self.name,
            "status": self.status.value,
            "summary_zh": self.summary_zh,
            "summary_en": self.summary_en,
            "evidence": self.evidence,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> Finding:
        evidence = obj.get("evidence", {})
        if not isinstance(evidence, Mapping):
            raise ValueError("finding evidence is not an object")
        return cls(
            name=_str(obj, "name"),
            status=Status(_str(obj, "status")),
            summary_zh=_str(obj, "summary_zh"),
            summary_en=_str(obj, "summary_en"),
            evidence=dict(evidence),
        )


def overall_status(findings: Iterable[Finding]) -> Status:
    """The worst status among ``findings``; no findings at all is a pass."""
    worst = Status.PASS
    for finding in findings:
        if finding.status.severity > worst.severity:
            worst = finding.status
    return worst


@dataclass(frozen=True, slots=True)
class EnvironmentReport:
    """Every finding of one environment check, when it ran, and whether a fail was overridden.

    ``skipped`` names the checks that did not run because their input was not given (no target,
    no server), so that the report says what was *not* looked at."""

    findings: tuple[Finding, ...]
    created_at: dt.datetime
    target: str | None = None
    server: str | None = None
    skipped: tuple[str, ...] = ()
    forced: bool = False

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        # Kept to the millisecond, as written in JSON, so that a report reads back equal.
        at = self.created_at.astimezone(dt.UTC)
        object.__setattr__(
            self, "created_at", at.replace(microsecond=at.microsecond // 1000 * 1000)
        )
        names = [f.name for f in self.findings]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate finding names in {names}")

    @property
    def overall(self) -> Status:
        return overall_status(self.findings)

    def finding(self, name: str) -> Finding | None:
        return next((f for f in self.findings if f.name == name), None)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "format": REPORT_FORMAT,
            "created_at": format_utc(self.created_at),
            "overall": self.overall.value,
            "forced": self.forced,
            "target": self.target,
            "server": self.server,
            "findings": [f.to_json() for f in self.findings],
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> EnvironmentReport:
        """Read back :meth:`to_json`; ``overall`` is recomputed, and must agree."""
        if obj.get("format") != REPORT_FORMAT:
            raise ValueError(f"not a {REPORT_FORMAT} document")
        findings = obj.get("findings")
        skipped = obj.get("skipped", [])
        if not isinstance(findings, list) or not isinstance(skipped, list):
            raise ValueError("findings and skipped must be lists")
        report = cls(
            findings=tuple(Finding.from_json(f) for f in findings if isinstance(f, Mapping)),
            created_at=dt.datetime.fromisoformat(_str(obj, "created_at")),
            target=_opt_str(obj, "target"),
            server=_opt_str(obj, "server"),
            skipped=tuple(str(s) for s in skipped),
            forced=obj.get("forced") is True,
        )
        if len(report.findings) != len(findings) or report.overall.value != obj.get("overall"):
            raise ValueError("inconsistent report: findings or overall status")
        return report


def require_clean(report: EnvironmentReport, force: bool) -> EnvironmentReport:
    """The gate before every capture: returns the report the capture must write into its
    metadata, or raises :class:`EnvironmentCheckFailed`.

    With ``force`` a failed report is returned marked ``forced=True``; a report without a fail
    is returned unchanged (nothing was forced, so nothing is marked)."""
    if report.overall is not Status.FAIL:
        return report
    if not force:
        raise EnvironmentCheckFailed(report)
    return dataclasses.replace(report, forced=True)


def format_utc(t: dt.datetime) -> str:
    """ISO 8601 in UTC to the millisecond, e.g. ``2026-11-29T15:00:00.123Z``."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _str(obj: Mapping[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _opt_str(obj: Mapping[str, object], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None
