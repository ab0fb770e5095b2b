"""The pure PDF signature verifier on certificate PDFs, intact and damaged in every way."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from asn1crypto import cms

from tests.support.certificates import CertificateKit, certificate_kit, sample_facts
from tests.support.pki import PKIFixture
from timeseal.core import _cms, _pdf_scan
from timeseal.core.pdf_report import PdfCheck, SignatureKind
from timeseal.core.pdf_signature import verify_pdf_signatures
from timeseal.core.verification import Check, Status


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertificateKit]:
    with certificate_kit(tmp_path_factory.mktemp("pdfsig-data")) as k:
        yield k


@pytest.fixture(scope="module")
def pdf(kit: CertificateKit) -> bytes:
    return kit.build(sample_facts())


def _ranges(data: bytes) -> list[tuple[int, int, int, int]]:
    return [s.byte_range for s in _pdf_scan.find_signatures(data)]


def test_intact_certificate(kit: CertificateKit, pdf: bytes) -> None:
    report = verify_pdf_signatures(pdf, roots=[kit.root])

    assert report.ok and report.failed == () and report.signed and report.timestamped
    signature, stamp = report.signatures
    assert signature.kind is SignatureKind.SIGNATURE
    assert signature.sub_filter == "ETSI.CAdES.detached"
    assert [c.check for c in signature.checks] == [
        PdfCheck.BYTE_RANGE,
        PdfCheck.REVISION_END,
        PdfCheck.CMS_STRUCTURE,
        PdfCheck.SIGNER_CERTIFICATE,
        PdfCheck.MESSAGE_DIGEST,
        PdfCheck.SIGNATURE,
        PdfCheck.SIGNATURE_TIMESTAMP,
        PdfCheck.CHAIN_TRUSTED,
        PdfCheck.SIGNER_PURPOSE,
    ]
    assert signature.claimed_signing_time is not None
    assert signature.timestamp is not None and signature.timestamp.ok
    assert stamp.kind is SignatureKind.DOCUMENT_TIMESTAMP
    assert stamp.sub_filter == "ETSI.RFC3161"
    assert [c.check for c in stamp.checks] == [
        PdfCheck.BYTE_RANGE,
        PdfCheck.REVISION_END,
        PdfCheck.CMS_STRUCTURE,
        PdfCheck.DOCUMENT_TIMESTAMP,
    ]
    assert stamp.timestamp is not None and stamp.timestamp.get(Check.IMPRINT_MATCHES)
    assert stamp.byte_range[2] + stamp.byte_range[3] == len(pdf)
    assert [c.check for c in report.checks] == [
        PdfCheck.SIGNATURES_FOUND,
        PdfCheck.COVERS_WHOLE_FILE,
    ]


def test_wrong_root(pdf: bytes, test_pki: PKIFixture) -> None:
    report = verify_pdf_signatures(pdf, roots=[test_pki.root.certificate])

    assert not report.ok and not report.timestamped and not report.signed
    assert report.failed == (
        PdfCheck.SIGNATURE_TIMESTAMP,
        PdfCheck.CHAIN_TRUSTED,
        PdfCheck.DOCUMENT_TIMESTAMP,
    )
    stamp = report.signatures[1]
    assert stamp.timestamp is not None and stamp.timestamp.failed == (Check.CHAIN_TRUSTED,)
    chain = [c for c in report.signatures[0].checks if c.check is PdfCheck.CHAIN_TRUSTED]
    assert chain[0].detail == "no trusted time to check the chain at"


def test_one_byte_changed_in_the_page(kit: CertificateKit, pdf: bytes) -> None:
    data = bytearray(pdf)
    data[data.index(b"/Producer") + 1] ^= 0x20
    report = verify_pdf_signatures(bytes(data), roots=[kit.root])
    assert report.failed == (PdfCheck.MESSAGE_DIGEST, PdfCheck.DOCUMENT_TIMESTAMP)
    stamp = report.signatures[1].timestamp
    assert stamp is not None and stamp.failed == (Check.IMPRINT_MATCHES,)


def test_one_byte_changed_in_the_signature_revision(kit: CertificateKit, pdf: bytes) -> None:
    """Only the document timestamp covers the signature's own revision after /Contents."""
    data = bytearray(pdf)
    start, length = _ranges(pdf)[0][2:]
    data[start + length - 10] ^= 0x01
    report = verify_pdf_signatures(bytes(data), roots=[kit.root])
    assert PdfCheck.MESSAGE_DIGEST in report.failed
    assert PdfCheck.DOCUMENT_TIMESTAMP in report.failed


