"""The public API of timeseal.core.package is exactly ``__all__`` (httpx
tests/test_exported_members.py): additions and removals are deliberate."""

from __future__ import annotations

import timeseal.core.package as package


def test_exported_members() -> None:
    assert package.__all__ == [
        "CaptureWindow",
        "CertificateCheck",
        "ContentMismatch",
        "FileEntry",
        "JSONObject",
        "JSONValue",
        "Manifest",
        "ManifestItem",
        "Opener",
        "PackageItem",
        "PackageReport",
        "Section",
        "Stamp",
        "build_package",
        "format_canonical_json",
        "format_manifest",
        "parse_canonical_json",
        "parse_manifest",
        "verify_package",
    ]
    for name in package.__all__:
        assert getattr(package, name) is not None
