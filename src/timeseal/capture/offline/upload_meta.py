"""From a capture's ``capture.json`` to the vault's ``capture`` upload metadata.

The vault keeps one JSON object per record (tus metadata ``capture``, see
``timeseal.server.api.tus.capture_metadata``): it goes into the record, its evidence
package and its certificate. The server takes at most 64 KiB of canonical, integers-only
JSON, and the certificate reads four keys of it: ``started_at`` and ``ended_at`` (RFC 3339),
``environment_check`` and ``target_verification`` (objects whose ``verdict`` / ``status`` /
``summary`` it prints). Every kind of capture writes its own ``capture.json``; this module
maps all three shapes onto those keys, plus ``device``, ``software``, ``source``,
``location`` and ``operation_log_summary`` when the capture has them:

==============================  ===========================  ===============================
``capture.json`` ``format``     written by                   ``source.type``
==============================  ===========================  ===============================
``timeseal-web-capture/1``      ``timeseal capture web``     ``web``
``timeseal-capture/1``          ``capture screen|camera|``   its ``kind`` (``screen_recording``,
                                ``photo``                    ``camera_recording``, ``photo``)
``timeseal-file-capture/1``     ``timeseal capture file``    ``file``
==============================  ===========================  ===============================

Why shortening is needed, and how it stays honest: a web capture's environment report holds
the site's whole PEM chain, which with a long operation log can pass 64 KiB. So the mapping
(1) replaces every string longer than :data:`MAX_STRING` with a placeholder naming its length
and SHA-256, then, only if still too big, (2) each finding's ``evidence``, then (3) the bulky
top-level parts, and lists every replacement under ``omitted``. Nothing is lost: the full
``capture.json`` is itself uploaded beside the capture's files (web capture, recording), or
fits whole (file capture), and ``capture_json_sha256`` names its exact bytes.

What is *not* claimed: a file capture has no capture period (the file existed before TimeSeal
saw it), so it gets no ``started_at``/``ended_at``; its ``target_verification`` states the
"existed no later than" meaning instead, which is what its certificate then shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Final

from timeseal.capture.environment.report import JSONValue, check_json_safe
from timeseal.capture.errors import CaptureError
from timeseal.core.errors import MalformedError
from timeseal.core.package.canonical import JSONObject, format_canonical_json, parse_canonical_json

FORMAT: Final = "timeseal-vault-capture/1"
WEB_FORMAT: Final = "timeseal-web-capture/1"
AV_FORMAT: Final = "timeseal-capture/1"
FILE_FORMAT: Final = "timeseal-file-capture/1"

#: The server's limit (``MAX_CAPTURE_BYTES``); we aim lower, for the margin.
SERVER_LIMIT: Final = 64 * 1024
BUDGET: Final = 60 * 1024
#: Strings longer than this (PEM chains, page titles gone wild) are replaced when too big.
MAX_STRING: Final = 512

_VERDICTS: Final = {"pass": "通过 PASS", "warn": "有警告 WARN", "fail": "未通过 FAIL"}


class CaptureMetadataError(CaptureError, ValueError):
    """``capture.json`` is not a capture document we know, or cannot be made small enough."""


def load_capture_json(data: bytes) -> dict[str, JSONValue]:
    """Parse ``capture.json`` strictly (no floats, no duplicate keys); a JSON object."""
    try:
        value, _canonical = parse_canonical_json(data)
    except MalformedError as exc:
        raise CaptureMetadataError(f"capture.json: {exc}") from exc
    if not isinstance(value, Mapping):
        raise CaptureMetadataError("capture.json is not a JSON object")
    safe = check_json_safe(value, "capture.json")
    if not isinstance(safe, dict):
        raise AssertionError("check_json_safe changed a dict's type")
    return safe


def capture_metadata(data: bytes) -> dict[str, JSONValue]:
    """The vault ``capture`` object for the ``capture.json`` bytes ``data``: canonical-JSON
    safe and at most :data:`BUDGET` bytes. Raises :class:`CaptureMetadataError`."""
    doc = load_capture_json(data)
    kind = doc.get("format")
    if kind == WEB_FORMAT:
        full = _from_web(doc)
    elif kind == FILE_FORMAT:
        full = _from_file(doc)
    elif kind == AV_FORMAT:
        full = _from_av(doc)
    else:
        raise CaptureMetadataError(f"capture.json: unknown format {kind!r}")
    full = {"format": FORMAT, "capture_json_sha256": hashlib.sha256(data).hexdigest(), **full}
    return fit(full)


def encoded(meta: JSONObject) -> str:
    """The text sent as tus metadata ``capture`` (canonical JSON)."""
    return format_canonical_json(meta).decode("utf-8")


def size_of(meta: JSONObject) -> int:
    return len(format_canonical_json(meta))


# --- the three shapes -------------------------------------------------------------------


def _from_web(doc: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    out: dict[str, JSONValue] = {
        "source": {
            "type": "web",
            "mode": doc.get("mode"),
            "url": doc.get("target_url"),
            "final_url": doc.get("final_url"),
            "final_title": doc.get("final_title"),
        },
        "started_at": doc.get("started_at"),
        "ended_at": doc.get("ended_at"),
        "completed": doc.get("completed"),
        "error": doc.get("error"),
        "software": doc.get("software"),
        "environment_check": environment_check(_environment(doc)),
        "target_verification": _web_target(doc),
        "operation_log_summary": doc.get("operations"),
        "network": doc.get("network"),
    }
    return _present(out)


def _from_av(doc: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    source = doc.get("source")
    typed: dict[str, JSONValue] = {"type": doc.get("kind")}
    if isinstance(source, Mapping):
        typed.update(source)
        typed["type"] = doc.get("kind")
    out: dict[str, JSONValue] = {
        "source": typed,
        "started_at": doc.get("started_at"),
        "ended_at": doc.get("ended_at"),
        "device": doc.get("device"),
        "software": doc.get("software"),
        "location": doc.get("location"),
        "environment_check": environment_check(_environment(doc)),
        "target_verification": _recorded_target(doc.get("target_verification")),
        "recording_id": doc.get("recording_id"),
        "segments": doc.get("segments"),
    }
    return _present(out)


def _from_file(doc: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    statement = doc.get("statement")
    summary = None
    if isinstance(statement, Mapping):
        summary = f"{statement.get('zh', '')} {statement.get('en', '')}".strip() or None
    out: dict[str, JSONValue] = {
        "source": {"type": "file", "file": doc.get("file")},
        "captured_at": doc.get("captured_at"),
        "semantics": doc.get("semantics"),
        "tsa_reachable_at_capture": doc.get("tsa_reachable_at_capture"),
        "device": doc.get("device"),
        "software": doc.get("software"),
        "environment_check": environment_check(_environment(doc)),
        "target_verification": {
            "status": "not_applicable",
            "summary": summary or "existing file: existed no later than the timestamp time",
        },
    }
    return _present(out)


def _environment(doc: Mapping[str, JSONValue]) -> JSONValue:
    """The environment report: ``environment_check`` in every ``capture.json`` now (the
    vault's name), ``environment`` in those written before the names were made one."""
    return doc["environment_check"] if "environment_check" in doc else doc.get("environment")


def _present(values: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    return {k: v for k, v in values.items() if v is not None}


def environment_check(report: JSONValue) -> dict[str, JSONValue]:
    """The environment report as the certificate reads it: the report itself (``overall``,
    ``forced``, findings, skipped), plus a ``verdict`` and a one-line ``summary``. A capture
    without a report says so rather than leaving the certificate blank."""
    if not isinstance(report, Mapping):
        return {"status": "not_recorded", "summary": "未记录环境检查 no environment check recorded"}
    overall = str(report.get("overall", ""))
    forced = report.get("forced") is True
    verdict = _VERDICTS.get(overall, overall or "unknown")
    if forced:
        verdict += "（已强制继续 forced）"
    findings = report.get("findings")
    counts = {"pass": 0, "warn": 0, "fail": 0}
    flagged: list[str] = []
    for finding in findings if isinstance(findings, list) else []:
        if isinstance(finding, Mapping):
            status = str(finding.get("status"))
            counts[status] = counts.get(status, 0) + 1
            if status != "pass":
                flagged.append(f"{finding.get('name')}={status}")
    summary = (
        f"{counts['pass']} 通过 pass, {counts['warn']} 警告 warn, {counts['fail']} 未通过 fail"
    )
    if flagged:
        summary += f" ({', '.join(flagged)})"
    return {**report, "verdict": verdict, "summary": summary}


def _web_target(doc: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    recorded = doc.get("target_verification")
    if isinstance(recorded, Mapping):
        return _recorded_target(recorded)
    pin = doc.get("tls")
    if isinstance(pin, Mapping):
        return {
            "status": "unverified",
            "summary": "站点证书已按 --ca-file 验证并锁定，但未与已知目标列表比对 site certificate "
            "validated against --ca-file and pinned; not checked against known targets",
            "final_url": doc.get("final_url"),
            "tls": pin,
        }
    return _recorded_target(None)


def _recorded_target(recorded: JSONValue) -> dict[str, JSONValue]:
    if isinstance(recorded, Mapping):
        out = dict(recorded)
        if "summary" not in out:
            reasons = out.get("reasons")
            if isinstance(reasons, list) and reasons and isinstance(reasons[0], Mapping):
                out["summary"] = f"{reasons[0].get('zh', '')} {reasons[0].get('en', '')}".strip()
        return out
    return {"status": "not_recorded", "summary": "未做应用验真 no target verification recorded"}


# --- keeping under the limit ------------------------------------------------------------


def fit(meta: dict[str, JSONValue], budget: int = BUDGET) -> dict[str, JSONValue]:
    """``meta`` itself when it is within ``budget`` bytes; else shortened step by step (long
    strings, then finding evidence, then bulky top-level parts), every step listed under
    ``omitted``. Raises :class:`CaptureMetadataError` if even that is too big."""
    if size_of(meta) <= budget:
        return meta
    omitted: list[JSONValue] = []
    shortened = _shorten_strings(meta, "", omitted)
    if not isinstance(shortened, dict):
        raise AssertionError("shortening changed a dict's type")
    result = {**shortened, "omitted": omitted}
    for step in (_drop_evidence, _drop_bulky):
        if size_of(result) <= budget:
            return result
        step(result, omitted, budget)
    if size_of(result) <= budget:
        return result
    raise CaptureMetadataError(f"capture metadata is {size_of(result)} bytes even shortened")


def _placeholder(value: JSONValue) -> tuple[str, dict[str, JSONValue]]:
    data = format_canonical_json(value)
    digest = hashlib.sha256(data).hexdigest()
    note = f"[omitted 已省略: {len(data)} bytes, SHA-256 {digest}; see capture.json]"
    return note, {"bytes": len(data), "sha256": digest}


def _shorten_strings(value: JSONValue, where: str, omitted: list[JSONValue]) -> JSONValue:
    if isinstance(value, str) and len(value) > MAX_STRING:
        note, about = _placeholder(value)
        omitted.append({"path": where, "reason": "long string", **about})
        return note
    if isinstance(value, list):
        return [_shorten_strings(v, f"{where}[{i}]", omitted) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            k: _shorten_strings(v, f"{where}.{k}" if where else k, omitted)
            for k, v in value.items()
        }
    return value


def _drop_evidence(meta: dict[str, JSONValue], omitted: list[JSONValue], budget: int) -> None:
    env = meta.get("environment_check")
    findings = env.get("findings") if isinstance(env, dict) else None
    for i, finding in enumerate(findings if isinstance(findings, list) else []):
        if isinstance(finding, dict) and "evidence" in finding:
            note, about = _placeholder(finding["evidence"])
            finding["evidence"] = note
            path = f"environment_check.findings[{i}].evidence"
            omitted.append({"path": path, "reason": "size", **about})


_BULKY: Final = ("operation_log_summary", "network", "software", "device", "source")


def _drop_bulky(meta: dict[str, JSONValue], omitted: list[JSONValue], budget: int) -> None:
    for key in _BULKY:
        if size_of(meta) <= budget:
            return
        if key in meta:
            note, about = _placeholder(meta[key])
            meta[key] = note
            omitted.append({"path": key, "reason": "size", **about})
