"""The RFC 3161 verifier (timeseal.core.tsp.verify) on tokens our own authority issued and then
edited and re-signed, so each forgery fails for its one reason and the others still pass."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from tests.support.pki import make_pki
from timeseal.core.pki import (
    create_document_signing_key_and_certificate,
    create_tsa_key_and_certificate,
)
from timeseal.core.signers import KeySigner, SignatureAlgorithm
from timeseal.core.tsp._encode import TemplateEncoder, TokenFields
from timeseal.core.tsp.authority import TimeStampAuthority, format_rejection, token_profile
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import FailureInfo, TimeStampResponse, parse_response
from timeseal.core.tsp.verify import TimestampVerifier, TimestampVerifierBuilder
from timeseal.core.verification import Check, Status, VerificationResult

NOW = dt.datetime(2026, 11, 29, 10, 2, tzinfo=dt.UTC)
POLICY = "1.2.3.4.1"
IMPRINT = bytes(range(32))
PKI = make_pki(NOW)
ROOT, TSA = PKI.root, PKI.tsa
assert isinstance(TSA.key, ec.EllipticCurvePrivateKey)
TSA_KEY: ec.EllipticCurvePrivateKey = TSA.key
AUTHORITY = TimeStampAuthority(KeySigner(TSA_KEY), [TSA.certificate], policy=POLICY)
TOKEN_DER = AUTHORITY.issue(build_request(IMPRINT), gen_time=NOW, serial_number=5).token_der


def _verify(response: TimeStampResponse) -> VerificationResult:
    return TimestampVerifierBuilder().add_root(ROOT.certificate).build().verify(response, IMPRINT)


def _response(token_der: bytes) -> TimeStampResponse:
    body = bytes.fromhex("3003020100") + token_der
    return parse_response(b"\x30\x82" + len(body).to_bytes(2, "big") + body)


def _resigned(edit: Callable[[cms.SignerInfo], None]) -> TimeStampResponse:
    """The token with its SignerInfo edited by ``edit``, then signed again by the TSA key."""
    content_info = cms.ContentInfo.load(TOKEN_DER)
    signer_info = content_info["content"]["signer_infos"][0]
    edit(signer_info)
    attrs_der = b"\x31" + signer_info["signed_attrs"].dump(force=True)[1:]
    signer_info["signature"] = TSA_KEY.sign(attrs_der, ec.ECDSA(hashes.SHA256()))
    return _response(content_info.dump(force=True))


def _detail(result: VerificationResult, check: Check) -> str:
    found = result.get(check)
    assert found is not None, f"{check} did not run"
    return found.detail


def _attribute(signer_info: cms.SignerInfo, name: str) -> cms.CMSAttribute:
    for attr in signer_info["signed_attrs"]:
        if attr["type"].native == name:
            return attr
    raise AssertionError(f"no {name} attribute")


def test_the_unedited_token_passes() -> None:
    assert _verify(_response(TOKEN_DER)).ok
    assert _verify(_resigned(lambda _: None)).ok


# --- builder ---------------------------------------------------------------------------------


def test_each_setting_is_set_once() -> None:
    builder = TimestampVerifierBuilder().tsa_certificate(TSA.certificate).nonce(1).policy(POLICY)
    with pytest.raises(ValueError, match="tsa_certificate may only be set once"):
        builder.tsa_certificate(TSA.certificate)
    with pytest.raises(ValueError, match="nonce may only be set once"):
        builder.nonce(2)
    with pytest.raises(ValueError, match="policy may only be set once"):
        builder.policy(POLICY)


def test_settings_are_type_checked() -> None:
    builder = TimestampVerifierBuilder()
    with pytest.raises(TypeError, match="nonce must be an int"):
        builder.nonce(True)
    with pytest.raises(TypeError, match="dotted OID"):
        builder.policy(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"x509\.Certificate"):
        builder.add_root(TSA.certificate.public_bytes(Encoding.PEM))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one root"):
        builder.build()


def test_the_verifier_is_only_built() -> None:
    with pytest.raises(TypeError, match="TimestampVerifierBuilder"):
        TimestampVerifier(object())  # type: ignore[arg-type]


def test_intermediates_given_to_the_builder_are_used() -> None:
    verifier = (
        TimestampVerifierBuilder().add_root(ROOT.certificate).add_intermediate(TSA.certificate)
    ).build()
    assert verifier.verify_message(_response(TOKEN_DER), b"not the message").failed == (
        Check.IMPRINT_MATCHES,
    )


def test_a_rejection_has_no_token_to_check() -> None:
    rejected = parse_response(format_rejection(FailureInfo.BAD_ALG, "no"))
    result = (
        TimestampVerifierBuilder()
        .add_root(ROOT.certificate)
        .build()
        .verify_message(rejected, b"message")
    )
    assert result.failed == (Check.PKI_STATUS_GRANTED,)
    assert all(c.status is Status.SKIPPED for c in result.checks[1:])


# --- forgeries -------------------------------------------------------------------------------


def test_another_required_tsa_certificate() -> None:
    other = create_tsa_key_and_certificate(ROOT, now=NOW).certificate
    verifier = TimestampVerifierBuilder().add_root(ROOT.certificate).tsa_certificate(other).build()
    result = verifier.verify(_response(TOKEN_DER), IMPRINT)
    assert result.failed == (Check.SIGNER_CERTIFICATE,)
    assert "different certificate" in _detail(result, Check.SIGNER_CERTIFICATE)


def test_two_signer_infos() -> None:
    content_info = cms.ContentInfo.load(TOKEN_DER)
    signer_infos = content_info["content"]["signer_infos"]
    content_info["content"]["signer_infos"] = [signer_infos[0], signer_infos[0]]
    result = _verify(_response(content_info.dump(force=True)))
    assert result.failed == (Check.CONTENT_TYPE,)
    assert "2 SignerInfos" in _detail(result, Check.CONTENT_TYPE)


def test_content_type_attribute_is_not_tst_info() -> None:
    def edit(signer_info: cms.SignerInfo) -> None:
        _attribute(signer_info, "content_type")["values"] = ["1.2.840.113549.1.7.1"]

    result = _verify(_resigned(edit))
    assert result.failed == (Check.CONTENT_TYPE,)


def test_refused_digest_algorithm() -> None:
    def edit(signer_info: cms.SignerInfo) -> None:
        signer_info["digest_algorithm"] = {"algorithm": "md5"}

    result = _verify(_resigned(edit))
    assert result.failed == (Check.MESSAGE_DIGEST,)
    assert "refused" in _detail(result, Check.MESSAGE_DIGEST)


def test_refused_digest_with_a_bare_key_algorithm() -> None:
    def edit(signer_info: cms.SignerInfo) -> None:
        signer_info["digest_algorithm"] = {"algorithm": "md5"}
        signer_info["signature_algorithm"] = {"algorithm": "1.2.840.10045.2.1"}  # id-ecPublicKey

    result = _verify(_resigned(edit))
    assert result.failed == (Check.MESSAGE_DIGEST, Check.SIGNATURE)
    assert "1.2.840.113549.2.5 refused" in _detail(result, Check.SIGNATURE)


def test_ess_cert_id_v2_with_a_refused_hash() -> None:
    def edit(signer_info: cms.SignerInfo) -> None:
        ess = _attribute(signer_info, "signing_certificate_v2")["values"][0]["certs"][0]
        ess["hash_algorithm"] = {"algorithm": "md5"}

    result = _verify(_resigned(edit))
    assert result.failed == (Check.ESS_CERT_ID,)


def test_ess_cert_id_naming_another_serial() -> None:
    def edit(signer_info: cms.SignerInfo) -> None:
        ess = _attribute(signer_info, "signing_certificate_v2")["values"][0]["certs"][0]
        ess["issuer_serial"] = {
            "issuer": ess["issuer_serial"]["issuer"],
            "serial_number": TSA.certificate.serial_number + 1,
        }

    result = _verify(_resigned(edit))
    assert result.failed == (Check.ESS_CERT_ID,)
    assert "another serial" in _detail(result, Check.ESS_CERT_ID)


def _token_signed_by(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A token from an encoder fed any certificate, bypassing the authority's profile check."""
    encoder = TemplateEncoder(token_profile([certificate], SignatureAlgorithm.ECDSA_SHA256, None))
    fields = TokenFields(
        request=build_request(IMPRINT), policy=POLICY, gen_time=NOW, serial_number=9
    )
    response_der, _ = encoder.token(fields, KeySigner(key).sign)
    return response_der


