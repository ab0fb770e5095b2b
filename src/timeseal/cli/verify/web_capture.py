"""``timeseal verify DIR`` for a web capture directory (``capture.json`` of format
``timeseal-web-capture/1`` inside).

Reads the directory and hands it to
:func:`timeseal.core.capture_verify.verify_capture_directory`. The vault's case package that
``capture web --upload`` downloads beside the files (``package.zip``) is no file of the
capture itself: when present it is verified as ``timeseal verify package.zip`` would, and its
sections join the report under ``package.zip ›``. Exits with the verdict's status.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Final

from cryptography import x509

from timeseal.cli.verify import report
from timeseal.core.capture_verify import (
    METADATA,
    WEB_CAPTURE_FORMAT,
    Opener,
    verify_capture_directory,
)
from timeseal.core.errors import MalformedError
from timeseal.core.package import PackageReport, Section, verify_package
from timeseal.core.package.canonical import parse_canonical_json
from timeseal.core.tlog import VerifierKey
from timeseal.core.verdict import Severity
from timeseal.core.verification import Check

#: Where ``capture web --upload`` puts the vault's case package of the capture.
PACKAGE_ZIP: Final = "package.zip"
_NESTED: Final = " › "


def is_web_capture(directory: Path) -> bool:
    """A directory whose capture.json says it is a web capture (as far as it parses)."""
    try:
        doc, _ = parse_canonical_json((directory / METADATA).read_bytes())
    except (OSError, MalformedError):
        return False
    return isinstance(doc, dict) and doc.get("format") == WEB_CAPTURE_FORMAT


def _files(directory: Path) -> dict[str, Path]:
    """Every regular file below ``directory`` by relative POSIX path (symlinks count as files
    of their own name: a link where a capture wrote a file is an added file)."""
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() or path.is_symlink():
            found[path.relative_to(directory).as_posix()] = path
    return found


def _opener(path: Path) -> Opener:
    return lambda: path.open("rb")


def capture_lines(result: PackageReport) -> list[str]:
    """The text report: a sound file takes one line with its token time; anything else, and
    the case package's sections, as ``timeseal verify PACKAGE.zip`` prints them."""
    times = dict(result.tst_infos)
    lines: list[str] = []
    rest: list[Section] = []
    for section in result.sections:
        first = section.result.checks[0].check if section.result.checks else None
        if section.result.ok and first is Check.FILE_PRESENT and section.subject in times:
            when = report.format_time(times[section.subject].gen_time)
            lines.append(
                f"✓ {section.subject}: 大小、SHA-256 与时间戳一致 size, SHA-256 and token match"
                f" — 时间 Time: {when}"
            )
        else:
            rest.append(section)
    others = PackageReport(tuple(rest), result.notices, None, result.tst_infos, result.reasons)
    return lines + report.package_lines(others)


def check_web_capture(
    directory: Path, roots: list[x509.Certificate], log_key: VerifierKey | None
) -> PackageReport:
    """The capture's report, with the package's sections when ``package.zip`` is there."""
    files = _files(directory)
    package = files.pop(PACKAGE_ZIP, None)
    result = verify_capture_directory({n: _opener(p) for n, p in files.items()}, roots)
    if package is None:
        return result
    from timeseal.core.pdf_signature import certificate_signature_check

    with package.open("rb") as f:
        nested = verify_package(
            f, roots=roots, log_key=log_key, certificate_check=certificate_signature_check
        )
    sections = tuple(
        Section(f"{PACKAGE_ZIP}{_NESTED}{s.subject}", s.result) for s in nested.sections
    )
    nested_reasons = tuple(
        dataclasses.replace(r, subject=f"{PACKAGE_ZIP}{_NESTED}{r.subject}")
        for r in nested.assessment.findings
        if r.severity is not Severity.FAILURE
    )
    return PackageReport(
        result.sections + sections,
        result.notices + tuple(f"{PACKAGE_ZIP}: {n}" for n in nested.notices),
        None,
        result.tst_infos + tuple((f"{PACKAGE_ZIP}{_NESTED}{s}", t) for s, t in nested.tst_infos),
        result.reasons + nested_reasons,
    )


def verify_web_capture(
    directory: Path,
    roots: list[x509.Certificate],
    log_key: VerifierKey | None,
    as_json: bool,
) -> None:
    """Print the report and exit with the verdict's status (3: the capture is incomplete)."""
    try:
        result = check_web_capture(directory, roots, log_key)
    except OSError as exc:
        report.unreadable(directory, f"cannot read {directory}: {exc}", as_json)
    body = {"directory": str(directory), **report.package_json(result), "kind": "web-capture"}
    lines = capture_lines(result) if not as_json else []
    heading = f"网页取证 Web capture: {directory}"
    report.emit(result.assessment, as_json, body, heading, lines)
