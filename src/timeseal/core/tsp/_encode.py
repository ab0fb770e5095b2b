"""Encoding of issued tokens: the asn1crypto reference and the fast template encoder.

Issuing is the TSA's hot path. Building every structure through asn1crypto costs milliseconds
per token, so the authority uses :class:`TemplateEncoder`: every part that never changes (the
certificates, the signer identifier, the ESS attribute, algorithm identifiers) is encoded once
by asn1crypto, and per token only the handful of variable fields are written as DER TLVs and
spliced in. :class:`ReferenceEncoder` builds the same token entirely through asn1crypto; the
property tests in ``tests/unit/core/tsp/test_encode.py`` prove both byte-identical.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from asn1crypto import algos, cms, tsp
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509

from timeseal.core import _asn1
from timeseal.core.digest import HashAlgorithm
from timeseal.core.signers import SignatureAlgorithm
from timeseal.core.tsp.request import TimeStampRequest
from timeseal.core.tsp.response import ID_CT_TST_INFO, Accuracy

Sign = Callable[[bytes], bytes]


@dataclass(frozen=True, slots=True)
class TokenProfile:
    """Everything about a token that is fixed for one TSA configuration."""

    tsa_certificate_der: bytes
    sent_certificates_der: tuple[bytes, ...]
    signature_algorithm: SignatureAlgorithm
    accuracy: Accuracy | None


@dataclass(frozen=True, slots=True)
class TokenFields:
    """The per-token values."""

    request: TimeStampRequest
    policy: str
    gen_time: dt.datetime  # UTC, whole milliseconds
    serial_number: int


# --- reference: everything through asn1crypto ---------------------------------------------


class ReferenceEncoder:
    """Builds tokens entirely with asn1crypto. Slow; the definition of correct output."""

    def __init__(self, profile: TokenProfile) -> None:
        self._profile = profile
        self._tsa = asn1_x509.Certificate.load(profile.tsa_certificate_der)

    def tst_info(self, fields: TokenFields) -> bytes:
        values: dict[str, object] = {
            "version": "v1",
            "policy": fields.policy,
            "message_imprint": {
                "hash_algorithm": {
                    "algorithm": fields.request.hash_algorithm.value,
                    "parameters": None,
                },
                "hashed_message": fields.request.message_imprint,
            },
            "serial_number": fields.serial_number,
            "gen_time": fields.gen_time,
        }
        accuracy = _accuracy_fields(self._profile.accuracy)
        if accuracy:
            values["accuracy"] = accuracy
        if fields.request.nonce is not None:
            values["nonce"] = fields.request.nonce
        der: bytes = tsp.TSTInfo(values).dump()
        return der

    def signing_certificate_v2(self) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2(
            {
                "certs": [
                    {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "cert_hash": hashlib.sha256(self._profile.tsa_certificate_der).digest(),
                        "issuer_serial": {
                            "issuer": [
                                asn1_x509.GeneralName(name="directory_name", value=self._tsa.issuer)
                            ],
                            "serial_number": self._tsa.serial_number,
                        },
                    }
                ]
            }
        )

    def signed_attributes(self, tst_info_der: bytes) -> bytes:
        """DER of the signed attributes as a SET OF (the bytes the signature covers)."""
        der: bytes = cms.CMSAttributes(
            [
                {"type": "content_type", "values": [ID_CT_TST_INFO]},
                {"type": "message_digest", "values": [hashlib.sha256(tst_info_der).digest()]},
                {"type": "signing_certificate_v2", "values": [self.signing_certificate_v2()]},
            ]
        ).dump()
        return der

    def token(self, fields: TokenFields, sign: Sign) -> tuple[bytes, bytes]:
        """(TimeStampResp DER, TimeStampToken DER)."""
        tst_info_der = self.tst_info(fields)
        attrs_der = self.signed_attributes(tst_info_der)
        signature = sign(attrs_der)
        signer_info = {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": self._tsa.issuer, "serial_number": self._tsa.serial_number},
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": cms.CMSAttributes.load(attrs_der),
            "signature_algorithm": self._profile.signature_algorithm.identifier(),
            "signature": signature,
        }
        signed_data: dict[str, object] = {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": cms.ParsableOctetString(tst_info_der),
            },
            "signer_infos": [signer_info],
        }
        if fields.request.cert_req:
            signed_data["certificates"] = [
                asn1_x509.Certificate.load(c) for c in self._profile.sent_certificates_der
            ]
        content_info = cms.ContentInfo(
            {"content_type": "signed_data", "content": cms.SignedData(signed_data)}
        )
        token_der: bytes = content_info.dump()
        response_der: bytes = _asn1.TimeStampResp(
            {"status": {"status": "granted"}, "time_stamp_token": content_info}
        ).dump()
        return response_der, token_der


def _accuracy_fields(accuracy: Accuracy | None) -> dict[str, int]:
    if accuracy is None:
        return {}
    return {
        name: value
        for name, value in (
            ("seconds", accuracy.seconds),
            ("millis", accuracy.millis),
            ("micros", accuracy.micros),
        )
        if value
    }


# --- fast path: static parts pre-encoded, variable parts spliced in -------------------------


def _der_length(n: int) -> bytes:
    """The long form of a length of 0x10000 or more (``_tlv`` writes the shorter ones)."""
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    # Tokens are a few KiB: the short and one/two-byte long forms cover them; the general
    # case stays for completeness.
    if n < 0x80:
        return bytes((tag, n)) + content
    if n < 0x100:
        return bytes((tag, 0x81, n)) + content
    if n < 0x10000:
        return bytes((tag, 0x82, n >> 8, n & 0xFF)) + content
    return bytes((tag,)) + _der_length(n) + content


def _der_integer(n: int) -> bytes:
    """DER INTEGER for n >= 0 (minimal two's complement: a leading 0 when the top bit is set)."""
    return _tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def _der_generalized_time(t: dt.datetime) -> bytes:
    """X.690 §11.7: YYYYMMDDHHMMSS[.fff]Z, no trailing zeros in the fraction."""
    text = t.strftime("%Y%m%d%H%M%S")
    if t.microsecond:
        text += "." + f"{t.microsecond:06d}".rstrip("0")
    return _tlv(0x18, (text + "Z").encode("ascii"))


@lru_cache(maxsize=64)
def _der_oid(dotted: str) -> bytes:
    der: bytes = asn1_core.ObjectIdentifier(dotted).dump()
    return der


def _dump(value: asn1_core.Asn1Value) -> bytes:
    der: bytes = value.dump()
    return der


class TemplateEncoder:
    """Produces exactly the bytes of :class:`ReferenceEncoder`, fast."""

    def __init__(self, profile: TokenProfile) -> None:
        reference = ReferenceEncoder(profile)
        tsa = asn1_x509.Certificate.load(profile.tsa_certificate_der)
        self._imprint_alg = {
            alg: _dump(algos.DigestAlgorithm({"algorithm": alg.value, "parameters": None}))
            for alg in HashAlgorithm
        }
        accuracy = _accuracy_fields(profile.accuracy)
        self._accuracy = _dump(tsp.Accuracy(accuracy)) if accuracy else b""
        self._attr_content_type = _dump(
            cms.CMSAttribute({"type": "content_type", "values": [ID_CT_TST_INFO]})
        )
        self._attr_ess = _dump(
            cms.CMSAttribute(
                {"type": "signing_certificate_v2", "values": [reference.signing_certificate_v2()]}
            )
        )
        self._attr_md_prefix = _dump(
            cms.CMSAttribute({"type": "message_digest", "values": [b"\0" * 32]})
        )[:-32]
        self._version_1 = _der_integer(1)
        self._signer_info_head = (
            _der_integer(1)
            + _dump(
                cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={"issuer": tsa.issuer, "serial_number": tsa.serial_number},
                )
            )
            + _dump(cms.DigestAlgorithm({"algorithm": "sha256"}))
        )
        self._signature_alg = _dump(
            cms.SignedDigestAlgorithm(profile.signature_algorithm.identifier())
        )
        self._signed_data_head = _der_integer(3) + _dump(
            cms.DigestAlgorithms([{"algorithm": "sha256"}])
        )
        self._econtent_type = _der_oid(ID_CT_TST_INFO)
        certs = cms.CertificateSet(
            [
                cms.CertificateChoices(name="certificate", value=asn1_x509.Certificate.load(c))
                for c in profile.sent_certificates_der
            ]
        )
        # [0] IMPLICIT CertificateSet: constructed context tag 0 over the SET's contents.
        self._certificates = b"\xa0" + _dump(certs)[1:]
        self._content_type_signed_data = _der_oid("1.2.840.113549.1.7.2")
        self._status_granted = _dump(tsp.PKIStatusInfo({"status": "granted"}))

    def tst_info(self, fields: TokenFields) -> bytes:
        request = fields.request
        body = (
            self._version_1
            + _der_oid(fields.policy)
            + _tlv(
                0x30,
                self._imprint_alg[request.hash_algorithm] + _tlv(0x04, request.message_imprint),
            )
            + _der_integer(fields.serial_number)
            + _der_generalized_time(fields.gen_time)
            + self._accuracy
        )
        if request.nonce is not None:
            body += _der_integer(request.nonce)
        return _tlv(0x30, body)

    def signed_attributes(self, tst_info_der: bytes) -> bytes:
        digest = self._attr_md_prefix + hashlib.sha256(tst_info_der).digest()
        return _tlv(0x31, b"".join(sorted((self._attr_content_type, digest, self._attr_ess))))

    def token(self, fields: TokenFields, sign: Sign) -> tuple[bytes, bytes]:
        """(TimeStampResp DER, TimeStampToken DER)."""
        tst_info_der = self.tst_info(fields)
        attrs_der = self.signed_attributes(tst_info_der)
        signature = sign(attrs_der)
        signer_info = _tlv(
            0x30,
            self._signer_info_head
            + b"\xa0"
            + attrs_der[1:]  # [0] IMPLICIT: same length and contents, context tag
            + self._signature_alg
            + _tlv(0x04, signature),
        )
        encap = _tlv(0x30, self._econtent_type + _tlv(0xA0, _tlv(0x04, tst_info_der)))
        signed_data = _tlv(
            0x30,
            self._signed_data_head
            + encap
            + (self._certificates if fields.request.cert_req else b"")
            + _tlv(0x31, signer_info),
        )
        token = _tlv(0x30, self._content_type_signed_data + _tlv(0xA0, signed_data))
        return _tlv(0x30, self._status_granted + token), token
