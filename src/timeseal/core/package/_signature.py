"""Step (3b) of the package verifier: ``proofs/manifest.p7s``, the platform's signature over
``manifest.json``.

A timestamp proves *when* the manifest existed, not *who* wrote it: anyone may timestamp an
edited manifest at a public TSA. The signature is what makes the manifest's claims (titles,
file names, custody, capture details) the issuing platform's. It must be a detached CAdES B-T
signature (:mod:`timeseal.core.cades.verify`) by a document-signing certificate (RFC 9336 EKU)
that chains to the same roots as the tokens, checked at its signature timestamp's genTime.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from timeseal.core._cms import platform_signing_purpose
from timeseal.core.cades.verify import parse_signed_data, verify_detached
from timeseal.core.errors import MalformedError
from timeseal.core.package import layout
from timeseal.core.package._read import Archive
from timeseal.core.package._rules import Checks
from timeseal.core.package.report import Section
from timeseal.core.verification import Check


def check_manifest_signature(archive: Archive, anchors: Sequence[x509.Certificate]) -> Section:
    """One MANIFEST_SIGNATURE result: pass only for a valid platform signature over the
    manifest's bytes as found."""
    c = Checks()
    if not anchors:
        c.skip((Check.MANIFEST_SIGNATURE,), Check.TRUST_ANCHOR)
        return Section(layout.MANIFEST_SIGNATURE, c.result())
    if layout.MANIFEST_SIGNATURE not in archive.members:
        c.add(
            Check.MANIFEST_SIGNATURE,
            False,
            f"{layout.MANIFEST_SIGNATURE} is missing: nothing shows that the platform issued "
            "what manifest.json says",
        )
        return Section(layout.MANIFEST_SIGNATURE, c.result())
    try:
        signed_data = parse_signed_data(archive.read(layout.MANIFEST_SIGNATURE))
        manifest = archive.read(layout.MANIFEST)
    except MalformedError as exc:
        c.add(Check.MANIFEST_SIGNATURE, False, str(exc))
        return Section(layout.MANIFEST_SIGNATURE, c.result())
    found = verify_detached(
        signed_data, manifest, anchors, purpose=platform_signing_purpose, require_timestamp=True
    )
    if found.ok:
        assert found.timestamp_gen_time is not None  # a required timestamp passed
        detail = f"{found.signer_subject}, {found.timestamp_gen_time.isoformat()}"
        c.add(Check.MANIFEST_SIGNATURE, True, detail)
    else:
        c.add(Check.MANIFEST_SIGNATURE, False, found.failure_text())
    return Section(layout.MANIFEST_SIGNATURE, c.result())
