"""POST /tsa over the real ASGI app: every answer is a TimeStampResp with the right failInfo."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.unit.server.conftest import running_app
from timeseal.core.digest import HashAlgorithm
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import FailureInfo, PKIStatus, TimeStampResponse, parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.server.runtime import datadir, platform_keys
from timeseal.server.tsa.clock import FixedSource, UnsynchronisedSource
from timeseal.store.db import DATABASE_URL_ENV, database_url, make_engine
from timeseal.store.issuance import iter_journal

QUERY = {"Content-Type": "application/timestamp-query"}
DIGEST = hashlib.sha256(b"evidence").digest()


def post(client: TestClient, body: bytes) -> TimeStampResponse:
    reply = client.post("/tsa", content=body, headers=QUERY)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/timestamp-reply"
    return parse_response(reply.content)


def rejected_with(response: TimeStampResponse) -> FailureInfo:
    assert response.status is PKIStatus.REJECTION
    assert response.token is None
    assert len(response.failure_info) == 1
    return next(iter(response.failure_info))


def root_of(data_dir: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(
        platform_keys.root_certificate_path(data_dir).read_bytes()
    )


def test_granted_token_verifies_against_the_data_dir_root(
    client: TestClient, data_dir: Path
) -> None:
    request = build_request(DIGEST, nonce=42, cert_req=True)
    response = post(client, request.der)
    assert response.status is PKIStatus.GRANTED
    assert response.token is not None
    tst = response.token.tst_info
    assert tst.gen_time.microsecond % 1000 == 0
    assert tst.accuracy is not None and tst.accuracy.total.total_seconds() == 1.0
    assert tst.policy == datadir.load_config(data_dir).tsa.policy
    verifier = TimestampVerifierBuilder().add_root(root_of(data_dir)).nonce(42).build()
    result = verifier.verify(response, DIGEST)
    assert result.ok, result.failed


@pytest.mark.parametrize("algorithm", list(HashAlgorithm))
def test_sha2_family_is_accepted(client: TestClient, algorithm: HashAlgorithm) -> None:
    response = post(client, build_request(algorithm.digest(b"x"), algorithm).der)
    assert response.status is PKIStatus.GRANTED


def test_cert_req_controls_the_certificates_field(client: TestClient) -> None:
    with_certs = post(client, build_request(DIGEST, cert_req=True).der)
    without = post(client, build_request(DIGEST, cert_req=False).der)
    assert with_certs.token is not None and without.token is not None
    assert len(with_certs.token.certificates) == 1  # the TSA certificate, not the root
    assert without.token.certificates == ()


def _request_der(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"},
            "hashed_message": DIGEST,
        },
        "cert_req": True,
    }
    fields.update(overrides)
    der: bytes = tsp.TimeStampReq(fields).dump()
    return der


@pytest.mark.parametrize(
    ("body", "failure"),
    [
        pytest.param(
            _request_der(
                message_imprint={
                    "hash_algorithm": {"algorithm": "sha1"},
                    "hashed_message": hashlib.sha1(b"x").digest(),
                }
            ),
            FailureInfo.BAD_ALG,
            id="sha1",
        ),
        pytest.param(
            _request_der(
                message_imprint={
                    "hash_algorithm": {"algorithm": "md5"},
                    "hashed_message": hashlib.md5(b"x").digest(),
                }
            ),
            FailureInfo.BAD_ALG,
            id="md5",
        ),
        pytest.param(
            _request_der(
                message_imprint={
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": DIGEST[:31],
                }
            ),
            FailureInfo.BAD_DATA_FORMAT,
            id="short-digest",
        ),
        pytest.param(b"not DER at all", FailureInfo.BAD_DATA_FORMAT, id="garbage"),
        pytest.param(b"", FailureInfo.BAD_DATA_FORMAT, id="empty"),
        pytest.param(_request_der() + b"\x00", FailureInfo.BAD_DATA_FORMAT, id="trailing"),
        pytest.param(_request_der(version=2), FailureInfo.BAD_REQUEST, id="version-2"),
        pytest.param(
            _request_der(req_policy="1.2.3.4.5"), FailureInfo.UNACCEPTED_POLICY, id="policy"
        ),
        pytest.param(
            _request_der(
                extensions=[{"extn_id": "1.2.3.4", "critical": True, "extn_value": b"\x05\x00"}]
            ),
            FailureInfo.UNACCEPTED_EXTENSION,
            id="critical-extension",
        ),
    ],
)
def test_bad_requests_get_the_right_failure_info(
    client: TestClient, body: bytes, failure: FailureInfo
) -> None:
    assert rejected_with(post(client, body)) is failure


def test_non_critical_extension_is_ignored(client: TestClient) -> None:
    body = _request_der(
        extensions=[{"extn_id": "1.2.3.4", "critical": False, "extn_value": b"\x05\x00"}]
    )
    assert post(client, body).status is PKIStatus.GRANTED


def test_requested_policy_must_be_ours(client: TestClient, data_dir: Path) -> None:
    policy = datadir.load_config(data_dir).tsa.policy
    response = post(client, _request_der(req_policy=policy))
    assert response.token is not None and response.token.tst_info.policy == policy


def test_wrong_content_type_is_415(client: TestClient) -> None:
    reply = client.post(
        "/tsa", content=build_request(DIGEST).der, headers={"Content-Type": "text/plain"}
    )
    assert reply.status_code == 415


def test_body_over_64_kib_is_413(client: TestClient) -> None:
    big = b"\x30" * (64 * 1024 + 1)
    assert client.post("/tsa", content=big, headers=QUERY).status_code == 413

    def chunks() -> object:
        for _ in range(70):
            yield b"\x00" * 1024

    streamed = client.post("/tsa", content=chunks(), headers=QUERY)  # type: ignore[arg-type]
    assert streamed.status_code == 413


def test_get_is_not_allowed(client: TestClient) -> None:
    assert client.get("/tsa").status_code == 405


def test_certs_endpoint_serves_tsa_then_root(client: TestClient, data_dir: Path) -> None:
    reply = client.get("/tsa/certs")
    assert reply.status_code == 200
    chain = x509.load_pem_x509_certificates(reply.content)
    assert [c.subject for c in chain][-1] == root_of(data_dir).subject
    eku = chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]


def test_unsynchronised_clock_answers_time_not_available(data_dir: Path) -> None:
    with running_app(data_dir, UnsynchronisedSource("test: no sync")) as client:
        assert rejected_with(post(client, build_request(DIGEST).der)) is (
            FailureInfo.TIME_NOT_AVAILABLE
        )
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["clock"]["synchronised"] is False
        assert health.json()["tsa"]["issuing"] is False


def test_clock_outside_accuracy_answers_time_not_available(data_dir: Path) -> None:
    with running_app(data_dir, FixedSource(synchronised=True, error_bound=5.0)) as client:
        assert rejected_with(post(client, build_request(DIGEST).der)) is (
            FailureInfo.TIME_NOT_AVAILABLE
        )
    with running_app(data_dir, FixedSource(synchronised=True, error_bound=0.2)) as client:
        assert post(client, build_request(DIGEST).der).status is PKIStatus.GRANTED
        assert client.get("/healthz").status_code == 200


def test_every_token_is_journaled_before_the_reply(client: TestClient, data_dir: Path) -> None:
    tokens = [post(client, build_request(DIGEST, nonce=i).der).token for i in range(20)]
    engine = make_engine(database_url(data_dir, os.environ.get(DATABASE_URL_ENV)))
    try:
        journal = {e.serial_number: e for _, e in iter_journal(engine)}
    finally:
        engine.dispose()
    for token in tokens:
        assert token is not None
        entry = journal[token.tst_info.serial_number]
        assert entry.token_sha256 == hashlib.sha256(token.der).digest()
        assert entry.message_imprint == DIGEST
        assert entry.gen_time == token.tst_info.gen_time
    assert len({t.tst_info.serial_number for t in tokens if t}) == 20


def test_journal_failure_answers_system_failure(client: TestClient, data_dir: Path) -> None:
    engine = make_engine(database_url(data_dir, os.environ.get(DATABASE_URL_ENV)))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE tsa_issuance_journal")
    finally:
        engine.dispose()
    assert rejected_with(post(client, build_request(DIGEST).der)) is FailureInfo.SYSTEM_FAILURE


VALID = build_request(DIGEST, nonce=7).der


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and data:
            del data[pos]
        else:
            del data[pos:]
    return bytes(data)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.one_of(st.binary(max_size=300), mutated_requests()))
def test_arbitrary_bodies_never_give_a_5xx(client: TestClient, body: bytes) -> None:
    reply = client.post("/tsa", content=body, headers=QUERY)
    assert reply.status_code == 200
    response = parse_response(reply.content)
    if response.status is PKIStatus.GRANTED:
        assert response.token is not None
    else:
        assert response.status is PKIStatus.REJECTION
        assert len(response.failure_info) == 1
