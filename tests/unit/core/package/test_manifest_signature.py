"""``proofs/manifest.p7s``: what a package claims is the issuing platform's, not whoever last
timestamped it. Each forgery keeps every trust anchor genuine (the verifier is given the real
root and log key) and must still be invalid, naming the manifest signature."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable

from asn1crypto import cms
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.pki import NOW, make_pki
from tests.unit.core.package.helpers import GEN_TIME, Sealer, members, rezip, three_specs
from timeseal.core import pki
from timeseal.core.cades.sign import sign_detached
from timeseal.core.package import (
    PackageReport,
    build_package,
    format_canonical_json,
    verify_package,
)
from timeseal.core.signers import KeySigner
from timeseal.core.verdict import Verdict
from timeseal.core.verification import Check, Status

SIGNATURE = "proofs/manifest.p7s"


def _verify(sealer: Sealer, package: bytes) -> PackageReport:
    return verify_package(
        io.BytesIO(package), roots=[sealer.pki.root.certificate], log_key=sealer.key.verifier_key
    )


def _signature_detail(report: PackageReport) -> str:
    section = report.section(SIGNATURE)
    assert section is not None
    [result] = section.result.checks
    assert result.check is Check.MANIFEST_SIGNATURE
    return result.detail


def _forged(
    sealer: Sealer, package: bytes, resign: Callable[[bytes], bytes] | None = None
) -> bytes:
    """The forgery of the audit: edit what the manifest claims, re-canonicalise, re-stamp it at
    the genuine TSA, and (when ``resign``) sign it again with some other key."""
    files = members(package)
    value = json.loads(files["manifest.json"])
    value["case"]["title"] = "伪造的案件 forged case"
    value["items"][0]["custody"] = [{"action": "captured", "by": "公证员 张三 notary Zhang San"}]
    manifest = format_canonical_json(value)
    files["manifest.json"] = manifest
    files["proofs/manifest.tsr"] = sealer.stamp(hashlib.sha256(manifest).digest())
    if resign is not None:
        files[SIGNATURE] = resign(manifest)
    return rezip(files)


def test_a_genuine_package_is_signed_by_the_platform(sealer: Sealer, case_package: bytes) -> None:
    report = _verify(sealer, case_package)
    assert report.ok, report.failed
    assert report.assessment.verdict is Verdict.VALID
    detail = _signature_detail(report)
    assert "TimeSeal Document Signing" in detail and GEN_TIME.isoformat() in detail


def test_claims_edited_and_restamped_at_the_public_tsa_are_invalid(
    sealer: Sealer, case_package: bytes
) -> None:
    report = _verify(sealer, _forged(sealer, case_package))
    # The re-stamped token is genuine: only the signature shows the claims are not ours.
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)
    assert report.assessment.verdict is Verdict.INVALID
    assert "message_digest" in _signature_detail(report)


def test_claims_resigned_by_a_key_of_another_root_are_invalid(
    sealer: Sealer, case_package: bytes
) -> None:
    stranger = make_pki()
    issued = pki.create_document_signing_key_and_certificate(stranger.root, now=NOW)
    assert isinstance(issued.key, ec.EllipticCurvePrivateKey)

    def resign(manifest: bytes) -> bytes:
        return sign_detached(
            manifest,
            KeySigner(issued.key),
            [issued.certificate, stranger.root.certificate],
            signing_time=GEN_TIME,
            stamp=sealer.stamp,  # even with a genuine signature timestamp
        )

    report = _verify(sealer, _forged(sealer, case_package, resign))
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)
    assert "chain_trusted" in _signature_detail(report)


def test_a_certificate_of_the_same_root_for_another_purpose_cannot_sign(
    sealer: Sealer, case_package: bytes
) -> None:
    """The TSA's key is under the genuine root, but it is for timestamps, not documents."""

    def resign(manifest: bytes) -> bytes:
        return sign_detached(
            manifest,
            KeySigner(sealer.pki.tsa.key),
            sealer.pki.chain,
            signing_time=GEN_TIME,
            stamp=sealer.stamp,
        )

    report = _verify(sealer, _forged(sealer, case_package, resign))
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)
    detail = _signature_detail(report)
    assert "signer_purpose" in detail and "chain_trusted" not in detail


def test_a_package_without_its_signature_is_invalid(sealer: Sealer, case_package: bytes) -> None:
    files = members(case_package)
    del files[SIGNATURE]
    report = _verify(sealer, rezip(files))
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)
    assert report.assessment.verdict is Verdict.INVALID
    assert "missing" in _signature_detail(report)


def test_another_packages_genuine_signature_does_not_fit(
    sealer: Sealer, case_package: bytes
) -> None:
    item_package = members(sealer.build(sealer.items(three_specs()[:1]), case=False))
    files = members(case_package)
    files[SIGNATURE] = item_package[SIGNATURE]
    report = _verify(sealer, rezip(files))
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)
    assert "message_digest" in _signature_detail(report)