def test_signature_value_changed(kit: CertificateKit, pdf: bytes) -> None:
    """A bit flipped in the CMS signature value: the signature and its timestamp both fail."""
    raw = _pdf_scan.find_signatures(pdf)[0]
    assert raw.contents is not None and raw.contents_span is not None
    der_len = len(raw.contents.rstrip(b"\x00"))
    # The ECDSA signature sits just before the unsigned attributes; flip a hex digit in the
    # middle of the CMS object instead and expect whatever check owns that byte to fail.
    position = raw.contents_span[0] + 1 + der_len  # the middle, in hex digits
    data = bytearray(pdf)
    data[position] = ord("0") if data[position] != ord("0") else ord("1")
    report = verify_pdf_signatures(bytes(data), roots=[kit.root])
    assert not report.ok
    assert report.signatures[0].failed


def test_appended_bytes_are_content_added_after_signing(kit: CertificateKit, pdf: bytes) -> None:
    update = b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
    report = verify_pdf_signatures(pdf + update, roots=[kit.root])
    assert report.failed == (PdfCheck.COVERS_WHOLE_FILE,)
    (whole,) = [c for c in report.checks if c.check is PdfCheck.COVERS_WHOLE_FILE]
    assert (
        whole.detail == f"content added after signing: {len(update)} bytes after the last signature"
    )
    assert all(s.ok for s in report.signatures)


def test_truncated_file(kit: CertificateKit, pdf: bytes) -> None:
    report = verify_pdf_signatures(pdf[:-100], roots=[kit.root])
    assert PdfCheck.BYTE_RANGE in report.failed
    assert PdfCheck.COVERS_WHOLE_FILE in report.failed
    stamp = report.signatures[1]
    assert {c.status for c in stamp.checks if c.check is not PdfCheck.BYTE_RANGE} == {
        Status.SKIPPED
    }


def _edit_range(pdf: bytes, index: int, new: tuple[int, int, int, int]) -> bytes:
    """Rewrite one /ByteRange in place, padded to the same width (offsets stay valid)."""
    matches = list(re.finditer(rb"/ByteRange\s*\[[^\]]*\]", pdf))
    m = matches[index]
    text = b"/ByteRange [%d %d %d %d]" % new
    assert len(text) <= m.end() - m.start()
    text = text.ljust(m.end() - m.start())
    return pdf[: m.start()] + text + pdf[m.end() :]


def test_gap_must_be_exactly_the_contents(kit: CertificateKit, pdf: bytes) -> None:
    a, b, c, d = _ranges(pdf)[1]
    shifted = _edit_range(pdf, 1, (a, b + 2, c, d))
    report = verify_pdf_signatures(shifted, roots=[kit.root])
    stamp = report.signatures[1]
    assert stamp.failed == (PdfCheck.BYTE_RANGE,)
    assert "the gap is" in stamp.checks[0].detail


def test_range_must_start_at_zero(kit: CertificateKit, pdf: bytes) -> None:
    _, b, c, d = _ranges(pdf)[0]
    moved = _edit_range(pdf, 0, (1, b - 1, c, d))
    report = verify_pdf_signatures(moved, roots=[kit.root])
    assert report.signatures[0].failed == (PdfCheck.BYTE_RANGE,)
    assert report.signatures[0].checks[0].detail == "the first range starts at 1, not 0"


def test_unsigned_pdf(kit: CertificateKit) -> None:
    from timeseal.server.certificate.render import render_certificate

    unsigned = render_certificate(sample_facts(), fonts=kit.fonts)
    report = verify_pdf_signatures(unsigned, roots=[kit.root])
    assert not report.ok
    assert report.failed == (PdfCheck.SIGNATURES_FOUND,)
    assert report.signatures == ()


