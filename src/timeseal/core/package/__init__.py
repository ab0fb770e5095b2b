"""Evidence packages, format v1 (docs/package-format.md): build one, verify one offline.

- ``canonical``  canonical JSON, the bytes manifest.json is timestamped as
- ``layout``     paths inside a package, derived from evidence numbers; safe member names
- ``manifest``   the manifest model, its schema and canonical bytes
- ``verify_md``  the VERIFY.md recipe (sha256sum, openssl ts -verify, the log proof by hand)
- ``build``      the streaming, deterministic builder
- ``verify``     the offline verifier; ``report`` what it returns
"""

from timeseal.core.package.build import (
    ContentMismatch,
    Opener,
    PackageItem,
    Stamp,
    build_package,
)
from timeseal.core.package.canonical import (
    JSONObject,
    JSONValue,
    format_canonical_json,
    parse_canonical_json,
)
from timeseal.core.package.manifest import (
    CaptureWindow,
    FileEntry,
    Manifest,
    ManifestItem,
    format_manifest,
    parse_manifest,
)
from timeseal.core.package.report import PackageReport, Section
from timeseal.core.package.verify import CertificateCheck, verify_package

__all__ = [
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
