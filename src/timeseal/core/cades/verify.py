"""Verifying one detached CAdES signature (RFC 5652 SignedData, ETSI EN 319 122-1 baseline B-T)
over bytes the caller holds, against roots the caller chooses.

Two places carry such a signature: the ``/Contents`` of a PDF's ``/Sig`` (PAdES,
:mod:`timeseal.core.pdf_signature`) and a package's ``proofs/manifest.p7s``
(:mod:`timeseal.core.package.verify`). Both are checked here, in this order (a check that needs
an earlier one that failed is SKIPPED; the names are :class:`~timeseal.core.pdf_report.PdfCheck`'s):

(1) SIGNER_CERTIFICATE  the certificate named by the sid is in the SignedData
(2) MESSAGE_DIGEST      contentType is id-data, messageDigest is the digest of the signed bytes
                        (RFC 5652 §11.1, §11.2)
(3) SIGNATURE           the signature over the signed attributes verifies (RFC 5652 §5.4)
(4) SIGNATURE_TIMESTAMP the signature-time-stamp token (RFC 3161 Appendix A) is a valid token
                        from a TSA under the roots over the signature value; its genTime is the
                        time the chain is checked at (long-term validity, RFC 3161 Appendix B)
(5) CHAIN_TRUSTED       the signer chains to one of the roots at that time (RFC 5280 §6)
(6) SIGNER_PURPOSE      the signer's certificate is for signing documents (the caller's rule)

Before them, :func:`parse_signed_data` checks the structure (CMS_STRUCTURE: one SignedData,
one SignerInfo, signed attributes each present once, certificates that parse).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509

from timeseal.core import _asn1, _cms
from timeseal.core.errors import MalformedError, UnsupportedError
from timeseal.core.pdf_report import PdfCheck, PdfCheckList, PdfCheckResult
from timeseal.core.tsp.response import PKIStatus, TimeStampResponse, TimeStampToken, parse_token
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.core.verification import Check, Status, VerificationResult

#: Decides whether a signer's certificate may sign this kind of document: (ok, why not).
PurposeRule = Callable[[x509.Certificate], tuple[bool, str]]

#: The checks :func:`verify_detached` runs, in order.
DETACHED_CHECKS = (
    PdfCheck.SIGNER_CERTIFICATE,
    PdfCheck.MESSAGE_DIGEST,
    PdfCheck.SIGNATURE,
    PdfCheck.SIGNATURE_TIMESTAMP,
    PdfCheck.CHAIN_TRUSTED,
    PdfCheck.SIGNER_PURPOSE,
)


@dataclass(frozen=True, slots=True)
class DetachedSignature:
    """What :func:`verify_detached` found. ``timestamp_gen_time`` is meaningful only when the
    SIGNATURE_TIMESTAMP check passed; ``timestamp`` holds that token's own checks."""

    checks: tuple[PdfCheckResult, ...]
    signer: x509.Certificate | None
    timestamp_gen_time: dt.datetime | None
    timestamp: VerificationResult | None

    @property
    def signer_subject(self) -> str | None:
        return None if self.signer is None else self.signer.subject.rfc4514_string()

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.status is Status.PASS for c in self.checks)

    def failure_text(self) -> str:
        """``check: detail`` for each check that did not pass, ``; ``-separated."""
        return "; ".join(
            f"{c.check.value}: {c.detail}" for c in self.checks if c.status is not Status.PASS
        )


def parse_signed_data(contents: bytes, *, padded: bool = False) -> cms.SignedData:
    """The SignedData of a detached signature, its structure checked (``padded``: a PDF's
    ``/Contents``, zero-padded). Raises MalformedError saying what is wrong."""
    what = "/Contents" if padded else "the signature"
    signed_data = _cms.load_signed_data(contents, what, padded=padded)
    try:
        signer_info = signed_data["signer_infos"][0]
        _ = signer_info.native  # parse it all now: the checks below must not meet bad DER
        attrs = _cms.signed_attributes(signer_info)
        _cms.certificates(signed_data)
    except _asn1.ASN1_ERRORS as exc:
        raise MalformedError(f"{what}: bad SignerInfo ({exc})") from exc
    if not attrs:
        raise MalformedError(f"{what}: no (or duplicated) signed attributes")
    return signed_data