def test_not_a_cms_object(kit: CertificateKit, pdf: bytes) -> None:
    raw = _pdf_scan.find_signatures(pdf)
    data = bytearray(pdf)
    for sig in raw:
        assert sig.contents_span is not None
        data[sig.contents_span[0] + 1 : sig.contents_span[0] + 3] = b"04"  # not a SEQUENCE
    report = verify_pdf_signatures(bytes(data), roots=[kit.root])
    assert report.failed == (PdfCheck.CMS_STRUCTURE, PdfCheck.CMS_STRUCTURE)


def test_arguments_are_checked(kit: CertificateKit, pdf: bytes) -> None:
    with pytest.raises(TypeError):
        verify_pdf_signatures("text", roots=[kit.root])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="root"):
        verify_pdf_signatures(pdf, roots=[])
    with pytest.raises(TypeError):
        verify_pdf_signatures(pdf, roots=["root"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_pdf_signatures(pdf, roots=[kit.root], at=dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"/M (D:20261129190000+08'00')", dt.datetime(2026, 11, 29, 11, 0, tzinfo=dt.UTC)),
        (b"/M (D\\07220261129110000Z)", dt.datetime(2026, 11, 29, 11, 0, tzinfo=dt.UTC)),
        (b"/M(D:20261129110000Z)", dt.datetime(2026, 11, 29, 11, 0, tzinfo=dt.UTC)),
        (b"/M (D:20261129110000Z\\) x)", dt.datetime(2026, 11, 29, 11, 0, tzinfo=dt.UTC)),
        (b"/M (D:20261129060000-05'00)", dt.datetime(2026, 11, 29, 11, 0, tzinfo=dt.UTC)),
        (b"/M (D:20261329110000Z)", None),
        (b"/Name /M", None),
    ],
)
def test_claimed_time(text: bytes, expected: dt.datetime | None) -> None:
    assert _pdf_scan._claimed_time(text) == expected


# -- crafted /Contents: every way a CMS object can be wrong ---------------------------------


def _content_info(pdf: bytes, index: int = 0) -> cms.ContentInfo:
    raw = _pdf_scan.find_signatures(pdf)[index]
    assert raw.contents is not None
    return cms.ContentInfo.load(raw.contents[: _cms.der_length(raw.contents)])


def _with_contents(pdf: bytes, der: bytes, index: int = 0) -> bytes:
    """``pdf`` with signature ``index``'s /Contents replaced by ``der``, zero-padded in place."""
    raw = _pdf_scan.find_signatures(pdf)[index]
    assert raw.contents_span is not None
    start, end = raw.contents_span
    width = end - start - 2
    digits = der.hex().encode()
    assert len(digits) <= width
    return pdf[: start + 1] + digits.ljust(width, b"0") + pdf[end - 1 :]


def _signature_checks(kit: CertificateKit, data: bytes, **kw: object) -> dict[PdfCheck, str]:
    report = verify_pdf_signatures(data, roots=[kit.root], **kw)  # type: ignore[arg-type]
    return {c.check: c.status.value for c in report.signatures[0].checks}


def test_signature_without_certificates(kit: CertificateKit, pdf: bytes) -> None:
    info = _content_info(pdf)
    info["content"]["certificates"] = cms.CertificateSet([])
    checks = _signature_checks(kit, _with_contents(pdf, info.dump()))
    assert checks[PdfCheck.SIGNER_CERTIFICATE] == "fail"
    assert checks[PdfCheck.MESSAGE_DIGEST] == "pass"
    assert checks[PdfCheck.SIGNATURE] == "skipped"
    assert checks[PdfCheck.CHAIN_TRUSTED] == "skipped"
    assert checks[PdfCheck.SIGNER_PURPOSE] == "skipped"


