"""``verify_package`` directly: checks by name, the capture window, the certificate plug-in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zipfile
from collections.abc import Sequence

import pytest
from cryptography import x509

from tests.support.pki import PKIFixture
from tests.unit.core.package.helpers import (
    CAPTURE,
    GEN_TIME,
    Sealer,
    members,
    rezip,
    three_specs,
)
from timeseal.core.package import (
    CaptureWindow,
    PackageItem,
    PackageReport,
    parse_manifest,
    verify_package,
)
from timeseal.core.tlog import (
    SignatureType,
    VerifierKey,
    format_verifier_key,
    generate_signer_key,
)
from timeseal.core.verdict import Reason, Verdict
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult


def _verify(sealer: Sealer, package: bytes, **kwargs: object) -> object:
    return verify_package(
        io.BytesIO(package),
        roots=[sealer.pki.root.certificate],
        log_key=sealer.key.verifier_key,
        **kwargs,  # type: ignore[arg-type]
    )


def test_not_a_zip(sealer: Sealer) -> None:
    report = verify_package(io.BytesIO(b"not a zip at all"))
    assert not report.ok and report.failed == (("package", Check.PACKAGE_ZIP),)


def test_no_manifest(sealer: Sealer, case_package: bytes) -> None:
    files = members(case_package)
    del files["manifest.json"]
    report = verify_package(io.BytesIO(rezip(files)), roots=[sealer.pki.root.certificate])
    assert ("package", Check.MANIFEST_CANONICAL) in report.failed
    assert ("proofs/manifest.tsr", Check.IMPRINT_MATCHES) in report.failed


def test_token_before_capture_start_fails_the_window(
    sealer: Sealer, case_items: list[PackageItem]
) -> None:
    later = CaptureWindow(
        CAPTURE.start + dt.timedelta(hours=1), CAPTURE.end + dt.timedelta(hours=1)
    )
    items = [dataclasses.replace(case_items[0], capture_window=later), *case_items[1:]]
    report = verify_package(
        io.BytesIO(sealer.build(items)),
        roots=[sealer.pki.root.certificate],
        log_key=sealer.key.verifier_key,
    )
    assert report.failed == ((case_items[0].number, Check.CAPTURE_WINDOW),)


def test_accuracy_extends_the_window(sealer: Sealer, case_items: list[PackageItem]) -> None:
    # genTime is GEN_TIME with accuracy 500 ms: a start 400 ms after genTime still passes.
    from tests.unit.core.package.helpers import GEN_TIME

    start = GEN_TIME + dt.timedelta(milliseconds=400)
    items = [dataclasses.replace(case_items[0], capture_window=CaptureWindow(start, start))]
    report = verify_package(
        io.BytesIO(sealer.build(items, case=False)),
        roots=[sealer.pki.root.certificate],
        log_key=sealer.key.verifier_key,
    )
    assert report.ok, report.failed


def test_certificate_check_plugs_in(
    sealer: Sealer, case_package: bytes, case_items: list[PackageItem]
) -> None:
    seen: list[bytes] = []

    def check(pdf: bytes, roots: Sequence[x509.Certificate]) -> VerificationResult:
        seen.append(pdf)
        assert roots == (sealer.pki.root.certificate,)
        ok = len(seen) != 2  # pretend the second item's certificate is badly signed
        status = Status.PASS if ok else Status.FAIL
        return VerificationResult((CheckResult(Check.CERTIFICATE_SIGNATURE, status),))

    report = verify_package(
        io.BytesIO(case_package),
        roots=[sealer.pki.root.certificate],
        log_key=sealer.key.verifier_key,
        certificate_check=check,
    )
    assert len(seen) == 3 and all(p.startswith(b"%PDF") for p in seen)
    [(subject, failed)] = report.failed
    assert failed is Check.CERTIFICATE_SIGNATURE and subject == case_items[1].number
    assert not any("signature not checked" in n for n in report.notices)


def test_proof_without_extra_is_checked_against_the_rebuilt_entry(
    sealer: Sealer, case_items: list[PackageItem]
) -> None:
    from timeseal.core.tlog import format_tlog_proof, parse_tlog_proof

    item = case_items[2]
    bare = format_tlog_proof(dataclasses.replace(parse_tlog_proof(item.log_proof), extra=b""))
    report = verify_package(
        io.BytesIO(sealer.build([dataclasses.replace(item, log_proof=bare)], case=False)),
        roots=[sealer.pki.root.certificate],
        log_key=sealer.key.verifier_key,
    )
    assert report.ok
    section = report.section(item.number)
    assert section is not None and section.result.get(Check.INCLUSION_PROOF) is not None


def test_each_file_is_hashed_once(sealer: Sealer, case_package: bytes) -> None:
    from timeseal.core.package import _read

    calls: list[int] = []
    archive = _read.read_archive(io.BytesIO(case_package), progress=calls.append)
    assert sum(calls) == sum(m.size for m in archive.members.values())
    assert len(three_specs()) == 3


def test_witness_cosignatures(test_pki: PKIFixture) -> None:
    witness = generate_signer_key("witness.example/w1", SignatureType.COSIGNATURE_V1)
    sealer = Sealer(test_pki, witness=witness)
    package = sealer.build(sealer.items(three_specs()[2:]), case=False)
    roots = [sealer.pki.root.certificate]

    def run(cosigners: Sequence[VerifierKey]) -> PackageReport:
        return verify_package(
            io.BytesIO(package), roots=roots, log_key=sealer.key.verifier_key, cosigners=cosigners
        )

    good = run([witness.verifier_key])
    assert good.ok
    [number] = [s.subject for s in good.sections if s.subject.startswith("TS-")]
    item = good.section(number)
    assert item is not None and item.result.get(Check.COSIGNATURE) is not None
    other = generate_signer_key("witness.example/w2", SignatureType.COSIGNATURE_V1)
    assert run([other.verifier_key]).failed == ((number, Check.COSIGNATURE),)
    unchecked = run([])
    assert unchecked.ok
    assert any("witness.example/w1" in n and "not checked" in n for n in unchecked.notices)


def test_a_symlink_member_is_refused(sealer: Sealer, case_package: bytes) -> None:
    import zipfile

    out = io.BytesIO(case_package)
    with zipfile.ZipFile(out, "a") as zf:
        info = zipfile.ZipInfo("items/link")
        info.external_attr = (0o120777) << 16
        zf.writestr(info, "/etc/passwd")
    report = verify_package(
        io.BytesIO(out.getvalue()),
        roots=[sealer.pki.root.certificate],
        log_key=sealer.key.verifier_key,
    )
    assert report.failed == (("package", Check.PACKAGE_ZIP),)
    assert report.section("items/link") is None  # never read


def test_zip64_members_are_written_and_read(
    sealer: Sealer, case_items: list[PackageItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ZIP64's threshold lowered, every member needs ZIP64 records, as a > 4 GiB video
    would; the package still verifies, and stays deterministic."""
    import zipfile

    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1000)
    package = sealer.build(case_items)
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        big = [i for i in zf.infolist() if i.file_size > 1000]
        assert big and all(i.extract_version >= 45 for i in big)
    report = verify_package(
        io.BytesIO(package), roots=[sealer.pki.root.certificate], log_key=sealer.key.verifier_key
    )
    assert report.ok, report.failed


