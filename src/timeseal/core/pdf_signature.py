"""Verifying the signatures of a PDF (PAdES, ETSI EN 319 142-1) against roots we choose.

The certificate PDF of an evidence item carries a PAdES signature by the platform's
document-signing certificate (``/SubFilter /ETSI.CAdES.detached``, with a signature
time-stamp) and, after it, a document time-stamp (``/Type /DocTimeStamp``,
``/SubFilter /ETSI.RFC3161``). This module checks both with no PDF library::

    report = verify_pdf_signatures(pdf_bytes, roots=[root])
    if not report.ok: print(report.failed)

For every signature dictionary, in file order (each check by name, ``PdfCheck``; a check that
needs an earlier one that failed is SKIPPED):

(1) BYTE_RANGE          ``/ByteRange [0 b c d]``: starts at 0, in the file, and the gap is
                        exactly the ``/Contents`` hex string (ISO 32000-1 §12.8.1)
(2) REVISION_END        the signed bytes end with ``%%EOF`` (a whole revision is signed)
(3) CMS_STRUCTURE       ``/Contents`` is one CMS SignedData with one SignerInfo (RFC 5652)
For ``/Sig`` (the document signature):
(4) SIGNER_CERTIFICATE  the certificate named by the sid is in the SignedData
(5) MESSAGE_DIGEST      the messageDigest attribute is the digest of the signed bytes and
                        the contentType attribute is id-data (RFC 5652 §11.1, §11.2)
(6) SIGNATURE           the signature over the signed attributes verifies (RFC 5652 §5.4)
(7) SIGNATURE_TIMESTAMP the signature-time-stamp token, when present, is a valid RFC 3161
                        token from a TSA under our roots over the signature value
                        (RFC 3161 Appendix A); its genTime is the time the chain is checked at
(8) CHAIN_TRUSTED       the signer chains to one of our roots at that time (RFC 5280 §6)
(9) SIGNER_PURPOSE      the signer's certificate is for signing documents: keyUsage (when
                        present) has digitalSignature or nonRepudiation, and extendedKeyUsage
                        (when present) names document signing (RFC 9336, Microsoft's, or
                        Adobe's), emailProtection or anyExtendedKeyUsage, the purposes Adobe
                        Acrobat accepts; so that a certificate under the same root issued for
                        another purpose (the TSA's) does not count as a document signer
For ``/DocTimeStamp``:
(10) DOCUMENT_TIMESTAMP  ``/Contents`` is an RFC 3161 token, valid under our roots, whose
                        imprint is the digest of the signed bytes (ETSI EN 319 142-1 §5.4)

And for the file: SIGNATURES_FOUND (at least one) and COVERS_WHOLE_FILE (the last signature
reaches the end of the file: nothing was appended after signing, such as an unsigned
incremental update).

*Not* checked: revocation (no network in the core), DocMDP/field locks, what the appended
revisions between two signatures changed (there are none in our PDFs: COVERS_WHOLE_FILE holds
for the last signature and REVISION_END for every one), and that the page shows what the
record says. Signature timestamps and document timestamps are checked with
``TimestampVerifierBuilder``, the same verifier as the evidence tokens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509

from timeseal.core import _cms, _pdf_scan
from timeseal.core.cades import verify as cades
from timeseal.core.errors import MalformedError
from timeseal.core.pdf_report import (
    PdfCheck,
    PdfCheckList,
    PdfCheckResult,
    PdfSignature,
    PdfSignatureReport,
    SignatureKind,
)
from timeseal.core.verification import Check, CheckResult, Status, VerificationResult


def verify_pdf_signatures(
    data: bytes,
    *,
    roots: Sequence[x509.Certificate],
    at: dt.datetime | None = None,
) -> PdfSignatureReport:
    """Check every signature of the PDF ``data`` against ``roots`` (see the module docstring).

    A signature chain is checked at its signature timestamp's genTime; ``at`` (timezone-aware)
    is used for a signature without one, which otherwise fails CHAIN_TRUSTED.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("data must be bytes")
    if not roots:
        raise ValueError("at least one root certificate is needed")
    for root in roots:
        if not isinstance(root, x509.Certificate):
            raise TypeError("roots must be cryptography x509.Certificate objects")
    if at is not None and (at.tzinfo is None or at.utcoffset() is None):
        raise ValueError("at must be timezone-aware")
    data = bytes(data)
    raw = _pdf_scan.find_signatures(data)
    signatures = tuple(_Run(data, r, tuple(roots), at).verify() for r in raw)
    file_checks = [
        PdfCheckResult(
            PdfCheck.SIGNATURES_FOUND,
            Status.PASS if raw else Status.FAIL,
            f"{len(raw)} signature(s)" if raw else "the file has no signature dictionary",
        )
    ]
    if raw:
        end = max(r.byte_range[2] + r.byte_range[3] for r in raw)
        added = len(data) - end
        file_checks.append(
            PdfCheckResult(
                PdfCheck.COVERS_WHOLE_FILE,
                Status.PASS if added == 0 else Status.FAIL,
                ""
                if added == 0
                else f"content added after signing: {added} bytes after the last signature"
                if added > 0
                else f"the last signature claims {-added} bytes beyond the end of the file",
            )
        )
    return PdfSignatureReport(signatures=signatures, checks=tuple(file_checks))


