"""Issuing time-stamp tokens: RFC 3161 §2.4.2 with RFC 5816 ESSCertIDv2.

The authority is pure. The server hands it the request bytes, the time from a clock it trusts
and a serial number it allocated; the authority checks the request and returns the response.

::

    SignedData ::= SEQUENCE {                                    -- RFC 5652 §5.1
        version CMSVersion,                                      -- v3: eContentType != id-data
        digestAlgorithms DigestAlgorithmIdentifiers,             -- { sha256 }
        encapContentInfo EncapsulatedContentInfo,                -- id-ct-TSTInfo, TSTInfo DER
        certificates [0] IMPLICIT CertificateSet OPTIONAL,       -- only when certReq is TRUE
        signerInfos SignerInfos }                                -- exactly one

    signedAttrs (DER SET, sorted): contentType, messageDigest, signingCertificateV2
    SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, ... }     -- RFC 5035
    ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256,                      -- omitted
                               certHash OCTET STRING, issuerSerial IssuerSerial }

Deviations, on purpose: we never answer ``grantedWithMods``; ``ordering`` is always FALSE;
non-critical request extensions are ignored and never echoed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from timeseal.core import _asn1
from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import (
    MalformedError,
    TimeSealError,
    UnsupportedAlgorithm,
    UnsupportedError,
    UnsupportedVersion,
)
from timeseal.core.signers import SignatureAlgorithm, Signer, signature_algorithm_for
from timeseal.core.tsp._encode import TemplateEncoder, TokenFields, TokenProfile
from timeseal.core.tsp.request import TimeStampRequest, parse_request
from timeseal.core.tsp.response import Accuracy, FailureInfo

MAX_SERIAL_BITS = 159  # RFC 3161 §2.4.2: up to 160 bits; positive INTEGER fits 20 octets


class Rejection(TimeSealError):
    """A request the authority refuses; ``response_der`` is the TimeStampResp to send."""

    def __init__(self, failure: FailureInfo, text: str) -> None:
        super().__init__(f"{failure.asn1_name}: {text}")
        self.failure = failure
        self.text = text

    @property
    def response_der(self) -> bytes:
        return format_rejection(self.failure, self.text)


def format_rejection(failure: FailureInfo, text: str) -> bytes:
    """A TimeStampResp with PKIStatus ``rejection``, one statusString and one failInfo bit."""
    der: bytes = _asn1.TimeStampResp(
        {
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": {_ASN1CRYPTO_FAILURE_NAMES[failure]},
            }
        }
    ).dump()
    return der


_ASN1CRYPTO_FAILURE_NAMES = {
    FailureInfo.BAD_ALG: "bad_alg",
    FailureInfo.BAD_REQUEST: "bad_request",
    FailureInfo.BAD_DATA_FORMAT: "bad_data_format",
    FailureInfo.TIME_NOT_AVAILABLE: "time_not_available",
    FailureInfo.UNACCEPTED_POLICY: "unaccepted_policy",
    FailureInfo.UNACCEPTED_EXTENSION: "unaccepted_extensions",
    FailureInfo.ADD_INFO_NOT_AVAILABLE: "add_info_not_available",
    FailureInfo.SYSTEM_FAILURE: "system_failure",
}


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What one issuance produced, for the reply and for the issuance journal."""

    response_der: bytes
    token_der: bytes
    serial_number: int
    gen_time: dt.datetime
    hash_algorithm: HashAlgorithm
    message_imprint: bytes
    policy: str

    @property
    def token_sha256(self) -> bytes:
        return hashlib.sha256(self.token_der).digest()