def test_signature_without_timestamp_needs_a_time(kit: CertificateKit, pdf: bytes) -> None:
    info = _content_info(pdf)
    signer_info = info["content"]["signer_infos"][0]
    signer_info["unsigned_attrs"] = cms.CMSAttributes([])
    data = _with_contents(pdf, info.dump())

    without = _signature_checks(kit, data)
    with_time = _signature_checks(kit, data, at=dt.datetime.now(dt.UTC))

    assert without[PdfCheck.SIGNATURE_TIMESTAMP] == "pass"  # optional
    assert without[PdfCheck.CHAIN_TRUSTED] == "fail"
    assert with_time[PdfCheck.CHAIN_TRUSTED] == "pass"
    assert with_time[PdfCheck.SIGNATURE] == "pass"


def test_signature_timestamp_that_is_not_a_token(kit: CertificateKit, pdf: bytes) -> None:
    info = _content_info(pdf)
    signer_info = info["content"]["signer_infos"][0]
    data_info = cms.ContentInfo({"content_type": "data", "content": b"not a token"})
    signer_info["unsigned_attrs"] = cms.CMSAttributes(
        [{"type": "signature_time_stamp_token", "values": [data_info]}]
    )
    report = verify_pdf_signatures(_with_contents(pdf, info.dump()), roots=[kit.root])
    checks = {c.check: c for c in report.signatures[0].checks}
    assert checks[PdfCheck.SIGNATURE_TIMESTAMP].status is Status.FAIL
    assert checks[PdfCheck.SIGNATURE_TIMESTAMP].detail.startswith("not an RFC 3161 token")
    assert checks[PdfCheck.CHAIN_TRUSTED].status is Status.FAIL


def test_signed_attributes_must_be_for_detached_data(kit: CertificateKit, pdf: bytes) -> None:
    info = _content_info(pdf)
    signer_info = info["content"]["signer_infos"][0]
    attrs = [a for a in signer_info["signed_attrs"] if a["type"].native != "content_type"]
    signer_info["signed_attrs"] = cms.CMSAttributes(attrs)
    checks = _signature_checks(kit, _with_contents(pdf, info.dump()))
    assert checks[PdfCheck.MESSAGE_DIGEST] == "fail"
    assert checks[PdfCheck.SIGNATURE] == "fail"  # the attributes changed under the signature


def test_message_digest_attribute_missing(kit: CertificateKit, pdf: bytes) -> None:
    info = _content_info(pdf)
    signer_info = info["content"]["signer_infos"][0]
    attrs = [a for a in signer_info["signed_attrs"] if a["type"].native != "message_digest"]
    signer_info["signed_attrs"] = cms.CMSAttributes(attrs)
    report = verify_pdf_signatures(_with_contents(pdf, info.dump()), roots=[kit.root])
    (digest,) = [c for c in report.signatures[0].checks if c.check is PdfCheck.MESSAGE_DIGEST]
    assert digest.detail == "no messageDigest signed attribute"


def test_digest_algorithm_refused(kit: CertificateKit, pdf: bytes) -> None:
    info = _content_info(pdf)
    signer_info = info["content"]["signer_infos"][0]
    signer_info["digest_algorithm"] = {"algorithm": "sha1"}
    report = verify_pdf_signatures(_with_contents(pdf, info.dump()), roots=[kit.root])
    failed = {c.check: c.detail for c in report.signatures[0].checks if c.status is Status.FAIL}
    assert failed[PdfCheck.MESSAGE_DIGEST] == "digest algorithm 1.3.14.3.2.26 refused"


def test_no_signed_attributes(kit: CertificateKit, pdf: bytes) -> None:
    info = _content_info(pdf)
    info["content"]["signer_infos"][0]["signed_attrs"] = cms.CMSAttributes([])
    report = verify_pdf_signatures(_with_contents(pdf, info.dump()), roots=[kit.root])
    assert report.signatures[0].failed == (PdfCheck.CMS_STRUCTURE,)