def verify_detached(
    signed_data: cms.SignedData,
    signed: bytes,
    roots: Sequence[x509.Certificate],
    *,
    purpose: PurposeRule = _cms.document_signing_purpose,
    at: dt.datetime | None = None,
    require_timestamp: bool = False,
) -> DetachedSignature:
    """Checks (1)-(6) of the module docstring on the SignerInfo of ``signed_data`` (from
    :func:`parse_signed_data`) over
    ``signed``. A signature without a signature timestamp fails (4) when ``require_timestamp``,
    else its chain is checked at ``at`` (and fails (5) without one)."""
    run = _Run()
    signer_info = signed_data["signer_infos"][0]
    attrs = _cms.signed_attributes(signer_info)
    certificates = _cms.certificates(signed_data)
    # (1)
    signer = next((c for c in certificates if _cms.sid_matches(signer_info["sid"], c)), None)
    if signer is None:
        missing = "the certificate named by the SignerInfo is not in the SignedData"
        run.record(PdfCheck.SIGNER_CERTIFICATE, False, missing)
    else:
        run.record(PdfCheck.SIGNER_CERTIFICATE, True, signer.subject.rfc4514_string())
    # (2)
    run.record(PdfCheck.MESSAGE_DIGEST, *_cms.message_digest_check(signer_info, attrs, signed))
    # (3)
    if signer is None:
        run.skip((PdfCheck.SIGNATURE,), PdfCheck.SIGNER_CERTIFICATE)
    else:
        try:
            error = _cms.signature_error(signer_info, signer)
        except KeyError:
            error = "digest algorithm refused"
        run.record(PdfCheck.SIGNATURE, error is None, error or "")
    # (4)
    check_time = run.signature_timestamp(signer_info, tuple(roots), at, require_timestamp)
    # (5) (6)
    if signer is None:
        run.skip((PdfCheck.CHAIN_TRUSTED, PdfCheck.SIGNER_PURPOSE), PdfCheck.SIGNER_CERTIFICATE)
    else:
        if check_time is None:
            run.record(PdfCheck.CHAIN_TRUSTED, False, "no trusted time to check the chain at")
        else:
            error = _cms.chain_error(signer, certificates, roots, check_time)
            run.record(
                PdfCheck.CHAIN_TRUSTED,
                error is None,
                "" if error is None else f"no trusted path at {check_time.isoformat()}: {error}",
            )
        run.record(PdfCheck.SIGNER_PURPOSE, *purpose(signer))
    return DetachedSignature(tuple(run.results), signer, run.gen_time, run.timestamp)


def verify_token_over(
    der: bytes, message: bytes, roots: Sequence[x509.Certificate]
) -> tuple[VerificationResult | None, TimeStampToken | None, str]:
    """Parse a bare TimeStampToken and verify it over ``message`` under ``roots``; on a parse
    error return why instead."""
    try:
        token = parse_token(der)
    except (MalformedError, UnsupportedError) as exc:
        return None, None, f"not an RFC 3161 token: {exc}"
    builder = TimestampVerifierBuilder()
    for root in roots:
        builder = builder.add_root(root)
    response = TimeStampResponse(
        status=PKIStatus.GRANTED,
        status_text=(),
        failure_info=frozenset(),
        token=token,
        der=token.der,  # there is no TimeStampResp around a token found bare
    )
    return builder.build().verify_message(response, message), token, ""


def failed_text(result: VerificationResult) -> str:
    """``check: detail`` for each failed check of a token's result."""
    return "; ".join(
        f"{c.check.value}: {c.detail}" for c in result.checks if c.status is Status.FAIL
    )


def token_signer(token: TimeStampToken, result: VerificationResult) -> str | None:
    """Who signed a token: its verified signer's subject, else the name it claims."""
    signer = result.get(Check.SIGNER_CERTIFICATE)
    if signer is not None and signer.status is Status.PASS:
        return signer.detail
    return token.tst_info.tsa_name


class _Run(PdfCheckList):
    def __init__(self) -> None:
        super().__init__()
        self.gen_time: dt.datetime | None = None
        self.timestamp: VerificationResult | None = None

    def signature_timestamp(
        self,
        signer_info: cms.SignerInfo,
        roots: tuple[x509.Certificate, ...],
        at: dt.datetime | None,
        required: bool,
    ) -> dt.datetime | None:
        """Check the signature-time-stamp token; the time to check the chain at."""
        token_der = None
        unsigned = signer_info["unsigned_attrs"]
        if unsigned.native is not None:
            for attr in unsigned:
                if attr["type"].native == "signature_time_stamp_token" and len(attr["values"]):
                    token_der = attr["values"][0].dump()
        if token_der is None:
            if required:
                self.record(PdfCheck.SIGNATURE_TIMESTAMP, False, "no signature timestamp")
                return None
            self.record(PdfCheck.SIGNATURE_TIMESTAMP, True, "none (optional)")
            return at
        signature_value = bytes(signer_info["signature"].native)
        result, token, error = verify_token_over(token_der, signature_value, roots)
        if result is None or token is None:
            self.record(PdfCheck.SIGNATURE_TIMESTAMP, False, error)
            return None
        self.timestamp = result
        self.gen_time = token.tst_info.gen_time
        self.record(PdfCheck.SIGNATURE_TIMESTAMP, result.ok, failed_text(result))
        return token.tst_info.gen_time if result.ok else None
