"""``openssl ts -reply`` issues, our verifier checks: it accepts honest tokens from another
implementation and rejects forgeries, naming exactly the check that fails (issue 2).

Tampered tokens are made from both an openssl TSA and our own live TSA, so a check that only
works on our own encoding would show up here. Every reject asserts ``result.failed`` in full:
a forgery must fail for its one reason and pass everything else, or the test has not proved
that the named check is the one doing the work.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509

from tests.support.openssl import (
    OPENSSL_TSA_POLICY,
    EssCertIdAlg,
    HashName,
    OpenSSLTSA,
    cms_sign_tst_info,
    granted_response,
    make_openssl_tsa,
    openssl,
    post_query,
    subject_arg,
    ts_query,
    ts_verify,
)
from tests.support.server import TIMESEAL, LiveServer
from timeseal.core.tsp.request import parse_request
from timeseal.core.tsp.response import TimeStampResponse, parse_response, parse_token
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.core.verification import Check, Status, VerificationResult

DATA = "快递面单照片 photo of the parcel label, 2026-11-29 10:02\n".encode()


def _write_data(directory: Path) -> Path:
    path = directory / "evidence.txt"
    path.write_bytes(DATA)
    return path


def _verify(response_der: bytes, data: bytes, root: x509.Certificate) -> VerificationResult:
    verifier = TimestampVerifierBuilder().add_root(root).build()
    return verifier.verify_message(parse_response(response_der), data)


def _flip(der: bytes, offset: int) -> bytes:
    return der[:offset] + bytes((der[offset] ^ 0x01,)) + der[offset + 1 :]


def _signed_attribute_types(response: TimeStampResponse) -> list[str]:
    assert response.token is not None
    signer_info = cms.ContentInfo.load(response.token.der)["content"]["signer_infos"][0]
    return [attr["type"].dotted for attr in signer_info["signed_attrs"]]


ID_AA_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"  # RFC 2634 ESSCertID (SHA-1)
ID_AA_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # RFC 5035 ESSCertIDv2

# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def openssl_tsa(tmp_path: Path) -> OpenSSLTSA:
    return make_openssl_tsa(tmp_path / "openssl-tsa")


@dataclass(frozen=True)
class Issued:
    """A granted TimeStampResp over DATA and the root it chains to."""

    response_der: bytes
    root: x509.Certificate


@pytest.fixture(params=["openssl", "timeseal"])
def issued(request: pytest.FixtureRequest, tmp_path: Path, server: LiveServer) -> Issued:
    data = _write_data(tmp_path)
    if request.param == "openssl":
        tsa = make_openssl_tsa(tmp_path / "openssl-tsa")
        _, response = tsa.stamp(data)
        return Issued(response.read_bytes(), tsa.root)
    query = ts_query(tmp_path, data)
    root = x509.load_pem_x509_certificate(server.root_pem.read_bytes())
    return Issued(post_query(server.tsa_url, query.read_bytes()), root)


# --- accept ----------------------------------------------------------------------------------


@pytest.mark.interop
@pytest.mark.parametrize(
    ("ess_cert_id_alg", "attribute"),
    [("sha256", ID_AA_SIGNING_CERTIFICATE_V2), ("sha1", ID_AA_SIGNING_CERTIFICATE)],
    ids=["ESSCertIDv2-sha256", "ESSCertID-sha1-default"],
)
def test_accepts_openssl_token(
    tmp_path: Path, ess_cert_id_alg: EssCertIdAlg, attribute: str
) -> None:
    tsa = make_openssl_tsa(tmp_path / "openssl-tsa", ess_cert_id_alg=ess_cert_id_alg)
    query, response = tsa.stamp(_write_data(tmp_path))
    request = parse_request(query.read_bytes())
    assert request.nonce is not None
    parsed = parse_response(response.read_bytes())

    result = (
        TimestampVerifierBuilder()
        .add_root(tsa.root)
        .tsa_certificate(tsa.tsa_certificate)
        .nonce(request.nonce)
        .policy(OPENSSL_TSA_POLICY)
        .build()
        .verify_message(parsed, DATA)
    )

    assert result.ok, result.checks
    assert [c.check for c in result.checks] == [
        Check.PKI_STATUS_GRANTED,
        Check.CONTENT_TYPE,
        Check.SIGNER_CERTIFICATE,
        Check.MESSAGE_DIGEST,
        Check.SIGNATURE,
        Check.ESS_CERT_ID,
        Check.CHAIN_TRUSTED,
        Check.TSA_EKU_CRITICAL,
        Check.IMPRINT_MATCHES,
        Check.NONCE_MATCHES,
        Check.POLICY_MATCHES,
    ]
    assert attribute in _signed_attribute_types(parsed)
    assert parsed.token is not None
    assert parsed.token.tst_info.tsa_name is not None
    assert "OpenSSL Interop TSA" in parsed.token.tst_info.tsa_name


@pytest.mark.interop
@pytest.mark.parametrize("hash_name", ["sha384", "sha512"])
def test_accepts_openssl_token_over_longer_sha2(
    openssl_tsa: OpenSSLTSA, tmp_path: Path, hash_name: HashName
) -> None:
    _, response = openssl_tsa.stamp(_write_data(tmp_path), hash_name=hash_name)

    result = _verify(response.read_bytes(), DATA, openssl_tsa.root)

    assert result.ok, result.checks


@pytest.mark.interop
def test_accepts_ber_token_and_keeps_the_bytes_received(
    openssl_tsa: OpenSSLTSA, tmp_path: Path
) -> None:
    """CMS lets SignedData be BER: `openssl cms -sign -stream` writes indefinite lengths. The
    token verifies, and ``TimeStampToken.der`` is the bytes received, never a re-encoding."""
    data = _write_data(tmp_path)
    _, response = openssl_tsa.stamp(data)
    honest_token = parse_response(response.read_bytes()).token
    assert honest_token is not None
    token = cms_sign_tst_info(openssl_tsa, honest_token.tst_info.der, stream=True)
    ber_response = tmp_path / "ber.tsr"
    ber_response.write_bytes(granted_response(token))

    parsed = parse_response(ber_response.read_bytes())
    result = _verify(ber_response.read_bytes(), DATA, openssl_tsa.root)
    by_openssl = ts_verify(tmp_path, ber_response, data=data, ca_file=openssl_tsa.root_pem)

    assert token[:2] == b"\x30\x80", "expected an indefinite-length (BER) ContentInfo"
    assert parsed.token is not None
    assert parsed.token.der == token
    assert parse_token(token).der == token
    assert result.ok, result.checks
    assert by_openssl.ok, by_openssl.output


# --- reject: one flipped byte ------------------------------------------------------------


@pytest.mark.interop
def test_rejects_flipped_byte_in_data(issued: Issued) -> None:
    tampered = _flip(DATA, 3)

    assert _verify(issued.response_der, DATA, issued.root).ok
    assert _verify(issued.response_der, tampered, issued.root).failed == (Check.IMPRINT_MATCHES,)


@pytest.mark.interop
def test_rejects_flipped_byte_in_signature(issued: Issued) -> None:
    parsed = parse_response(issued.response_der)
    assert parsed.token is not None
    signer_info = cms.ContentInfo.load(parsed.token.der)["content"]["signer_infos"][0]
    signature: bytes = signer_info["signature"].native
    assert issued.response_der.count(signature) == 1
    # ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }: byte 8 lies inside r.
    tampered = _flip(issued.response_der, issued.response_der.index(signature) + 8)

    result = _verify(tampered, DATA, issued.root)

    assert result.failed == (Check.SIGNATURE,)


@pytest.mark.interop
def test_rejects_flipped_byte_in_tst_info(issued: Issued) -> None:
    """The TSTInfo's serialNumber is changed: the token still parses, the signature over the
    signed attributes still verifies, but messageDigest no longer matches the TSTInfo."""
    parsed = parse_response(issued.response_der)
    assert parsed.token is not None
    tst = parsed.token.tst_info
    serial = tst.serial_number.to_bytes(tst.serial_number.bit_length() // 8 + 1, "big")
    encoded_serial = bytes((0x02, len(serial))) + serial
    assert tst.der.count(encoded_serial) == 1
    offset = issued.response_der.index(tst.der) + tst.der.index(encoded_serial)
    tampered = _flip(issued.response_der, offset + len(encoded_serial) - 1)

    reparsed = parse_response(tampered)
    result = _verify(tampered, DATA, issued.root)

    assert reparsed.token is not None
    assert reparsed.token.tst_info.serial_number == tst.serial_number ^ 0x01
    assert result.failed == (Check.MESSAGE_DIGEST,)


@pytest.mark.interop
def test_rejects_wrong_trust_anchor(issued: Issued, tmp_path: Path) -> None:
    stranger = make_openssl_tsa(tmp_path / "stranger").root

    result = _verify(issued.response_der, DATA, stranger)

    assert result.failed == (Check.CHAIN_TRUSTED,)


# --- reject: forgeries ---------------------------------------------------------------------


@pytest.fixture
def forged(server: LiveServer, tmp_path: Path) -> tuple[OpenSSLTSA, Path, Path]:
    """A forger's openssl TSA whose root and TSA certificate copy the names of ours, and a
    correctly signed token from it that carries the forger's root inside: (tsa, data, tsr)."""
    real_root = x509.load_pem_x509_certificate(server.root_pem.read_bytes())
    real_tsa = x509.load_pem_x509_certificate((server.data_dir / "pki" / "tsa.pem").read_bytes())
    forger = make_openssl_tsa(
        tmp_path / "forger",
        root_subject=subject_arg(real_root.subject),
        tsa_subject=subject_arg(real_tsa.subject),
    )
    data = _write_data(tmp_path)
    _, response = forger.stamp(data)
    return forger, data, response


