"""The environment check as every ``timeseal capture`` command runs it, before it records.

One gate for screen, camera, photo and file captures (web capture runs the same check inside
:mod:`timeseal.capture.web`, and reports it with :func:`summary_lines` and :func:`stopped`):
:func:`run_environment_check` with the capture's server (the clock against its TSA) and its
target where there is one, a short summary on the terminal, and the full report back for the
capture's metadata. A ``fail`` stops the capture with exit 2
before anything is recorded, unless ``--force``; a forced report says ``"forced": true`` and,
sealed in the metadata, says so forever. Offline the clock cannot be checked: that is a
``warn`` naming why, never a stop, so an offline capture still works.
"""

from __future__ import annotations

import typer

from timeseal.capture.environment.check import (
    EnvironmentCheckFailed,
    EnvironmentReport,
    Probes,
    Status,
    run_environment_check,
)
from timeseal.cli.env_check_cmd import VERDICTS, finding_lines
from timeseal.core.package.canonical import JSONValue

#: The exit code of a capture the environment check stopped (as for a usage error: the
#: person must change something, or say ``--force``, before anything is recorded).
STOPPED_EXIT = 2


def default_probes() -> Probes:
    """Where the checks look: the real machine. Tests replace this (a shifted clock)."""
    return Probes()


def check_environment(
    server: str | None, *, force: bool, target: str | None = None
) -> dict[str, JSONValue]:
    """Run the check, print its summary (the findings that did not pass, 中文 then English),
    and return the report as the capture records it under ``environment_check``. Raises
    ``typer.Exit(2)`` with a bilingual error when a check failed and ``force`` is not set."""
    try:
        report = run_environment_check(target, server, force=force, probes=default_probes())
    except EnvironmentCheckFailed as exc:
        raise stopped(exc.report, str(exc)) from None
    for line in summary_lines(report):
        typer.echo(line)
    recorded: dict[str, JSONValue] = dict(report.to_json())
    return recorded


def stopped(report: EnvironmentReport, message: str) -> typer.Exit:
    """Say why the check stopped the capture (the failed findings, then ``message``, the
    bilingual error) on stderr; the exit to raise."""
    for line in summary_lines(report):
        typer.echo(line, err=True)
    typer.echo(f"✗ {message}", err=True)
    return typer.Exit(STOPPED_EXIT)


def summary_lines(report: EnvironmentReport) -> list[str]:
    """The short summary: the verdict, each finding that did not pass, what was not checked."""
    forced = "（已强制继续 forced）" if report.forced else ""
    lines = [f"环境检查 Environment check: {VERDICTS[report.overall]}{forced}"]
    for finding in report.findings:
        if finding.status is not Status.PASS:
            lines.extend(f"  {line}" for line in finding_lines(finding))
    if report.skipped:
        lines.append(f"  - 未检查 Not checked: {', '.join(report.skipped)}")
    return lines