class _Run(PdfCheckList):
    """The checks of one signature dictionary."""

    def __init__(
        self,
        data: bytes,
        raw: _pdf_scan.RawSignature,
        roots: tuple[x509.Certificate, ...],
        at: dt.datetime | None,
    ) -> None:
        self.data = data
        self.raw = raw
        self.roots = roots
        self.at = at
        super().__init__()
        self.kind = (
            SignatureKind.DOCUMENT_TIMESTAMP
            if raw.type_name == "DocTimeStamp" or raw.sub_filter == "ETSI.RFC3161"
            else SignatureKind.SIGNATURE
        )
        self.signer_subject: str | None = None
        self.gen_time: dt.datetime | None = None
        self.timestamp: VerificationResult | None = None

    def report(self) -> PdfSignature:
        return PdfSignature(
            kind=self.kind,
            byte_range=self.raw.byte_range,
            sub_filter=self.raw.sub_filter,
            signer_subject=self.signer_subject,
            claimed_signing_time=self.raw.claimed_time,
            timestamp_gen_time=self.gen_time,
            timestamp=self.timestamp,
            checks=tuple(self.results),
        )

    def later_checks(self) -> tuple[PdfCheck, ...]:
        if self.kind is SignatureKind.DOCUMENT_TIMESTAMP:
            return (PdfCheck.DOCUMENT_TIMESTAMP,)
        return cades.DETACHED_CHECKS

    def verify(self) -> PdfSignature:
        # (1) (2)
        if not self.record(PdfCheck.BYTE_RANGE, *self._byte_range()):
            self.skip((PdfCheck.REVISION_END, PdfCheck.CMS_STRUCTURE), PdfCheck.BYTE_RANGE)
            self.skip(self.later_checks(), PdfCheck.BYTE_RANGE)
            return self.report()
        a, b, c, d = self.raw.byte_range
        signed = self.data[a : a + b] + self.data[c : c + d]
        ends_revision = signed.rstrip(b"\r\n").endswith(b"%%EOF")
        self.record(
            PdfCheck.REVISION_END,
            ends_revision,
            "" if ends_revision else "the signed bytes do not end a revision (%%EOF)",
        )
        assert self.raw.contents is not None
        if self.kind is SignatureKind.DOCUMENT_TIMESTAMP:
            self._document_timestamp(self.raw.contents, signed)
        else:
            self._signature(self.raw.contents, signed)
        return self.report()

    def _byte_range(self) -> tuple[bool, str]:
        a, b, c, d = self.raw.byte_range
        if a != 0:
            return False, f"the first range starts at {a}, not 0"
        if c + d > len(self.data):
            return False, f"the ranges end at {c + d}, past the end of the file ({len(self.data)})"
        if self.raw.contents_span is None or self.raw.contents is None:
            return False, "no /Contents hex string in the signature dictionary"
        if self.raw.contents_span != (a + b, c):
            start, end = self.raw.contents_span
            return False, f"the gap is {a + b}..{c}, the /Contents string is at {start}..{end}"
        return True, ""

    # -- /DocTimeStamp -------------------------------------------------------------------

    def _document_timestamp(self, contents: bytes, signed: bytes) -> None:
        # (3)
        try:
            length = _cms.der_length(contents)
            if any(contents[length:]):
                raise MalformedError("/Contents: non-zero bytes after the token")
            token_der = contents[:length]
        except MalformedError as exc:
            self.record(PdfCheck.CMS_STRUCTURE, False, str(exc))
            self.skip(self.later_checks(), PdfCheck.CMS_STRUCTURE)
            return
        result, token, error = cades.verify_token_over(token_der, signed, self.roots)
        if result is None or token is None:
            self.record(PdfCheck.CMS_STRUCTURE, False, error)
            self.skip(self.later_checks(), PdfCheck.CMS_STRUCTURE)
            return
        self.record(PdfCheck.CMS_STRUCTURE, True)
        # (9)
        self.timestamp = result
        self.gen_time = token.tst_info.gen_time
        self.signer_subject = cades.token_signer(token, result)
        self.record(PdfCheck.DOCUMENT_TIMESTAMP, result.ok, cades.failed_text(result))

    # -- /Sig ----------------------------------------------------------------------------

    def _signature(self, contents: bytes, signed: bytes) -> None:
        # (3)
        try:
            signed_data = cades.parse_signed_data(contents, padded=True)
        except MalformedError as exc:
            self.record(PdfCheck.CMS_STRUCTURE, False, str(exc))
            self.skip(self.later_checks(), PdfCheck.CMS_STRUCTURE)
            return
        self.record(PdfCheck.CMS_STRUCTURE, True)
        # (4)-(9): the detached CAdES signature over the signed bytes
        found = cades.verify_detached(signed_data, signed, self.roots, at=self.at)
        self.results.extend(found.checks)
        self.signer_subject = found.signer_subject
        self.gen_time = found.timestamp_gen_time
        self.timestamp = found.timestamp


def certificate_signature_check(
    data: bytes, roots: Sequence[x509.Certificate]
) -> VerificationResult:
    """A package's certificate PDF, as the package verifier checks it: one CERTIFICATE_SIGNATURE
    result that passes only when every signature verifies against ``roots``, there is a
    document signature (PAdES) and a document timestamp, and nothing was added after them."""
    report = verify_pdf_signatures(data, roots=roots)
    if report.ok and report.signed and report.timestamped:
        return VerificationResult((CheckResult(Check.CERTIFICATE_SIGNATURE, Status.PASS),))
    missing = [
        what
        for what, present in (
            ("no document signature", report.signed),
            ("no document timestamp", report.timestamped),
        )
        if not present
    ]
    detail = ", ".join([*(c.value for c in report.failed), *missing])
    return VerificationResult(
        (CheckResult(Check.CERTIFICATE_SIGNATURE, Status.FAIL, detail or "not verified"),)
    )
