"""rfc3161-client (the sigstore TSA client) against our live ``POST /tsa``.

rfc3161-client builds the request, decodes our reply and verifies it with its own verifier,
given only our root (``pki/root.pem`` from the data directory), the nonce it sent and the TSA
certificate. Its verifier insists on what RFC 3161 §2.3 demands of us: a critical EKU
id-kp-timeStamping, the signer found by issuer and serial, and a chain valid at genTime.
"""

from __future__ import annotations

import pytest
import rfc3161_client
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from tests.support.openssl import post_query
from tests.support.pki import PKIFixture
from tests.support.server import LiveServer
from timeseal.core import digest
from timeseal.core.tsp.request import build_request, parse_request
from timeseal.core.tsp.response import FailureInfo, parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder

MESSAGE = "订单 #20261129-0042 的客服聊天记录 / customer-service chat for order 0042".encode()


def _root(server: LiveServer) -> x509.Certificate:
    return x509.load_pem_x509_certificate(server.root_pem.read_bytes())


def _tsa_certificate(server: LiveServer) -> x509.Certificate:
    return x509.load_pem_x509_certificate((server.data_dir / "pki" / "tsa.pem").read_bytes())


def _stamp(
    server: LiveServer, algorithm: HashAlgorithm, cert_req: bool
) -> tuple[rfc3161_client.TimeStampRequest, bytes]:
    request = (
        TimestampRequestBuilder()
        .data(MESSAGE)
        .hash_algorithm(algorithm)
        .nonce(nonce=True)
        .cert_request(cert_request=cert_req)
        .build()
    )
    return request, post_query(server.tsa_url, request.as_bytes())


@pytest.mark.interop
@pytest.mark.parametrize("algorithm", [HashAlgorithm.SHA256, HashAlgorithm.SHA512])
@pytest.mark.parametrize("cert_req", [True, False], ids=["certreq", "no_certreq"])
def test_rfc3161_client_verifies_our_token(
    server: LiveServer, algorithm: HashAlgorithm, cert_req: bool
) -> None:
    request, reply = _stamp(server, algorithm, cert_req)
    assert request.nonce is not None

    response = decode_timestamp_response(reply)
    verifier = (
        VerifierBuilder()
        .add_root_certificate(_root(server))
        .nonce(request.nonce)
        .tsa_certificate(_tsa_certificate(server))
        .build()
    )

    assert PKIStatus(response.status) is PKIStatus.GRANTED
    assert response.tst_info.nonce == request.nonce
    assert len(response.signed_data.certificates) == (1 if cert_req else 0)
    assert verifier.verify_message(response, MESSAGE) is True
    with pytest.raises(VerificationError, match="Mismatch between messages"):
        verifier.verify_message(response, MESSAGE + b" (edited)")


@pytest.mark.interop
def test_rfc3161_client_request_parses_and_our_verifier_agrees(server: LiveServer) -> None:
    """The same exchange read by us: its request parses strictly, its token verifies."""
    request, reply = _stamp(server, HashAlgorithm.SHA512, cert_req=True)
    assert request.nonce is not None

    ours = parse_request(request.as_bytes())
    result = (
        TimestampVerifierBuilder()
        .add_root(_root(server))
        .nonce(request.nonce)
        .build()
        .verify_message(parse_response(reply), MESSAGE)
    )

    assert ours.hash_algorithm is digest.HashAlgorithm.SHA512
    assert ours.message_imprint == request.message_imprint.message
    assert ours.nonce == request.nonce
    assert ours.cert_req is True
    assert result.ok, result.checks


@pytest.mark.interop
def test_rfc3161_client_rejects_our_token_under_another_root(
    server: LiveServer, test_pki: PKIFixture
) -> None:
    request, reply = _stamp(server, HashAlgorithm.SHA256, cert_req=True)
    assert request.nonce is not None
    verifier = (
        VerifierBuilder()
        .add_root_certificate(test_pki.root.certificate)
        .nonce(request.nonce)
        .build()
    )

    with pytest.raises(VerificationError, match="Error while verifying certificates"):
        verifier.verify_message(decode_timestamp_response(reply), MESSAGE)


@pytest.mark.interop
def test_rfc3161_client_rejects_a_nonce_it_did_not_send(server: LiveServer) -> None:
    request, reply = _stamp(server, HashAlgorithm.SHA256, cert_req=True)
    assert request.nonce is not None
    verifier = (
        VerifierBuilder().add_root_certificate(_root(server)).nonce(request.nonce + 1).build()
    )

    with pytest.raises(VerificationError, match="Nonce mismatch"):
        verifier.verify_message(decode_timestamp_response(reply), MESSAGE)


@pytest.mark.interop
def test_rfc3161_client_decodes_our_rejection(server: LiveServer) -> None:
    """A rejection is a TimeStampResp without a token; rfc3161-client must read its status."""
    request = build_request(
        digest.HashAlgorithm.SHA256.digest(MESSAGE), nonce=7, req_policy="1.2.3.4.5"
    )

    reply = post_query(server.tsa_url, request.der)
    response = decode_timestamp_response(reply)

    assert PKIStatus(response.status) is PKIStatus.REJECTION
    assert parse_response(reply).failure_info == frozenset({FailureInfo.UNACCEPTED_POLICY})
