"""manifest.json: the schema is strict, and every rule is checked by name of the field."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.core.package.helpers import members
from timeseal.core.errors import MalformedError, UnsupportedVersion
from timeseal.core.package import (
    CaptureWindow,
    FileEntry,
    Manifest,
    format_canonical_json,
    format_manifest,
    parse_manifest,
)
from timeseal.core.package.manifest import format_time

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: object) -> Edit:
    def edit(m: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = m
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return edit


_DELETE = object()

BAD: dict[str, Edit] = {
    "format": _set("format", "zip"),
    "scope": _set("scope", "folder"),
    "unknown-top-key": _set("extra", 1),
    "unknown-item-key": _set("items.0.extra", 1),
    "missing-items": _set("items", _DELETE),
    "items-not-array": _set("items", {}),
    "no-items": _set("items", []),
    "case-on-item-scope": _set("scope", "item"),
    "case-not-object": _set("case", "x"),
    "tsa-chain-path": _set("tsa_chain", "certs/other.pem"),
    "log-vkey-path": _set("log.vkey", "log.vkey"),
    "log-unknown-key": _set("log.extra", 1),
    "log-origin-type": _set("log.origin", 5),
    "log-origin-newline": _set("log.origin", "a\nb"),
    "sealed-at-local": _set("sealed_at", "2026-11-29T11:00:00+08:00"),
    "number": _set("items.0.number", "TS-1"),
    "kind": _set("items.0.kind", "selfie"),
    "title-type": _set("items.0.title", 1),
    "path-outside-items": _set("items.0.path", "VERIFY.md"),
    "path-traversal": _set("items.0.path", "items/../x"),
    "token-path": _set("items.0.token", "proofs/other.tsr"),
    "proof-path": _set("items.0.log_proof", "log/other.proof"),
    "certificate-path": _set("items.0.certificate", "../cert.pdf"),
    "certificate-scope": _set("items.0.certificate", "certificate.pdf"),
    "supersedes": _set("items.0.supersedes", "nope"),
    "size-negative": _set("items.0.size", -1),
    "size-bool": _set("items.0.size", True),
    "sha256-upper": _set("items.0.sha256", "A" * 64),
    "sha256-short": _set("items.0.sha256", "a" * 63),
    "item-disagrees-with-files": _set("items.0.size", 1),
    "window-backwards": _set(
        "items.0.capture_window", {"start": "2026-11-29T11:00:00Z", "end": "2026-11-29T10:00:00Z"}
    ),
    "window-unknown-key": _set(
        "items.0.capture_window",
        {"start": "2026-11-29T10:00:00Z", "end": "2026-11-29T11:00:00Z", "x": 1},
    ),
    "capture-not-object": _set("items.0.capture", []),
    "custody-not-array": _set("items.0.custody", {}),
    "files-unsorted": lambda m: m["files"].reverse(),
    "files-duplicate": lambda m: m["files"].append(m["files"][-1]),
    "file-unsafe": _set("files.0.path", "/etc/passwd"),
    "file-reserved": _set("files.0.path", "manifest.json"),
    "file-unknown-key": _set("files.0.extra", 1),
    "listed-file-missing": lambda m: m["files"].pop(0),  # VERIFY.md
    "item-file-missing": lambda m: m["files"].remove(
        next(f for f in m["files"] if f["path"] == m["items"][0]["path"])
    ),
    "duplicate-number": lambda m: m["items"].append(copy.deepcopy(m["items"][0])),
    "not-an-object": lambda m: m.clear(),
}


@pytest.fixture
def manifest_value(case_package: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(members(case_package)["manifest.json"])
    return value


def test_good_manifest_round_trips(case_package: bytes) -> None:
    data = members(case_package)["manifest.json"]
    manifest, canonical = parse_manifest(data)
    assert canonical and format_manifest(manifest) == data
    assert manifest.file("VERIFY.md") is not None and manifest.file("nope") is None


@pytest.mark.parametrize("name", sorted(BAD))
def test_schema_violations_are_refused(name: str, manifest_value: dict[str, Any]) -> None:
    BAD[name](manifest_value)
    data = format_canonical_json(manifest_value if manifest_value else [])
    with pytest.raises(MalformedError):
        parse_manifest(data)


def test_other_versions_are_unsupported(manifest_value: dict[str, Any]) -> None:
    manifest_value["version"] = 2
    with pytest.raises(UnsupportedVersion):
        parse_manifest(format_canonical_json(manifest_value))


def test_oversized_manifest_is_refused() -> None:
    with pytest.raises(MalformedError, match="larger"):
        parse_manifest(b" " * ((16 << 20) + 1))


def test_value_objects_validate() -> None:
    now = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="timezone"):
        CaptureWindow(now.replace(tzinfo=None), now)
    with pytest.raises(ValueError, match="32 bytes"):
        FileEntry("a", 1, b"x")
    with pytest.raises(ValueError, match="one item"):
        Manifest("item", now, (), (), "o")


def test_times_are_utc_with_optional_milliseconds() -> None:
    t = dt.datetime(2026, 11, 29, 19, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert format_time(t) == "2026-11-29T11:00:00.123Z"
    assert format_time(t.replace(microsecond=0)) == "2026-11-29T11:00:00Z"


def test_too_many_files_are_refused_before_they_are_read(manifest_value: dict[str, Any]) -> None:
    manifest_value["files"] *= 4095 // len(manifest_value["files"]) + 1
    with pytest.raises(MalformedError, match="at most 4094"):
        parse_manifest(format_canonical_json(manifest_value))


def test_an_item_without_a_capture_window(manifest_value: dict[str, Any]) -> None:
    manifest_value["items"][0]["capture_window"] = None
    manifest, canonical = parse_manifest(format_canonical_json(manifest_value))
    assert canonical and manifest.items[0].capture_window is None


def test_manifest_objects_refuse_what_a_manifest_cannot_hold(case_package: bytes) -> None:
    manifest, _ = parse_manifest(members(case_package)["manifest.json"])
    item = manifest.items[0]
    with pytest.raises(TypeError, match="title must be a str"):
        dataclasses.replace(item, title=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="capture must be a JSON object"):
        dataclasses.replace(item, capture=[])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly for case packages"):
        dataclasses.replace(manifest, case=None)
    with pytest.raises(ValueError, match="sealed_at must be timezone-aware"):
        dataclasses.replace(manifest, sealed_at=manifest.sealed_at.replace(tzinfo=None))
    with pytest.raises(ValueError, match="at most 4094 files"):
        dataclasses.replace(manifest, files=manifest.files * 4095)
