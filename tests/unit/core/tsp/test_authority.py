"""The in-process TSA (timeseal.core.tsp.authority): what it refuses to be built from, which
failInfo each bad request gets, and the tokens it issues verified by our own verifier."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from asn1crypto import tsp
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.support.pki import make_pki
from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import UnsupportedAlgorithm
from timeseal.core.pki import (
    create_document_signing_key_and_certificate,
    create_tsa_certificate,
    create_tsa_key_and_certificate,
)
from timeseal.core.signers import KeySigner, SignatureAlgorithm, signature_algorithm_for
from timeseal.core.tsp.authority import Rejection, TimeStampAuthority
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import Accuracy, FailureInfo, PKIStatus, parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder

NOW = dt.datetime(2026, 11, 29, 10, 2, tzinfo=dt.UTC)
POLICY = "1.2.3.4.1"
IMPRINT = bytes(range(32))
PKI = make_pki(NOW)
ROOT, TSA = PKI.root, PKI.tsa


def _authority(
    *, accepted_policies: Sequence[str] = (), accuracy: Accuracy | None = None
) -> TimeStampAuthority:
    return TimeStampAuthority(
        KeySigner(TSA.key),
        [TSA.certificate, ROOT.certificate],
        policy=POLICY,
        accepted_policies=accepted_policies,
        accuracy=accuracy,
    )


def _request_der(**fields: object) -> bytes:
    base: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": IMPRINT},
        "cert_req": True,
    }
    der: bytes = tsp.TimeStampReq({**base, **fields}).dump()
    return der


def test_properties_are_what_it_was_built_with() -> None:
    authority = _authority(accuracy=Accuracy(seconds=1))
    assert authority.policy == POLICY
    assert authority.chain == (TSA.certificate, ROOT.certificate)
    assert authority.accuracy == Accuracy(seconds=1)


def test_issued_token_verifies_and_names_its_fields() -> None:
    authority = _authority(accepted_policies=["1.2.3.4.2"])
    request = authority.check(build_request(IMPRINT, nonce=7, req_policy="1.2.3.4.2").der)
    issued = authority.issue(request, gen_time=NOW.replace(microsecond=123456), serial_number=99)
    assert issued.gen_time == NOW.replace(microsecond=123000)
    assert issued.policy == "1.2.3.4.2"
    assert (issued.serial_number, issued.hash_algorithm) == (99, HashAlgorithm.SHA256)
    assert len(issued.token_sha256) == 32
    response = parse_response(issued.response_der)
    result = (
        TimestampVerifierBuilder()
        .add_root(ROOT.certificate)
        .tsa_certificate(TSA.certificate)
        .nonce(7)
        .policy("1.2.3.4.2")
        .build()
        .verify(response, IMPRINT)
    )
    assert result.ok, result.failed


def test_a_chain_is_required() -> None:
    with pytest.raises(ValueError, match="at least the TSA certificate"):
        TimeStampAuthority(KeySigner(TSA.key), [], policy=POLICY)


def test_the_signer_must_own_the_certificate() -> None:
    other = create_tsa_key_and_certificate(ROOT, now=NOW)
    with pytest.raises(ValueError, match="does not match"):
        TimeStampAuthority(KeySigner(other.key), [TSA.certificate], policy=POLICY)


def test_a_certificate_without_the_timestamping_eku_is_refused() -> None:
    signing = create_document_signing_key_and_certificate(ROOT, now=NOW)
    with pytest.raises(ValueError, match="exactly id-kp-timeStamping"):
        TimeStampAuthority(KeySigner(signing.key), [signing.certificate], policy=POLICY)


def test_a_certificate_without_any_eku_is_refused() -> None:
    with pytest.raises(ValueError, match="no extendedKeyUsage"):
        TimeStampAuthority(KeySigner(ROOT.key), [ROOT.certificate], policy=POLICY)


@pytest.mark.parametrize(
    ("request_der", "failure"),
    [
        (b"\x30\x00", FailureInfo.BAD_DATA_FORMAT),
        (
            _request_der(
                message_imprint={
                    "hash_algorithm": {"algorithm": "md5"},
                    "hashed_message": bytes(16),
                }
            ),
            FailureInfo.BAD_ALG,
        ),
        (_request_der(version=2), FailureInfo.BAD_REQUEST),
        (_request_der(req_policy="1.2.3.4.9"), FailureInfo.UNACCEPTED_POLICY),
        (
            _request_der(extensions=[{"extn_id": "1.2.3.4", "critical": True, "extn_value": b""}]),
            FailureInfo.UNACCEPTED_EXTENSION,
        ),
    ],
    ids=["garbage", "md5", "version-2", "unknown-policy", "critical-extension"],
)
def test_bad_requests_get_the_matching_fail_info(request_der: bytes, failure: FailureInfo) -> None:
    with pytest.raises(Rejection) as caught:
        _authority().check(request_der)
    assert caught.value.failure is failure
    response = parse_response(caught.value.response_der)
    assert response.status is PKIStatus.REJECTION
    assert response.failure_info == frozenset({failure})
    assert response.status_text == (caught.value.text,)


def test_a_non_critical_extension_is_ignored() -> None:
    der = _request_der(extensions=[{"extn_id": "1.2.3.4", "critical": False, "extn_value": b""}])
    request = _authority().check(der)
    assert [(e.oid, e.critical) for e in request.extensions] == [("1.2.3.4", False)]


@pytest.mark.parametrize(
    ("gen_time", "serial_number", "message"),
    [
        (NOW.replace(tzinfo=None), 1, "timezone-aware"),
        (NOW, 0, "positive"),
        (NOW, 1 << 160, "20 octets"),
    ],
)
def test_issue_refuses_naive_times_and_bad_serials(
    gen_time: dt.datetime, serial_number: int, message: str
) -> None:
    request = build_request(IMPRINT)
    with pytest.raises(ValueError, match=message):
        _authority().issue(request, gen_time=gen_time, serial_number=serial_number)


# --- signers ---------------------------------------------------------------------------------


def test_signature_algorithm_follows_the_key() -> None:
    assert signature_algorithm_for(TSA.key.public_key()) is SignatureAlgorithm.ECDSA_SHA256
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert signature_algorithm_for(rsa_key.public_key()) is SignatureAlgorithm.RSA_PKCS1_SHA256


@pytest.mark.parametrize(
    ("public_key", "message"),
    [
        (ec.generate_private_key(ec.SECP256K1()).public_key(), "secp256k1 is not supported"),
        (rsa.generate_private_key(65537, 1024).public_key(), "RSA-1024 is too small"),
        (ed25519.Ed25519PrivateKey.generate().public_key(), "keys cannot sign timestamps"),
    ],
    ids=["secp256k1", "rsa-1024", "ed25519"],
)
def test_other_keys_are_refused(public_key: object, message: str) -> None:
    with pytest.raises(UnsupportedAlgorithm, match=message):
        signature_algorithm_for(public_key)


def test_key_signer_refuses_keys_that_cannot_sign_timestamps() -> None:
    with pytest.raises(TypeError, match="Ed25519PrivateKey"):
        KeySigner(ed25519.Ed25519PrivateKey.generate())  # type: ignore[arg-type]
    with pytest.raises(UnsupportedAlgorithm):
        KeySigner(rsa.generate_private_key(65537, 1024))


def test_an_rsa_tsa_issues_tokens_that_verify() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = create_tsa_certificate(ROOT, key.public_key(), now=NOW)
    authority = TimeStampAuthority(KeySigner(key), [certificate], policy=POLICY)
    issued = authority.issue(build_request(IMPRINT), gen_time=NOW, serial_number=1)
    result = (
        TimestampVerifierBuilder()
        .add_root(ROOT.certificate)
        .build()
        .verify(parse_response(issued.response_der), IMPRINT)
    )
    assert result.ok, result.failed
