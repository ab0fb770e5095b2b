"""The one line at the end of a test session that says which groups of tests did not run for
want of a service (PostgreSQL, S3) and how to run them. Outside CI those tests skip, each
with its reason, which is easy to miss among the other lines; CI (.ci/run) sets both."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from tests.support.postgres import POSTGRES_URL_ENV
from tests.support.s3 import S3_URL_ENV

#: (name, the skip reason's start, how to run them).
GROUPS = (
    (
        "PostgreSQL",
        f"{POSTGRES_URL_ENV} is not set",
        f"{POSTGRES_URL_ENV}=postgresql+psycopg://USER@HOST:5432/DB",
    ),
    (
        "S3",
        f"{S3_URL_ENV} is not set",
        f"{S3_URL_ENV}=auto (starts a moto server)",
    ),
)


class SkipReport(Protocol):
    @property
    def nodeid(self) -> str: ...
    @property
    def longrepr(self) -> object: ...


def _reason(report: SkipReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return ""


def skipped_groups_line(skipped: Iterable[SkipReport]) -> str | None:
    """``"not run: 12 PostgreSQL tests (set …), 3 S3 tests (set …)"``, or None when no test
    was skipped for want of a service."""
    counts: dict[str, set[str]] = {}
    for report in skipped:
        reason = _reason(report)
        for name, start, _ in GROUPS:
            if reason.startswith(start):
                counts.setdefault(name, set()).add(report.nodeid)
    parts = [
        f"{len(counts[name])} {name} tests (set {how})" for name, _, how in GROUPS if name in counts
    ]
    if not parts:
        return None
    return "not run: " + ", ".join(parts) + "; .ci/run sets both"