def test_garbage_token_and_proof_fail_by_name(
    sealer: Sealer, case_package: bytes, case_items: list[PackageItem]
) -> None:
    from timeseal.core.package.layout import log_proof_path, token_path

    number = case_items[0].number
    files = members(case_package)
    files[token_path(number)] = b"not DER"
    files[log_proof_path(case_items[1].number)] = b"not a proof"
    report = verify_package(
        io.BytesIO(rezip(files)),
        roots=[sealer.pki.root.certificate],
        log_key=sealer.key.verifier_key,
    )
    failed = set(report.failed)
    assert (number, Check.TOKEN_PARSES) in failed
    assert (case_items[1].number, Check.LOG_PROOF_PARSES) in failed
    assert {s for s, _ in failed} == {
        number,
        case_items[1].number,
        token_path(number),
        log_proof_path(case_items[1].number),
    }
    section = report.section(number)
    assert section is not None
    skipped = {c.check for c in section.result.checks if c.status is Status.SKIPPED}
    assert Check.IMPRINT_MATCHES in skipped and Check.INCLUSION_PROOF in skipped


def test_unreadable_trust_material_in_the_package(case_package: bytes) -> None:
    files = members(case_package)
    files["certs/tsa-chain.pem"] = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    files["certs/log.vkey"] = b"not a key\n"
    report = verify_package(io.BytesIO(rezip(files)))
    failed = set(report.failed)
    assert ("package", Check.TRUST_ANCHOR) in failed and ("package", Check.LOG_KEY) in failed
    assert not any(c in (Check.SIGNATURE, Check.INCLUSION_PROOF) for _, c in failed)