@pytest.mark.interop
def test_rejects_forged_token_carrying_its_own_root(
    server: LiveServer, forged: tuple[OpenSSLTSA, Path, Path], tmp_path: Path
) -> None:
    forger, data, response = forged
    real_root = x509.load_pem_x509_certificate(server.root_pem.read_bytes())
    parsed = parse_response(response.read_bytes())
    assert parsed.token is not None

    against_forger = _verify(response.read_bytes(), DATA, forger.root)
    against_ours = _verify(response.read_bytes(), DATA, real_root)
    by_openssl = ts_verify(tmp_path, response, data=data, ca_file=server.root_pem)

    # Well made: the forger's root is in the token, names match ours, the crypto is sound...
    assert forger.root in parsed.token.certificates
    assert forger.root.subject == real_root.subject
    assert against_forger.ok, against_forger.checks
    # ...and only trust in our real root tells it apart.
    assert against_ours.failed == (Check.CHAIN_TRUSTED,)
    assert not by_openssl.ok, by_openssl.output


@pytest.mark.interop
def test_openssl_ts_reply_itself_refuses_a_non_critical_eku(tmp_path: Path) -> None:
    """Why the next test signs with `openssl cms` rather than `openssl ts -reply`."""
    tsa = make_openssl_tsa(tmp_path / "openssl-tsa", eku_critical=False)
    query = ts_query(tmp_path, _write_data(tmp_path))

    done = openssl(
        "ts", "-reply", "-config", tsa.config, "-queryfile", query, cwd=tmp_path, check=False
    )

    assert done.returncode != 0
    assert "invalid signer certificate purpose" in done.stderr