def test_a_signature_without_its_timestamp_is_not_enough(
    sealer: Sealer, case_package: bytes
) -> None:
    """B-T, not B: the chain is checked at a trusted time, never at the verifier's clock."""
    files = members(case_package)
    identity = sealer.document_signer

    def untimestamped(manifest: bytes) -> bytes:
        info = cms.ContentInfo.load(
            sign_detached(
                manifest,
                KeySigner(identity.key),
                identity.chain,
                signing_time=GEN_TIME,
                stamp=sealer.stamp,
            )
        )
        del info["content"]["signer_infos"][0]["unsigned_attrs"]
        der: bytes = info.dump(force=True)
        return der

    files[SIGNATURE] = untimestamped(files["manifest.json"])
    report = _verify(sealer, rezip(files))
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)
    assert "no signature timestamp" in _signature_detail(report)


def test_an_expired_signing_certificate_still_verifies_at_its_timestamp(sealer: Sealer) -> None:
    """RFC 3161 Appendix B: the chain is validated at the signature timestamp's genTime, so a
    package outlives its document-signing certificate (valid here for one day in 2026-11)."""
    key = ec.generate_private_key(ec.SECP256R1())
    short = pki.create_document_signing_certificate(
        sealer.pki.root, key.public_key(), now=NOW, validity=dt.timedelta(days=1)
    )
    assert short.not_valid_after_utc < dt.datetime.now(dt.UTC)  # expired today
    [item] = sealer.items(three_specs()[:1], certificate=False)
    out = io.BytesIO()
    build_package(
        out,
        [item],
        tsa_chain=sealer.pki.chain,
        log_key=sealer.key.verifier_key,
        sealed_at=GEN_TIME,
        stamp=sealer.stamp,
        sign=lambda m: sign_detached(
            m, KeySigner(key), [short, sealer.pki.root.certificate], signing_time=GEN_TIME,
            stamp=sealer.stamp,
        ),
    )  # fmt: skip
    report = _verify(sealer, out.getvalue())
    assert report.ok, report.failed
    section = report.section(SIGNATURE)
    assert section is not None and section.result.checks[0].status is Status.PASS


def _drop_item(sealer: Sealer, package: bytes, index: int) -> bytes:
    """Remove one item from a case package and every trace of it from the manifest, re-stamp
    the edited manifest at the genuine TSA: what a party hiding an unhelpful item would do."""
    files = members(package)
    value = json.loads(files["manifest.json"])
    dropped = value["items"].pop(index)
    gone = {dropped["path"], dropped["token"], dropped["log_proof"], dropped["certificate"]}
    value["case"]["items"] = [n for n in value["case"].get("items", []) if n != dropped["number"]]
    value["files"] = [f for f in value["files"] if f["path"] not in gone]
    for path in gone:
        del files[path]
    manifest = format_canonical_json(value)
    files["manifest.json"] = manifest
    files["proofs/manifest.tsr"] = sealer.stamp(hashlib.sha256(manifest).digest())
    return rezip(files)


def test_an_item_silently_dropped_from_a_case_package_is_invalid(
    sealer: Sealer, case_package: bytes
) -> None:
    report = _verify(sealer, _drop_item(sealer, case_package, 1))
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)
    assert report.assessment.verdict is Verdict.INVALID


def test_another_items_genuine_certificate_does_not_pass_for_this_one(
    sealer: Sealer, case_package: bytes
) -> None:
    """Both certificates are genuinely signed; swapping them (and fixing the listed hashes,
    then re-stamping) still leaves a manifest the platform never signed."""
    files = members(case_package)
    value = json.loads(files["manifest.json"])
    first, second = (item["certificate"] for item in value["items"][:2])
    files[first], files[second] = files[second], files[first]
    listed = {f["path"]: f for f in value["files"]}
    for path in (first, second):
        listed[path]["sha256"] = hashlib.sha256(files[path]).hexdigest()
        listed[path]["size"] = len(files[path])
    manifest = format_canonical_json(value)
    files["manifest.json"] = manifest
    files["proofs/manifest.tsr"] = sealer.stamp(hashlib.sha256(manifest).digest())
    report = _verify(sealer, rezip(files))
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)
    # Without re-listing, the swap is a changed file by name.
    files = members(case_package)
    files[first], files[second] = files[second], files[first]
    report = _verify(sealer, rezip(files))
    assert (first, Check.FILE_SHA256) in report.failed and (
        second,
        Check.FILE_SHA256,
    ) in report.failed


def test_a_certificate_removed_from_the_package_and_the_manifest_is_invalid(
    sealer: Sealer, case_package: bytes
) -> None:
    files = members(case_package)
    value = json.loads(files["manifest.json"])
    path = value["items"][0]["certificate"]
    value["items"][0]["certificate"] = None  # as a package built without one says
    value["files"] = [f for f in value["files"] if f["path"] != path]
    del files[path]
    manifest = format_canonical_json(value)
    files["manifest.json"] = manifest
    files["proofs/manifest.tsr"] = sealer.stamp(hashlib.sha256(manifest).digest())
    report = _verify(sealer, rezip(files))
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)


def test_an_oversized_signature_is_refused_unread(sealer: Sealer, case_package: bytes) -> None:
    """A signature member is read into memory only under its cap (64 KiB, like a token)."""
    files = members(case_package)
    files[SIGNATURE] = files[SIGNATURE] + bytes(65 << 10)
    report = _verify(sealer, rezip(files))
    assert report.failed == ((SIGNATURE, Check.MANIFEST_SIGNATURE),)
    assert "allowed" in _signature_detail(report)