@pytest.mark.parametrize(
    ("contents", "reason"),
    [
        (cms.ContentInfo({"content_type": "data", "content": b"x"}).dump(), "not a CMS SignedData"),
        (b"\x30\x03\x02\x01\x01\x00\x01", "non-zero bytes after the CMS object"),
        (b"\x30\x85\x01\x02\x03\x04\x05", "unsupported DER length"),
        (b"\x30\x82\xff\xff", "longer than the hex string"),
        (b"\x30\x03\x02\x01\x01", "bad SignedData"),
    ],
)
def test_contents_that_are_not_one_signed_data(
    kit: CertificateKit, pdf: bytes, contents: bytes, reason: str
) -> None:
    report = verify_pdf_signatures(_with_contents(pdf, contents), roots=[kit.root])
    (structure,) = [c for c in report.signatures[0].checks if c.check is PdfCheck.CMS_STRUCTURE]
    assert structure.status is Status.FAIL
    assert reason in structure.detail


def test_two_signer_infos(kit: CertificateKit, pdf: bytes) -> None:
    info = _content_info(pdf)
    signer_info = info["content"]["signer_infos"][0]
    signer_info["unsigned_attrs"] = cms.CMSAttributes([])  # room for a second one
    info["content"]["certificates"] = cms.CertificateSet([])
    info["content"]["signer_infos"] = cms.SignerInfos([signer_info, signer_info])
    report = verify_pdf_signatures(_with_contents(pdf, info.dump()), roots=[kit.root])
    (structure,) = [c for c in report.signatures[0].checks if c.check is PdfCheck.CMS_STRUCTURE]
    assert structure.detail == "2 SignerInfos, expected exactly 1"


def test_document_timestamp_that_is_not_a_token(kit: CertificateKit, pdf: bytes) -> None:
    not_token = cms.ContentInfo({"content_type": "data", "content": b"x"}).dump()
    report = verify_pdf_signatures(_with_contents(pdf, not_token, index=1), roots=[kit.root])
    stamp = report.signatures[1]
    assert stamp.failed == (PdfCheck.CMS_STRUCTURE,)
    assert stamp.checks[-1].status is Status.SKIPPED
    padded = _with_contents(pdf, b"\x30\x03\x02\x01\x01\x00\x07", index=1)
    report = verify_pdf_signatures(padded, roots=[kit.root])
    assert report.signatures[1].failed == (PdfCheck.CMS_STRUCTURE,)


def test_signature_dictionary_without_contents(kit: CertificateKit) -> None:
    data = b"%PDF-1.7\n1 0 obj\n<< /Type /Sig /ByteRange [0 10 20 5] >>\nendobj\n%%EOF\n"
    report = verify_pdf_signatures(data, roots=[kit.root])
    assert report.signatures[0].checks[0].detail == (
        "no /Contents hex string in the signature dictionary"
    )
    orphan = b"%PDF-1.7\n/ByteRange [0 1 2 3]\n"
    report = verify_pdf_signatures(orphan, roots=[kit.root])
    assert report.signatures[0].failed == (PdfCheck.BYTE_RANGE,)


def test_signature_not_ending_a_revision(kit: CertificateKit, pdf: bytes) -> None:
    """A signature whose range stops mid-revision (here: the range and the file both lose
    "F\n"), so the signed bytes do not end in %%EOF."""
    a, b, c, d = _ranges(pdf)[1]
    assert pdf.endswith(b"%%EOF\n")
    cut = _edit_range(pdf[:-2], 1, (a, b, c, d - 2))
    report = verify_pdf_signatures(cut, roots=[kit.root])
    assert PdfCheck.REVISION_END in report.signatures[1].failed


def test_signer_purpose(kit: CertificateKit, pdf: bytes, test_pki: PKIFixture) -> None:
    """A certificate under the same root but for time-stamping is no document signer."""
    assert _cms.document_signing_purpose(kit.tsa_certificate) == (
        False,
        "extendedKeyUsage ['1.3.6.1.5.5.7.3.8'] is not for signing documents",
    )
    assert _cms.document_signing_purpose(test_pki.root.certificate) == (
        False,
        "keyUsage has neither digitalSignature nor nonRepudiation",
    )
    report = verify_pdf_signatures(pdf, roots=[kit.root])
    signer = report.signatures[0]
    purpose = next(c for c in signer.checks if c.check is PdfCheck.SIGNER_PURPOSE)
    assert purpose.status is Status.PASS