@pytest.mark.interop
def test_rejects_tsa_certificate_whose_eku_is_not_critical(tmp_path: Path) -> None:
    # The lax certificate first: the TSTInfo's genTime must fall within its validity.
    lax = make_openssl_tsa(tmp_path / "lax", eku_critical=False)
    honest = make_openssl_tsa(tmp_path / "honest")
    data = _write_data(tmp_path)
    _, honest_response = honest.stamp(data)
    honest_token = parse_response(honest_response.read_bytes()).token
    assert honest_token is not None
    eku = lax.tsa_certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    response = tmp_path / "lax.tsr"
    response.write_bytes(granted_response(cms_sign_tst_info(lax, honest_token.tst_info.der)))

    result = _verify(response.read_bytes(), DATA, lax.root)
    by_openssl = ts_verify(tmp_path, response, data=data, ca_file=lax.root_pem)

    assert ID_AA_SIGNING_CERTIFICATE_V2 in _signed_attribute_types(
        parse_response(response.read_bytes())
    )
    assert result.failed == (Check.TSA_EKU_CRITICAL,)
    assert not by_openssl.ok
    assert "unsuitable certificate purpose" in by_openssl.output


# --- the CLI ----------------------------------------------------------------------------


def _timeseal_verify(cwd: Path, data: Path, token: Path, ca: Path) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [*TIMESEAL, "verify", str(data), "--token", str(token), "--ca", str(ca), "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    body: dict[str, object] = json.loads(done.stdout)
    return done.returncode, body


def _failing(body: dict[str, object]) -> list[object]:
    checks = body["checks"]
    assert isinstance(checks, list)
    return [c["check"] for c in checks if c["status"] == Status.FAIL.value]


@pytest.mark.interop
def test_cli_accepts_openssl_token(openssl_tsa: OpenSSLTSA, tmp_path: Path) -> None:
    data = _write_data(tmp_path)
    _, response = openssl_tsa.stamp(data)

    code, body = _timeseal_verify(tmp_path, data, response, openssl_tsa.root_pem)

    assert code == 0, body
    assert body["valid"] is True
    assert _failing(body) == []


@pytest.mark.interop
def test_cli_rejects_forged_token(
    server: LiveServer, forged: tuple[OpenSSLTSA, Path, Path], tmp_path: Path
) -> None:
    _, data, response = forged

    code, body = _timeseal_verify(tmp_path, data, response, server.root_pem)

    assert code == 1, body
    assert body["valid"] is False
    assert _failing(body) == [Check.CHAIN_TRUSTED.value]
