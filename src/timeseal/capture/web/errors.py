"""Errors of the web capture.

::

    WebCaptureError          the capture could not be made (browser, network, TLS, output)
     ├─ StepsError           the steps file is wrong; raised before anything is launched
     └─ EnvironmentRefused   the environment check failed (no --force); nothing was launched
"""

from __future__ import annotations

from timeseal.capture.environment.report import EnvironmentCheckFailed, EnvironmentReport
from timeseal.capture.errors import CaptureError


class WebCaptureError(CaptureError):
    """The capture could not be made; the message says why, 中文 first, then English."""


class StepsError(WebCaptureError):
    """A steps file that cannot be run. ``line`` (1-based) and ``step`` (1-based index in the
    list, ``None`` for the file as a whole) say where, so the person can fix it at once."""

    def __init__(self, message: str, *, line: int | None = None, step: int | None = None) -> None:
        self.line = line
        self.step = step
        where = []
        if line is not None:
            where.append(f"第 {line} 行 line {line}")
        if step is not None:
            where.append(f"第 {step} 步 step {step}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)
        self.detail = message


class EnvironmentRefused(WebCaptureError):
    """The environment check failed and the capture was not forced. ``report`` is the full
    report, so the caller can show which checks failed."""

    def __init__(self, failed: EnvironmentCheckFailed) -> None:
        super().__init__(str(failed))
        self.report: EnvironmentReport = failed.report
