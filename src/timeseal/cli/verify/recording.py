"""``timeseal verify DIR`` for a live-sealed recording directory (chain.jsonl inside), and
``timeseal verify chain.zip`` for the same directory as a ZIP (what the server's
``/api/v1/recordings/{id}/chain.zip`` serves).

Reads the directory, hands the bytes to ``timeseal.core.segment_verify.verify_segment_chain``
and prints the bilingual report: each segment, each head token, where the chain stops.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from cryptography import x509

from timeseal.cli.verify import report
from timeseal.cli.verify.trust import check_token_over
from timeseal.core.errors import MalformedError
from timeseal.core.package.report import Section
from timeseal.core.segment_chain import parse_segment_chain
from timeseal.core.segment_report import SegmentChainReport
from timeseal.core.segment_verify import verify_segment_chain
from timeseal.core.tsp.response import parse_response
from timeseal.core.verdict import Finding, capture_findings
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult


def _opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: path.open("rb")


def _capture_section(
    directory: Path, roots: list[x509.Certificate], name: str = "capture.json"
) -> Section | None:
    """``name`` (capture.json, when the recording finished and sealed it; capture-start.json,
    sealed as it started) against its token, when both are there."""
    meta, token = directory / name, directory / f"{name}.tsr"
    if not (meta.is_file() and token.is_file()):
        return None
    try:
        response = parse_response(token.read_bytes())
    except MalformedError as exc:
        return Section(
            name,
            VerificationResult((CheckResult(Check.TOKEN_PARSES, Status.FAIL, str(exc)),)),
        )
    checked = check_token_over(response, meta, roots)
    passed = CheckResult(Check.TOKEN_PARSES, Status.PASS)
    return Section(name, VerificationResult((passed, *checked.checks)))


def check_recording(directory: Path, roots: list[x509.Certificate]) -> SegmentChainReport:
    """Verify a recording directory (the recorder's layout, docs/segment-chain.md)."""
    chain = (directory / "chain.jsonl").read_bytes()
    segments_dir, tokens_dir = directory / "segments", directory / "tokens"
    segments = (
        {p.name: _opener(p) for p in sorted(segments_dir.glob("*")) if p.is_file()}
        if segments_dir.is_dir()
        else {}
    )
    tokens = {p.name: p.read_bytes() for p in sorted(tokens_dir.glob("*.tsr"))}
    recording = None
    try:
        end = parse_segment_chain(chain).end
    except MalformedError:
        end = None
    if end is not None and (directory / end.name).is_file():
        recording = _opener(directory / end.name)
    result = verify_segment_chain(segments, chain, tokens, roots, recording=recording)
    metadata = [
        section
        for name in ("capture-start.json", "capture.json")
        if (section := _capture_section(directory, roots, name)) is not None
    ]
    reasons = tuple(
        finding
        for name in ("capture-start.json", "capture.json")
        for finding in _metadata_findings(directory, name)
    )
    if not metadata:
        return dataclasses.replace(result, reasons=result.reasons + reasons)
    sections = (*result.sections[:-1], *metadata, result.sections[-1])
    return SegmentChainReport(
        sections,
        result.segments,
        result.tokens,
        result.finished,
        result.sealed_through,
        result.unsealed,
        result.tail,
        result.notices,
        result.reasons + reasons,
    )


def _metadata_findings(directory: Path, name: str) -> list[Finding]:
    """What the recording's own metadata says of itself (a forced environment check)."""
    try:
        doc = json.loads((directory / name).read_bytes())
    except (OSError, ValueError):
        return []
    return capture_findings(name, doc) if isinstance(doc, dict) else []


def recording_json(result: SegmentChainReport) -> dict[str, Any]:
    """The ``--json`` body (``valid``: every check passed; the verdict comes with it)."""
    return {
        "valid": result.ok,
        "kind": "recording",
        "finished": result.finished,
        "sealed_through": result.sealed_through,
        "unsealed": list(result.unsealed),
        "tail": list(result.tail),
        "notices": list(result.notices),
        "failed": [{"subject": s, "check": c.value} for s, c in result.failed],
        "segments": [
            {
                "index": s.index,
                "name": s.name,
                "size": s.size,
                "sha256": s.sha256.hex(),
                "link": s.link.hex(),
                "sealed_by": s.sealed_by,
                "sealed_at": None if s.sealed_at is None else s.sealed_at.isoformat(),
            }
            for s in result.segments
        ],
        "tokens": [
            {
                "name": t.name,
                "head_index": t.head_index,
                "gen_time": None if t.gen_time is None else t.gen_time.isoformat(),
                "valid": t.ok,
            }
            for t in result.tokens
        ],
        "sections": [
            {"subject": s.subject, "valid": s.result.ok, "checks": report.result_json(s.result)}
            for s in result.sections
        ],
    }


def recording_lines(result: SegmentChainReport) -> list[str]:
    """One line per sound segment (with its seal), the token times, then where it stops."""
    by_name = {s.name: s for s in result.segments}
    times = {t.name: t.gen_time for t in result.tokens}
    heads = {t.name: t.head_index for t in result.tokens if t.head_index is not None}
    lines: list[str] = []
    for section in result.sections:
        ok = section.result.ok
        mark = "✓" if ok else "✗"
        seg = by_name.get(section.subject)
        if ok and seg is not None:
            seal = (
                f"已固定 sealed by {seg.sealed_by}"
                if seg.sealed_by
                else "未固定 not sealed (after the last token)"
            )
            lines.append(
                f"{mark} 片段 segment {seg.index} {seg.name} {seg.size} bytes "
                f"SHA-256 {seg.sha256.hex()[:16]}… {seal}"
            )
            continue
        name = section.subject.removeprefix("tokens/")
        gen_time = times.get(name)
        when = "" if gen_time is None else f" 时间 Time: {report.format_time(gen_time)}"
        if ok and name in heads:
            lines.append(f"{mark} 时间戳 token {name} → link[{heads[name]}]{when}")
            continue
        lines.append(f"{mark} {section.subject}{when}")
        if section.subject == "stop":
            detail = section.result.checks[0].detail
            lines.append(f"  停止位置 where the chain stops: {detail}")
        lines.extend(report.result_lines(section.result))
    lines.extend(f"! {notice}" for notice in result.notices)
    if result.failed:
        failed = "; ".join(f"{subject}: {check.value}" for subject, check in result.failed)
        lines.append(f"失败项 Failed: {failed}")
    return lines


#: Members of a recording ZIP that are read: the layout of docs/segment-chain.md, plain names
#: one folder deep at most (anything else, ``..`` included, is left out, never extracted).
_MEMBER = re.compile(r"(?:(?:segments|tokens|certs)/)?[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def is_recording_zip(path: Path) -> bool:
    """A ZIP with chain.jsonl at its root (and no manifest.json: that is a package)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {i.filename for i in archive.infolist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return "chain.jsonl" in names and "manifest.json" not in names


def verify_recording_zip(path: Path, roots: list[x509.Certificate], as_json: bool) -> None:
    """Unpack the recording directory's files into a private temporary directory and verify
    it there. Prints the report and exits with the verdict's status (a ZIP that breaks
    while unpacking: unreadable, 1)."""
    with tempfile.TemporaryDirectory(prefix="timeseal-recording-") as scratch:
        directory = Path(scratch)
        try:
            _unpack(path, directory)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            report.unreadable(path, f"cannot unpack {path}: {exc}", as_json)
        verify_recording(directory, roots, as_json, shown_as=path)


def _unpack(path: Path, directory: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or not _MEMBER.fullmatch(info.filename):
                continue
            target = directory / info.filename
            target.parent.mkdir(exist_ok=True)
            with archive.open(info) as source, target.open("wb") as sink:
                while piece := source.read(1 << 20):
                    sink.write(piece)


def verify_recording(
    directory: Path, roots: list[x509.Certificate], as_json: bool, *, shown_as: Path | None = None
) -> None:
    """Print the report and exit with the verdict's status (3: cut off part-way)."""
    result = check_recording(directory, roots)
    directory = shown_as or directory
    body = {"directory": str(directory), **recording_json(result)}
    lines = recording_lines(result) if not as_json else []
    report.emit(result.assessment, as_json, body, f"录像 Recording: {directory}", lines)
