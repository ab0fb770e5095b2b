"""``manifest.json`` v1: the model, its canonical bytes, and strict schema validation.

The schema is written out in docs/package-format.md. Parsing is strict (unknown keys, wrong
types and paths that do not follow :mod:`timeseal.core.package.layout` are refused) but
separate from canonical form, so that a verifier can tell "edited by hand" from "forged".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from timeseal.core.errors import MalformedError, UnsupportedVersion
from timeseal.core.log_entry import EVIDENCE_KINDS
from timeseal.core.package import layout
from timeseal.core.package.canonical import (
    JSONObject,
    JSONValue,
    format_canonical_json,
    parse_canonical_json,
)

FORMAT = "timeseal-evidence-package"
VERSION = 1
#: A verifier parses manifest.json in memory: 4 MiB of JSON is at most ~50 MiB of Python
#: objects and copies (canonical.MAX_JSON_TOKENS bounds the objects); the builder refuses
#: to seal a larger one. 500 items with 8 KiB of capture metadata each fit.
MAX_MANIFEST_SIZE = 4 << 20
#: Files a manifest may list (a package has at most 4,096 members, two of them unlisted).
MAX_FILES = 4094
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z")


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of the package other than manifest.json, proofs/manifest.tsr and
    proofs/manifest.p7s."""

    path: str
    size: int
    sha256: bytes

    def __post_init__(self) -> None:
        reason = layout.unsafe_reason(self.path)
        if reason is not None or self.path in (layout.MANIFEST, layout.MANIFEST_TOKEN):
            raise ValueError(f"path {self.path!r} may not be listed: {reason or 'reserved'}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError("size must be a non-negative int")
        if not isinstance(self.sha256, bytes) or len(self.sha256) != 32:
            raise ValueError("sha256 must be 32 bytes")


@dataclass(frozen=True, slots=True)
class CaptureWindow:
    """When capture started and ended, by the TSA clock (UTC, whole milliseconds)."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if t.tzinfo is None or t.utcoffset() is None:
                raise ValueError("capture times must be timezone-aware")
        if self.end < self.start:
            raise ValueError("capture end is before its start")


@dataclass(frozen=True, slots=True)
class ManifestItem:
    """One evidence item: its file, its token, its log proof, and what the caller knows of it.

    ``capture`` (device, software, operator, location, environment check, target verification,
    operation log) and ``custody`` (who held it when) are free-form JSON from the caller;
    the package only guarantees that they are timestamped with the manifest.
    """

    number: str
    kind: str
    title: str
    original_name: str
    media_type: str
    path: str
    size: int
    sha256: bytes
    token: str
    log_proof: str
    certificate: str | None = None
    supersedes: str | None = None
    capture_window: CaptureWindow | None = None
    capture: JSONObject = field(default_factory=dict)
    custody: tuple[JSONValue, ...] = ()

    def __post_init__(self) -> None:
        layout.item_id(self.number)  # canonical number, or ValueError
        if self.supersedes is not None:
            layout.item_id(self.supersedes)
        if self.kind not in EVIDENCE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(EVIDENCE_KINDS)}")
        for name in ("title", "original_name", "media_type"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a str")
        prefix = f"items/{layout.item_id(self.number)}_"
        if not self.path.startswith(prefix) or layout.unsafe_reason(self.path) is not None:
            raise ValueError(f"item path {self.path!r} must be a safe name under {prefix}")
        if self.token != layout.token_path(self.number):
            raise ValueError(f"token must be {layout.token_path(self.number)}")
        if self.log_proof != layout.log_proof_path(self.number):
            raise ValueError(f"log_proof must be {layout.log_proof_path(self.number)}")
        if self.certificate is not None and self.certificate not in (
            layout.ITEM_CERTIFICATE,
            layout.certificate_path(self.number, case=True),
        ):
            raise ValueError(f"certificate path {self.certificate!r} is not allowed")
        FileEntry(self.path, self.size, self.sha256)
        if not isinstance(self.capture, Mapping) or not isinstance(self.custody, tuple):
            raise TypeError("capture must be a JSON object and custody a tuple")
        format_canonical_json({"capture": self.capture, "custody": self.custody})


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a package holds. ``scope`` is ``item`` (one item) or ``case`` (one or more)."""

    scope: str
    sealed_at: dt.datetime
    items: tuple[ManifestItem, ...]
    files: tuple[FileEntry, ...]
    log_origin: str
    case: JSONObject | None = None

    def __post_init__(self) -> None:
        if self.scope not in ("item", "case"):
            raise ValueError("scope must be 'item' or 'case'")
        if not self.items or (self.scope == "item" and len(self.items) != 1):
            raise ValueError("an item package holds one item, a case package at least one")
        if (self.case is not None) != (self.scope == "case"):
            raise ValueError("case metadata is given exactly for case packages")
        if self.sealed_at.tzinfo is None or self.sealed_at.utcoffset() is None:
            raise ValueError("sealed_at must be timezone-aware")
        if len(self.files) > MAX_FILES:
            raise ValueError(f"a package lists at most {MAX_FILES} files")
        paths = [f.path for f in self.files]
        if paths != sorted(set(paths)):
            raise ValueError("files must be sorted by path, each path once")
        listed = {f.path: f for f in self.files}
        numbers = [i.number for i in self.items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("an evidence number appears twice")
        for item in self.items:
            want = [item.path, item.token, item.log_proof]
            if item.certificate is not None:
                if (item.certificate == layout.ITEM_CERTIFICATE) != (self.scope == "item"):
                    raise ValueError(f"certificate path of {item.number} does not fit the scope")
                want.append(item.certificate)
            for path in want:
                if path not in listed:
                    raise ValueError(f"{path} of {item.number} is not in files")
            if (listed[item.path].size, listed[item.path].sha256) != (item.size, item.sha256):
                raise ValueError(f"files entry of {item.path} disagrees with its item")
        for path in (layout.TSA_CHAIN, layout.LOG_VKEY, layout.VERIFY_MD):
            if path not in listed:
                raise ValueError(f"{path} is not in files")
        if not self.log_origin or "\n" in self.log_origin:
            raise ValueError("log_origin must be one non-empty line")

    def file(self, path: str) -> FileEntry | None:
        return next((f for f in self.files if f.path == path), None)


def format_time(t: dt.datetime) -> str:
    """RFC 3339 in UTC with ``Z``; milliseconds only when not zero."""
    u = t.astimezone(dt.UTC)
    ms = u.microsecond // 1000
    return f"{u:%Y-%m-%dT%H:%M:%S}" + (f".{ms:03d}" if ms else "") + "Z"


def manifest_json(manifest: Manifest) -> dict[str, JSONValue]:
    """The manifest as a JSON object (keys as in docs/package-format.md)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "scope": manifest.scope,
        "case": manifest.case,
        "sealed_at": format_time(manifest.sealed_at),
        "tsa_chain": layout.TSA_CHAIN,
        "log": {"origin": manifest.log_origin, "vkey": layout.LOG_VKEY},
        "items": [_item_json(i) for i in manifest.items],
        "files": [
            {"path": f.path, "size": f.size, "sha256": f.sha256.hex()} for f in manifest.files
        ],
    }


def _item_json(item: ManifestItem) -> dict[str, JSONValue]:
    window = item.capture_window
    return {
        "number": item.number,
        "kind": item.kind,
        "title": item.title,
        "original_name": item.original_name,
        "media_type": item.media_type,
        "path": item.path,
        "size": item.size,
        "sha256": item.sha256.hex(),
        "token": item.token,
        "log_proof": item.log_proof,
        "certificate": item.certificate,
        "supersedes": item.supersedes,
        "capture_window": None
        if window is None
        else {"start": format_time(window.start), "end": format_time(window.end)},
        "capture": item.capture,
        "custody": list(item.custody),
    }


def format_manifest(manifest: Manifest) -> bytes:
    """The canonical bytes of ``manifest.json``."""
    return format_canonical_json(manifest_json(manifest))


def parse_manifest(data: bytes) -> tuple[Manifest, bool]:
    """Parse ``manifest.json``; the flag says whether ``data`` is canonical.

    ``MalformedError`` if it is not JSON or breaks the schema (naming the field);
    ``UnsupportedVersion`` for a format version other than 1.
    """
    if len(data) > MAX_MANIFEST_SIZE:
        raise MalformedError(f"manifest.json larger than {MAX_MANIFEST_SIZE} bytes")
    value, canonical = parse_canonical_json(data)
    return manifest_from_json(value), canonical


def manifest_from_json(value: JSONValue) -> Manifest:
    """The manifest held by ``value``, as :func:`parse_canonical_json` returned it (so a
    verifier that parsed the bytes once to judge their form need not parse them again).
    ``MalformedError`` naming the field, ``UnsupportedVersion`` as :func:`parse_manifest`."""
    try:
        return _manifest_from_json(value)
    except (KeyError, TypeError, ValueError) as exc:  # MalformedError is none of these
        raise MalformedError(f"manifest.json: {exc}") from exc


class _Fields:
    """A JSON object read field by field; unknown keys are refused at the end."""

    def __init__(self, value: JSONValue, where: str) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"{where} must be an object")
        self.value: dict[str, JSONValue] = value
        self.where = where
        self.seen: set[str] = set()

    def get(self, key: str) -> JSONValue:
        if key not in self.value:
            raise KeyError(f"{self.where}.{key} is missing")
        self.seen.add(key)
        return self.value[key]

    def opt_text(self, key: str) -> str | None:
        """The string at ``key``, or None for JSON null."""
        return None if self.get(key) is None else self.text(key)

    def text(self, key: str) -> str:
        v = self.get(key)
        if not isinstance(v, str):
            raise TypeError(f"{self.where}.{key} must be a string")
        return v

    def integer(self, key: str) -> int:
        v = self.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{self.where}.{key} must be an integer")
        return v

    def hex32(self, key: str) -> bytes:
        v = self.text(key)
        if not _HEX64.fullmatch(v):
            raise ValueError(f"{self.where}.{key} must be 64 lowercase hex digits")
        return bytes.fromhex(v)

    def time(self, key: str) -> dt.datetime:
        v = self.text(key)
        if not _TIME.fullmatch(v):
            raise ValueError(f"{self.where}.{key} must be RFC 3339 UTC (…Z)")
        return dt.datetime.fromisoformat(v[:-1]).replace(tzinfo=dt.UTC)

    def done(self) -> None:
        extra = sorted(set(self.value) - self.seen)
        if extra:
            raise ValueError(f"{self.where} has unknown keys: {', '.join(extra)}")


def _manifest_from_json(value: JSONValue) -> Manifest:
    top = _Fields(value, "manifest")
    if top.get("format") != FORMAT:
        raise ValueError(f"manifest.format must be {FORMAT!r}")
    if top.get("version") != VERSION:
        raise UnsupportedVersion(f"package format version {top.get('version')!r} (we read 1)")
    if top.get("tsa_chain") != layout.TSA_CHAIN:
        raise ValueError(f"manifest.tsa_chain must be {layout.TSA_CHAIN}")
    log = _Fields(top.get("log"), "manifest.log")
    if log.get("vkey") != layout.LOG_VKEY:
        raise ValueError(f"manifest.log.vkey must be {layout.LOG_VKEY}")
    origin = log.text("origin")
    log.done()
    case = top.get("case")
    if case is not None and not isinstance(case, dict):
        raise TypeError("manifest.case must be an object or null")
    items = top.get("items")
    files = top.get("files")
    if not isinstance(items, list) or not isinstance(files, list):
        raise TypeError("manifest.items and manifest.files must be arrays")
    if len(files) > MAX_FILES:
        raise ValueError(f"manifest.files lists {len(files)} files, at most {MAX_FILES}")
    manifest = Manifest(
        scope=top.text("scope"),
        sealed_at=top.time("sealed_at"),
        items=tuple(_item_from_json(v, f"manifest.items[{i}]") for i, v in enumerate(items)),
        files=tuple(_file_from_json(v, f"manifest.files[{i}]") for i, v in enumerate(files)),
        log_origin=origin,
        case=case,
    )
    top.done()
    return manifest


def _file_from_json(value: JSONValue, where: str) -> FileEntry:
    f = _Fields(value, where)
    entry = FileEntry(f.text("path"), f.integer("size"), f.hex32("sha256"))
    f.done()
    return entry


def _item_from_json(value: JSONValue, where: str) -> ManifestItem:
    f = _Fields(value, where)
    window_value = f.get("capture_window")
    window = None
    if window_value is not None:
        w = _Fields(window_value, f"{where}.capture_window")
        window = CaptureWindow(w.time("start"), w.time("end"))
        w.done()
    capture = f.get("capture")
    custody = f.get("custody")
    if not isinstance(capture, dict) or not isinstance(custody, list):
        raise TypeError(f"{where}.capture must be an object and custody an array")
    item = ManifestItem(
        number=f.text("number"),
        kind=f.text("kind"),
        title=f.text("title"),
        original_name=f.text("original_name"),
        media_type=f.text("media_type"),
        path=f.text("path"),
        size=f.integer("size"),
        sha256=f.hex32("sha256"),
        token=f.text("token"),
        log_proof=f.text("log_proof"),
        certificate=f.opt_text("certificate"),
        supersedes=f.opt_text("supersedes"),
        capture_window=window,
        capture=capture,
        custody=tuple(custody),
    )
    f.done()
    return item
