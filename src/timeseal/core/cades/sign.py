"""Making a detached CAdES signature (ETSI EN 319 122-1 baseline B-T) over bytes.

The result is a DER CMS ContentInfo holding one SignedData (RFC 5652) with no encapsulated
content, as ``openssl cms -verify -binary -content FILE`` and pyHanko read it::

    SignedData v1, digestAlgorithms {sha256}, eContentType id-data (detached),
      certificates: the signer's and its intermediates (never the root: verifiers bring it)
      SignerInfo v1, sid issuerAndSerialNumber, sha256,
        signed attributes (DER-sorted): contentType id-data, signingTime, messageDigest,
          signingCertificateV2 (RFC 5035: the signer certificate's SHA-256 and issuer/serial)
        signature: ECDSA or RSA PKCS#1 v1.5 with SHA-256 over the signed attributes
        unsigned attribute: signatureTimeStampToken (RFC 3161 Appendix A) over the signature

The key never passes through here: a :class:`~timeseal.core.signers.Signer` signs (a key file
or an HSM), and the caller's ``stamp`` gets the timestamp (the core talks to no network).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from timeseal.core.errors import TimeSealError
from timeseal.core.signers import Signer, signature_algorithm_for
from timeseal.core.tsp.response import PKIStatus, parse_response, parse_token

#: Takes a SHA-256 digest and returns an RFC 3161 TimeStampResp or bare token over it (DER).
Stamp = Callable[[bytes], bytes]


def sign_detached(
    data: bytes,
    signer: Signer,
    chain: Sequence[x509.Certificate],
    *,
    signing_time: dt.datetime,
    stamp: Stamp,
) -> bytes:
    """The detached CAdES B-T signature over ``data`` described in the module docstring.

    ``chain`` is the signing certificate first, then its issuers; the signer's key must match
    the first. Raises ``ValueError`` for a key that does not match or a timestamp that was not
    granted, and whatever ``signer`` and ``stamp`` raise.
    """
    if not chain:
        raise ValueError("chain must hold at least the signing certificate")
    if signing_time.tzinfo is None or signing_time.utcoffset() is None:
        raise ValueError("signing_time must be timezone-aware")
    certificate = chain[0]
    if certificate.public_key() != signer.public_key():
        raise ValueError("the signer's key does not match the signing certificate")
    algorithm = signature_algorithm_for(signer.public_key())
    cert = asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))
    attrs = _signed_attributes(data, cert, signing_time)
    signature = signer.sign(attrs.dump())
    token = _token(stamp(hashlib.sha256(signature).digest()))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": cert.issuer, "serial_number": cert.serial_number},
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": algorithm.identifier(),
            "signature": signature,
            "unsigned_attrs": [{"type": "signature_time_stamp_token", "values": [token]}],
        }
    )
    sent = [c for c in chain[1:] if c.issuer != c.subject]
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "data"},
            "certificates": [
                cert,
                *(asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in sent),
            ],
            "signer_infos": [signer_info],
        }
    )
    der: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    return der


def _signed_attributes(
    data: bytes, cert: asn1_x509.Certificate, signing_time: dt.datetime
) -> cms.CMSAttributes:
    essential = cms.CMSAttribute(
        {
            "type": "signing_certificate_v2",
            "values": [
                {
                    "certs": [
                        {
                            "cert_hash": hashlib.sha256(cert.dump()).digest(),
                            "issuer_serial": {
                                "issuer": [
                                    asn1_x509.GeneralName(name="directory_name", value=cert.issuer)
                                ],
                                "serial_number": cert.serial_number,
                            },
                        }
                    ]
                }
            ],
        }
    )
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute(
            {"type": "signing_time", "values": [cms.Time(name="utc_time", value=signing_time)]}
        ),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(data).digest()]}),
        essential,
    ]
    # X.690 §11.6: a DER SET OF lists its elements in the order of their encodings.
    return cms.CMSAttributes(sorted(attributes, key=lambda a: a.dump()))


def _token(der: bytes) -> cms.ContentInfo:
    """The TimeStampToken of a stamp's answer (a TimeStampResp or a bare token)."""
    try:
        response = parse_response(der)
    except TimeSealError:
        token = parse_token(der)
    else:
        if response.status is not PKIStatus.GRANTED or response.token is None:
            raise ValueError(f"the signature timestamp was not granted ({response.status.name})")
        token = response.token
    return cms.ContentInfo.load(token.der)