class TimeStampAuthority:
    """Checks requests and issues tokens with one signer and its certificate chain.

    ``chain`` is the TSA certificate first, then its issuers (the root may be included; it is
    never put into tokens). ``accepted_policies`` are the policies a request may ask for; the
    default ``policy`` is always among them.
    """

    def __init__(
        self,
        signer: Signer,
        chain: Sequence[x509.Certificate],
        *,
        policy: str,
        accepted_policies: Sequence[str] = (),
        accuracy: Accuracy | None = None,
    ) -> None:
        if not chain:
            raise ValueError("chain must hold at least the TSA certificate")
        tsa_cert = chain[0]
        signer_public = signer.public_key()
        if tsa_cert.public_key() != signer_public:
            raise ValueError("the signer's key does not match the TSA certificate")
        self._signature_algorithm = signature_algorithm_for(signer_public)
        _check_tsa_profile(tsa_cert)
        self._signer = signer
        self._chain = tuple(chain)
        self._policy = policy
        self._accepted = frozenset((policy, *accepted_policies))
        self._accuracy = accuracy
        self._encoder = TemplateEncoder(token_profile(chain, self._signature_algorithm, accuracy))

    @property
    def policy(self) -> str:
        return self._policy

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self._chain

    @property
    def accuracy(self) -> Accuracy | None:
        return self._accuracy

    def check(self, request_der: bytes) -> TimeStampRequest:
        """Parse and vet a request; raise :class:`Rejection` with the right failInfo."""
        try:
            request = parse_request(request_der)
        except UnsupportedAlgorithm as exc:
            raise Rejection(FailureInfo.BAD_ALG, str(exc)) from exc
        except UnsupportedVersion as exc:
            raise Rejection(FailureInfo.BAD_REQUEST, str(exc)) from exc
        except (MalformedError, UnsupportedError) as exc:
            raise Rejection(FailureInfo.BAD_DATA_FORMAT, str(exc)) from exc
        if request.req_policy is not None and request.req_policy not in self._accepted:
            raise Rejection(
                FailureInfo.UNACCEPTED_POLICY, f"policy {request.req_policy} is not accepted"
            )
        for ext in request.extensions:
            if ext.critical:
                raise Rejection(
                    FailureInfo.UNACCEPTED_EXTENSION, f"critical extension {ext.oid} not supported"
                )
        return request

    def issue(
        self, request: TimeStampRequest, *, gen_time: dt.datetime, serial_number: int
    ) -> IssuedToken:
        """Sign a token for a request that passed :meth:`check`.

        ``gen_time`` must be timezone-aware; it is truncated to whole milliseconds.
        """
        if gen_time.tzinfo is None or gen_time.utcoffset() is None:
            raise ValueError("gen_time must be timezone-aware")
        if not 0 < serial_number < 1 << MAX_SERIAL_BITS:
            raise ValueError("serial_number must be positive and fit in 20 octets")
        gen_time = gen_time.astimezone(dt.UTC)
        gen_time = gen_time.replace(microsecond=gen_time.microsecond // 1000 * 1000)
        policy = request.req_policy or self._policy
        fields = TokenFields(
            request=request, policy=policy, gen_time=gen_time, serial_number=serial_number
        )
        response_der, token_der = self._encoder.token(fields, self._signer.sign)
        return IssuedToken(
            response_der=response_der,
            token_der=token_der,
            serial_number=serial_number,
            gen_time=gen_time,
            hash_algorithm=request.hash_algorithm,
            message_imprint=request.message_imprint,
            policy=policy,
        )


def token_profile(
    chain: Sequence[x509.Certificate],
    signature_algorithm: SignatureAlgorithm,
    accuracy: Accuracy | None,
) -> TokenProfile:
    """The fixed parts of every token: certificates sent on certReq are the TSA's and any
    intermediates, never a self-signed root (the verifier must bring its own trust anchor)."""
    tsa_cert = chain[0]
    sent = [tsa_cert, *(c for c in chain[1:] if c.issuer != c.subject)]
    return TokenProfile(
        tsa_certificate_der=tsa_cert.public_bytes(Encoding.DER),
        sent_certificates_der=tuple(c.public_bytes(Encoding.DER) for c in sent),
        signature_algorithm=signature_algorithm,
        accuracy=accuracy,
    )


def _check_tsa_profile(cert: x509.Certificate) -> None:
    """RFC 3161 §2.3: the TSA certificate has exactly one EKU, id-kp-timeStamping, critical."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise ValueError("TSA certificate has no extendedKeyUsage extension") from None
    if not eku.critical or list(eku.value) != [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]:
        raise ValueError("TSA certificate must have exactly id-kp-timeStamping, critical")
