"""pyHanko uses our live ``/tsa`` for a PDF document timestamp (PAdES ``/DocTimeStamp``).

pyHanko's own verdict is not enough on its own: ``validate_tst_signed_data`` reports
``valid=True`` for a token whose chain it cannot trust and accepts a non-critical EKU. So these
tests assert ``trusted`` (and that it turns False under a different root), and then check the
very token embedded in the PDF with our verifier and with ``openssl ts -verify -digest``.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import validate_pdf_timestamp
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from tests.support.openssl import der_prefix, granted_response, ts_verify
from tests.support.pki import PKIFixture
from tests.support.server import LiveServer
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder


def _minimal_pdf() -> bytes:
    """A one-page PDF 1.7 written by hand (ISO 32000-1 §7.5), so pyHanko only appends to it."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe6\x97\xb6\xe5\x8d\xb0\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@dataclass(frozen=True)
class StampedPdf:
    path: Path
    data: bytes


@pytest.fixture(scope="module")
def stamped_pdf(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> StampedPdf:
    """A PDF with one document timestamp, requested by pyHanko from our /tsa."""
    writer = IncrementalPdfFileWriter(io.BytesIO(_minimal_pdf()))
    timestamper = PdfTimeStamper(HTTPTimeStamper(server.tsa_url, timeout=30))
    output = timestamper.timestamp_pdf(writer, "sha256")
    data = output.getvalue()
    path = tmp_path_factory.mktemp("pyhanko") / "certificate.pdf"
    path.write_bytes(data)
    return StampedPdf(path=path, data=data)


def _asn1_root(pem_bytes: bytes) -> asn1_x509.Certificate:
    _, _, der = pem.unarmor(pem_bytes)
    return asn1_x509.Certificate.load(der)


def _document_timestamp(pdf: StampedPdf) -> EmbeddedPdfSignature:
    signatures = PdfFileReader(io.BytesIO(pdf.data)).embedded_timestamp_signatures
    assert len(signatures) == 1
    signature: EmbeddedPdfSignature = signatures[0]
    return signature


@pytest.mark.interop
def test_pyhanko_trusts_our_document_timestamp_under_our_root(
    server: LiveServer, stamped_pdf: StampedPdf
) -> None:
    embedded = _document_timestamp(stamped_pdf)
    context = ValidationContext(trust_roots=[_asn1_root(server.root_pem.read_bytes())])

    status = validate_pdf_timestamp(embedded, validation_context=context)

    tsa = x509.load_pem_x509_certificate((server.data_dir / "pki" / "tsa.pem").read_bytes())
    token = parse_response(granted_response(der_prefix(bytes(embedded.pkcs7_content)))).token
    assert token is not None
    assert status.intact is True
    assert status.valid is True
    assert status.trusted is True
    assert status.trust_problem_indic is None
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert status.md_algorithm == "sha256"
    assert status.signing_cert.dump() == tsa.public_bytes(Encoding.DER)
    assert status.validation_path is not None
    assert status.validation_path[0].dump() == _asn1_root(server.root_pem.read_bytes()).dump()
    assert status.timestamp == token.tst_info.gen_time


@pytest.mark.interop
def test_pyhanko_does_not_trust_our_timestamp_under_another_root(
    stamped_pdf: StampedPdf, test_pki: PKIFixture
) -> None:
    embedded = _document_timestamp(stamped_pdf)
    other_root = test_pki.root.certificate.public_bytes(Encoding.PEM)
    context = ValidationContext(trust_roots=[_asn1_root(other_root)])

    status = validate_pdf_timestamp(embedded, validation_context=context)

    # The cryptography is sound, so pyHanko still says intact and valid: only `trusted` tells.
    assert status.intact is True
    assert status.valid is True
    assert status.trusted is False
    assert status.validation_path is None


@pytest.mark.interop
def test_token_in_pdf_verifies_without_pyhanko(
    server: LiveServer, stamped_pdf: StampedPdf, tmp_path: Path
) -> None:
    """Never rely on pyHanko alone: hash the signed byte ranges ourselves and check the token
    with our verifier and with `openssl ts -verify -digest`."""
    embedded = _document_timestamp(stamped_pdf)
    start1, length1, start2, length2 = (int(n) for n in embedded.byte_range)
    covered = (
        stamped_pdf.data[start1 : start1 + length1] + stamped_pdf.data[start2 : start2 + length2]
    )
    hashed = hashlib.sha256(covered).digest()
    response_der = granted_response(der_prefix(bytes(embedded.pkcs7_content)))
    response_path = tmp_path / "pdf-timestamp.tsr"
    response_path.write_bytes(response_der)
    root = x509.load_pem_x509_certificate(server.root_pem.read_bytes())

    result = (
        TimestampVerifierBuilder()
        .add_root(root)
        .build()
        .verify(parse_response(response_der), hashed)
    )
    verdict = ts_verify(tmp_path, response_path, digest=hashed, ca_file=server.root_pem)

    assert start1 == 0
    assert start2 + length2 == len(stamped_pdf.data)
    assert result.ok, result.checks
    assert verdict.ok, verdict.output
