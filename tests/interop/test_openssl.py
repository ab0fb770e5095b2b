"""We issue, ``openssl ts`` checks: queries made by ``openssl ts -query``, answered by our live
``POST /tsa``, verified by ``openssl ts -verify`` against nothing but the root certificate.

The other direction (``openssl ts -reply`` issues, we verify) is in ``test_verifier_rejects.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.support.openssl import (
    HashName,
    openssl,
    post_query,
    ts_query,
    ts_reply_text,
    ts_verify,
)
from tests.support.server import TIMESEAL, LiveServer
from timeseal.core.digest import HashAlgorithm
from timeseal.core.tsp.request import parse_request
from timeseal.core.tsp.response import FailureInfo, PKIStatus, parse_response

DATA = "截图 screenshot of the deleted chat, 2026-11-29\n".encode()


def _stamp_with_openssl_query(
    server: LiveServer,
    tmp_path: Path,
    *,
    hash_name: HashName = "sha256",
    cert: bool = True,
    nonce: bool = True,
) -> tuple[Path, Path, Path]:
    """(data, query, response): ``openssl ts -query`` for DATA, POSTed to our /tsa."""
    data = tmp_path / "evidence.txt"
    data.write_bytes(DATA)
    query = ts_query(tmp_path, data, hash_name=hash_name, cert=cert, nonce=nonce)
    response = tmp_path / "response.tsr"
    response.write_bytes(post_query(server.tsa_url, query.read_bytes()))
    return data, query, response


@pytest.fixture(scope="module")
def served_chain(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``GET /tsa/certs`` saved as a PEM file: the TSA certificate, then its chain."""
    reply = httpx.get(f"{server.url}/tsa/certs", timeout=30)
    assert reply.status_code == 200, reply.text
    path = tmp_path_factory.mktemp("tsa-certs") / "tsa-chain.pem"
    path.write_bytes(reply.content)
    return path


@pytest.mark.interop
@pytest.mark.parametrize("nonce", [True, False], ids=["nonce", "no_nonce"])
def test_openssl_verifies_token_with_certreq(
    server: LiveServer, tmp_path: Path, nonce: bool
) -> None:
    data, query, response = _stamp_with_openssl_query(server, tmp_path, cert=True, nonce=nonce)

    by_data = ts_verify(tmp_path, response, data=data, ca_file=server.root_pem)
    by_query = ts_verify(tmp_path, response, queryfile=query, ca_file=server.root_pem)

    assert by_data.ok, by_data.output
    assert by_query.ok, by_query.output
    request = parse_request(query.read_bytes())
    parsed = parse_response(response.read_bytes())
    assert parsed.token is not None
    assert parsed.token.tst_info.nonce == request.nonce
    assert (request.nonce is not None) is nonce
    # certReq on: the TSA certificate travels in the token, the self-signed root never does.
    tsa_certificate = x509.load_pem_x509_certificate(
        (server.data_dir / "pki" / "tsa.pem").read_bytes()
    )
    assert parsed.token.certificates == (tsa_certificate,)


@pytest.mark.interop
@pytest.mark.parametrize("nonce", [True, False], ids=["nonce", "no_nonce"])
def test_openssl_verifies_token_without_certreq_given_served_chain(
    server: LiveServer, tmp_path: Path, served_chain: Path, nonce: bool
) -> None:
    data, query, response = _stamp_with_openssl_query(server, tmp_path, cert=False, nonce=nonce)

    without_chain = ts_verify(tmp_path, response, data=data, ca_file=server.root_pem)
    by_data = ts_verify(
        tmp_path, response, data=data, ca_file=server.root_pem, untrusted=served_chain
    )
    by_query = ts_verify(
        tmp_path, response, queryfile=query, ca_file=server.root_pem, untrusted=served_chain
    )

    # certReq off: no certificate in the token, so openssl cannot find the signer on its own.
    assert not without_chain.ok
    assert "signer certificate not found" in without_chain.output
    assert by_data.ok, by_data.output
    assert by_query.ok, by_query.output
    parsed = parse_response(response.read_bytes())
    assert parsed.token is not None
    assert parsed.token.certificates == ()


@pytest.mark.interop
@pytest.mark.parametrize(
    ("hash_name", "algorithm"),
    [("sha384", HashAlgorithm.SHA384), ("sha512", HashAlgorithm.SHA512)],
)
def test_openssl_verifies_sha2_family_queries(
    server: LiveServer, tmp_path: Path, hash_name: HashName, algorithm: HashAlgorithm
) -> None:
    data, query, response = _stamp_with_openssl_query(server, tmp_path, hash_name=hash_name)

    by_data = ts_verify(tmp_path, response, data=data, ca_file=server.root_pem)
    by_query = ts_verify(tmp_path, response, queryfile=query, ca_file=server.root_pem)

    assert by_data.ok, by_data.output
    assert by_query.ok, by_query.output
    assert f"Hash Algorithm: {hash_name}" in ts_reply_text(tmp_path, response)
    parsed = parse_response(response.read_bytes())
    assert parsed.token is not None
    assert parsed.token.tst_info.hash_algorithm is algorithm
    assert parsed.token.tst_info.message_imprint == algorithm.digest(DATA)


@pytest.mark.interop
def test_sha1_query_is_rejected_with_bad_alg(server: LiveServer, tmp_path: Path) -> None:
    data, _query, response = _stamp_with_openssl_query(server, tmp_path, hash_name="sha1")

    text = ts_reply_text(tmp_path, response)
    parsed = parse_response(response.read_bytes())
    verdict = ts_verify(tmp_path, response, data=data, ca_file=server.root_pem)

    assert "Status: Rejected." in text, text
    assert "Failure info: unrecognized or unsupported algorithm identifier" in text, text
    assert "TST info:\nNot included." in text, text
    assert parsed.status is PKIStatus.REJECTION
    assert parsed.failure_info == frozenset({FailureInfo.BAD_ALG})
    assert parsed.token is None
    assert not verdict.ok


@pytest.mark.interop
def test_served_tsa_certificate_passes_openssl_timestamp_purpose(
    server: LiveServer, tmp_path: Path, served_chain: Path
) -> None:
    """openssl's own TSA profile check: EKU exactly timeStamping and critical (RFC 3161 §2.3)."""
    tsa_pem = tmp_path / "tsa.pem"
    served_tsa = x509.load_pem_x509_certificates(served_chain.read_bytes())[0]
    tsa_pem.write_bytes(served_tsa.public_bytes(Encoding.PEM))

    done = openssl(
        "verify", "-purpose", "timestampsign", "-CAfile", server.root_pem, tsa_pem, cwd=tmp_path
    )

    assert done.stdout.strip() == f"{tsa_pem}: OK"


@pytest.mark.interop
def test_timeseal_stamp_output_verifies_with_openssl(server: LiveServer, tmp_path: Path) -> None:
    """What `timeseal stamp` writes is a plain TimeStampResp that openssl checks unaided."""
    data = tmp_path / "evidence.txt"
    data.write_bytes(DATA)

    done = subprocess.run(
        [*TIMESEAL, "stamp", str(data), "--server", server.url, "--ca", str(server.root_pem)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    verdict = ts_verify(tmp_path, tmp_path / "evidence.txt.tsr", data=data, ca_file=server.root_pem)
    assert verdict.ok, verdict.output