def test_signer_without_extended_key_usage() -> None:
    assert isinstance(ROOT.key, ec.EllipticCurvePrivateKey)
    result = _verify(parse_response(_token_signed_by(ROOT.certificate, ROOT.key)))
    assert result.failed == (Check.TSA_EKU_CRITICAL,)
    assert "no extendedKeyUsage" in _detail(result, Check.TSA_EKU_CRITICAL)


def test_signer_with_another_extended_key_usage() -> None:
    signing = create_document_signing_key_and_certificate(ROOT, now=NOW)
    assert isinstance(signing.key, ec.EllipticCurvePrivateKey)
    result = _verify(parse_response(_token_signed_by(signing.certificate, signing.key)))
    assert result.failed == (Check.TSA_EKU_CRITICAL,)
    assert "exactly id-kp-timeStamping" in _detail(result, Check.TSA_EKU_CRITICAL)


def _without(name: str) -> Callable[[cms.SignerInfo], None]:
    def edit(signer_info: cms.SignerInfo) -> None:
        kept = [a for a in signer_info["signed_attrs"] if a["type"].native != name]
        signer_info["signed_attrs"] = kept

    return edit


@pytest.mark.parametrize(
    ("attribute", "check", "detail"),
    [
        ("content_type", Check.CONTENT_TYPE, "no contentType signed attribute"),
        ("message_digest", Check.MESSAGE_DIGEST, "no messageDigest signed attribute"),
        ("signing_certificate_v2", Check.ESS_CERT_ID, "no signingCertificate(V2) attribute"),
    ],
)
def test_a_missing_signed_attribute_fails_its_check(
    attribute: str, check: Check, detail: str
) -> None:
    result = _verify(_resigned(_without(attribute)))
    assert result.failed == (check,)
    assert _detail(result, check) == detail