def test_a_deflated_rezip_is_refused_by_name(sealer: Sealer, case_package: bytes) -> None:
    """docs/package-format.md: every member is STORED. A re-zipped (deflated) package is
    refused by name and nothing in it is inflated (issue 12: a compression ratio would let a
    small upload make the verifier hash gigabytes); the unzipped files still verify with
    VERIFY.md."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members(case_package).items():
            zf.writestr(name, data)
    report = verify_package(
        io.BytesIO(out.getvalue()),
        roots=[sealer.pki.root.certificate],
        log_key=sealer.key.verifier_key,
    )
    assert not report.ok
    package = report.section("package")
    assert package is not None
    zip_check = package.result.get(Check.PACKAGE_ZIP)
    assert zip_check is not None and "compressed (method 8)" in zip_check.detail
    assert ("package", Check.MANIFEST_CANONICAL) in report.failed
    assert ("proofs/manifest.tsr", Check.TOKEN_PARSES) in report.failed


def test_bad_arguments_raise(sealer: Sealer, case_package: bytes) -> None:
    witness = generate_signer_key("w", SignatureType.COSIGNATURE_V1).verifier_key
    with pytest.raises(ValueError, match="Ed25519"):
        verify_package(io.BytesIO(case_package), log_key=witness)
    with pytest.raises(ValueError, match="cosignature"):
        verify_package(io.BytesIO(case_package), cosigners=[sealer.key.verifier_key])
    with pytest.raises(ValueError, match="twice"):
        verify_package(io.BytesIO(case_package), cosigners=[witness, witness])
    with pytest.raises(ValueError, match="quorum"):
        verify_package(io.BytesIO(case_package), cosigners=[witness], quorum=2)
    with pytest.raises(TypeError):
        verify_package(io.BytesIO(case_package), log_key="key")  # type: ignore[arg-type]


def test_members_deflated_one_by_one_fail_where_they_are_needed(
    sealer: Sealer, case_package: bytes
) -> None:
    files = members(case_package)
    item = parse_manifest(files["manifest.json"])[0].items[0]
    assert item.certificate is not None
    deflated = {item.path, item.log_proof, item.certificate}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            method = zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED
            zf.writestr(name, data, compress_type=method)
    counted: list[int] = []
    report = verify_package(
        io.BytesIO(out.getvalue()),
        roots=[sealer.pki.root.certificate],
        log_key=sealer.key.verifier_key,
        certificate_check=lambda data, anchors: VerificationResult(
            (CheckResult(Check.CERTIFICATE_SIGNATURE, Status.PASS),)
        ),
        progress=counted.append,
    )
    failed = set(report.failed)
    assert (item.path, Check.FILE_PRESENT) in failed
    assert (item.number, Check.LOG_PROOF_PARSES) in failed
    assert (item.number, Check.CERTIFICATE_SIGNATURE) in failed
    assert counted.count(0) == 3  # once before each item


def test_a_cosigner_key_as_the_packaged_log_key_fails(case_package: bytes) -> None:
    files = members(case_package)
    witness = generate_signer_key("w", SignatureType.COSIGNATURE_V1).verifier_key
    files["certs/log.vkey"] = (format_verifier_key(witness) + "\n").encode()
    report = verify_package(io.BytesIO(rezip(files)))
    package = report.section("package")
    assert package is not None
    log_key = package.result.get(Check.LOG_KEY)
    assert log_key is not None and "is not an Ed25519 log key" in log_key.detail


@pytest.mark.parametrize(
    ("earlier", "verdict"),
    [
        (dt.timedelta(minutes=-60), Verdict.VALID_WITH_WARNINGS),
        (dt.timedelta(minutes=6), Verdict.VALID_WITH_WARNINGS),
        (dt.timedelta(minutes=30), Verdict.VALID_WITH_WARNINGS),
        (dt.timedelta(minutes=5, milliseconds=500), Verdict.VALID),  # 5 min + the accuracy
        (dt.timedelta(minutes=-5), Verdict.VALID),
    ],
)
def test_a_manifest_token_far_from_the_sealing_time_is_flagged(
    earlier: dt.timedelta, verdict: Verdict, sealer: Sealer, case_items: list[PackageItem]
) -> None:
    """The server stamps a manifest as it seals it: a token more than 5 minutes away (beyond
    the token's accuracy, 500 ms here) was obtained some other time, and the verdict says so."""
    report = _verify(sealer, sealer.build(case_items, case={}, sealed_at=GEN_TIME - earlier))
    assert isinstance(report, PackageReport) and report.ok
    assessment = report.assessment
    assert assessment.verdict is verdict
    if verdict is Verdict.VALID_WITH_WARNINGS:
        [finding] = assessment.findings
        assert (finding.subject, finding.code) == ("proofs/manifest.tsr", Reason.TIMES_DISAGREE)
