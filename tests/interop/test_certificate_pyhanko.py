"""pyHanko and our pure verifier judge the certificate PDF alike.

pyHanko reports ``valid=True`` for a signature or a token whose chain it cannot trust, so
every test asserts ``trusted`` and ``bottom_line`` explicitly, and one repeats the validation
under another root. The tokens in the PDF must be ours: signed by the data dir's TSA
certificate and recorded in its issuance journal.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from tests.support.certificates import (
    CertificateKit,
    certificate_kit,
    sample_facts,
    sample_jpeg,
)
from tests.support.pki import PKIFixture
from timeseal.core.pdf_report import PdfCheck
from timeseal.core.pdf_signature import verify_pdf_signatures
from timeseal.server.certificate.media import image_preview
from timeseal.store.db import make_engine
from timeseal.store.issuance import iter_journal

pytestmark = pytest.mark.interop


@dataclass(frozen=True)
class Signed:
    kit: CertificateKit
    data: bytes


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    with certificate_kit(tmp_path_factory.mktemp("cert-interop")) as kit:
        preview = image_preview(sample_jpeg())
        yield Signed(kit=kit, data=kit.build(sample_facts(kind="photo"), preview=preview))


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def _embedded(data: bytes) -> tuple[EmbeddedPdfSignature, EmbeddedPdfSignature]:
    reader = PdfFileReader(io.BytesIO(data))
    (signature,) = [s for s in reader.embedded_regular_signatures]
    (timestamp,) = [s for s in reader.embedded_timestamp_signatures]
    return signature, timestamp


def test_pyhanko_reports_intact_trusted_and_timestamped(signed: Signed) -> None:
    signature, timestamp = _embedded(signed.data)
    context = ValidationContext(trust_roots=[_asn1(signed.kit.root)])

    status = validate_pdf_signature(
        signature, signer_validation_context=context, ts_validation_context=context
    )
    stamp = validate_pdf_timestamp(timestamp, validation_context=context)

    assert status.intact is True
    assert status.valid is True
    assert status.trusted is True
    assert status.bottom_line is True
    assert status.md_algorithm == "sha256"
    assert status.signing_cert.subject.human_friendly == (
        "Common Name: TimeSeal Document Signing, Organization: TimeSeal"
    )
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.trusted
    assert stamp.intact is True and stamp.valid is True and stamp.trusted is True
    assert stamp.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert stamp.signing_cert.dump() == signed.kit.tsa_certificate.public_bytes(Encoding.DER)
    # The two verifiers agree, and on the times.
    ours = verify_pdf_signatures(signed.data, roots=[signed.kit.root])
    assert ours.ok, ours.failed
    assert ours.signatures[0].timestamp_gen_time == status.timestamp_validity.timestamp
    assert ours.signatures[1].timestamp_gen_time == stamp.timestamp


def test_tokens_are_our_tsas_and_journaled(signed: Signed) -> None:
    report = verify_pdf_signatures(signed.data, roots=[signed.kit.root])
    engine = make_engine(f"sqlite:///{signed.kit.data_dir / 'timeseal.db'}")
    try:
        journaled = {entry.gen_time for _, entry in iter_journal(engine)}
    finally:
        engine.dispose()
    for signature in report.signatures:
        assert signature.timestamp_gen_time in journaled


def test_pyhanko_does_not_trust_another_root(signed: Signed, test_pki: PKIFixture) -> None:
    signature, timestamp = _embedded(signed.data)
    context = ValidationContext(trust_roots=[_asn1(test_pki.root.certificate)])

    status = validate_pdf_signature(
        signature, signer_validation_context=context, ts_validation_context=context
    )
    stamp = validate_pdf_timestamp(timestamp, validation_context=context)

    # The cryptography is sound, so pyHanko still says intact: only trust tells.
    assert status.intact is True
    assert status.trusted is False
    assert status.bottom_line is False
    assert stamp.intact is True and stamp.trusted is False
    ours = verify_pdf_signatures(signed.data, roots=[test_pki.root.certificate])
    assert not ours.ok
    assert PdfCheck.CHAIN_TRUSTED in ours.failed
    assert PdfCheck.DOCUMENT_TIMESTAMP in ours.failed


def test_both_reject_one_changed_byte_in_a_signed_range(signed: Signed) -> None:
    data = bytearray(signed.data)
    # Inside the first revision (the page), covered by both signatures.
    offset = data.index(b"/Producer")
    data[offset + 1] ^= 0x20
    tampered = bytes(data)
    signature, timestamp = _embedded(tampered)
    context = ValidationContext(trust_roots=[_asn1(signed.kit.root)])

    status = validate_pdf_signature(
        signature, signer_validation_context=context, ts_validation_context=context
    )
    stamp = validate_pdf_timestamp(timestamp, validation_context=context)
    ours = verify_pdf_signatures(tampered, roots=[signed.kit.root])

    assert status.intact is False and status.bottom_line is False
    assert stamp.intact is False
    assert not ours.ok
    assert PdfCheck.MESSAGE_DIGEST in ours.failed
    assert PdfCheck.DOCUMENT_TIMESTAMP in ours.failed


def test_certificate_written_to_disk_opens_in_pyhanko(signed: Signed, tmp_path: Path) -> None:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(signed.data)
    with path.open("rb") as f:
        reader = PdfFileReader(f)
        assert [s.field_name for s in reader.embedded_signatures] == [
            "TimeSealSignature",
            "TimeSealDocTimeStamp",
        ]
