"""The fast request parser agrees with the asn1crypto reference on every input it accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from asn1crypto import tsp
from hypothesis import given, settings
from hypothesis import strategies as st

from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import MalformedError, UnsupportedError
from timeseal.core.tsp._decode import parse_simple_request
from timeseal.core.tsp.request import TimeStampRequest, parse_request, parse_request_asn1crypto


def _reference(data: bytes) -> TimeStampRequest | None:
    try:
        return parse_request_asn1crypto(data)
    except (MalformedError, UnsupportedError):
        return None


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """TimeStampReqs of every shape asn1crypto can encode, common and not."""
    algorithm = draw(st.sampled_from([*HashAlgorithm, None]))
    if algorithm is None:
        alg_oid = draw(st.sampled_from(["sha1", "md5", "1.2.3.4"]))
        size = draw(st.integers(0, 70))
    else:
        alg_oid = algorithm.value
        size = draw(st.sampled_from([algorithm.digest_size, algorithm.digest_size - 1, 0]))
    alg: dict[str, object] = {"algorithm": alg_oid}
    if draw(st.booleans()):
        alg["parameters"] = None  # encoded as NULL; otherwise absent
    fields: dict[str, object] = {
        "version": draw(st.sampled_from(["v1", "v1", "v1", 2])),
        "message_imprint": {
            "hash_algorithm": alg,
            "hashed_message": draw(st.binary(min_size=size, max_size=size)),
        },
        "cert_req": draw(st.booleans()),
    }
    if draw(st.booleans()):
        fields["nonce"] = draw(st.integers(-(2**70), 2**170))
    if draw(st.integers(0, 4)) == 0:
        fields["req_policy"] = "1.2.840.113549.1.9.16.1.4"
    if draw(st.integers(0, 4)) == 0:
        fields["extensions"] = [
            {"extn_id": "1.2.3.4", "critical": draw(st.booleans()), "extn_value": b"\x05\x00"}
        ]
    der: bytes = tsp.TimeStampReq(fields).dump()
    return der


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(requests()))
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[pos] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0xFF]))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=3))
        else:
            del data[pos]
    return bytes(data)


@settings(max_examples=1500, deadline=None)
@given(data=st.one_of(requests(), mutated(), st.binary(max_size=120)))
def test_fast_path_agrees_with_asn1crypto(data: bytes) -> None:
    reference = _reference(data)
    fast = parse_simple_request(data)
    if fast is not None:
        assert reference is not None, "fast path accepted what asn1crypto rejects"
        assert fast == (
            reference.hash_algorithm,
            reference.message_imprint,
            reference.nonce,
            reference.cert_req,
        )
        assert reference.req_policy is None
        assert reference.extensions == ()
    # And the public parser gives exactly the reference's answer either way.
    try:
        public: TimeStampRequest | None = parse_request(data)
    except (MalformedError, UnsupportedError):
        public = None
    assert public == reference


def test_openssl_requests_take_the_fast_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"hello")
    for args in (["-sha256", "-cert"], ["-sha512"], ["-sha384", "-no_nonce"]):
        query = subprocess.run(
            ["openssl", "ts", "-query", "-data", str(data), *args],
            check=True,
            capture_output=True,
        ).stdout
        assert parse_simple_request(query) is not None, args
        assert parse_request(query) == parse_request_asn1crypto(query)


def test_non_null_hash_parameters_are_left_to_the_reference() -> None:
    imprint = b"\x04\x20" + bytes(32)
    alg = b"\x30\x0e\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x02\x01\x05"
    body = b"\x02\x01\x01" + b"\x30" + bytes([len(alg) + len(imprint)]) + alg + imprint
    data = b"\x30" + bytes([len(body)]) + body
    assert parse_simple_request(data) is None
    assert _reference(data) is None


_SHA256_ALG = b"\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00"
_IMPRINT = b"\x30\x31" + _SHA256_ALG + b"\x04\x20" + bytes(32)


def _request(body: bytes) -> bytes:
    return b"\x30" + bytes([len(body)]) + body


@pytest.mark.parametrize(
    "data",
    [
        b"\x30\x81" + bytes([0x33]) + b"\x02\x01\x01" + _IMPRINT,  # long form for a short length
        b"\x30\x82\x00\x33" + b"\x02\x01\x01" + _IMPRINT,
        b"\x30\x81",
        _request(b"\x02\x01\x01" + _IMPRINT + b"\x02\x00"),  # empty nonce
        _request(b"\x02\x01\x01" + _IMPRINT + b"\x02\x02\x00\x05"),  # nonce not minimal
    ],
    ids=["0x81-short", "0x82-short", "truncated-length", "empty-nonce", "padded-nonce"],
)
def test_non_der_shapes_are_refused_by_both_parsers(data: bytes) -> None:
    assert parse_simple_request(data) is None
    assert _reference(data) is None
    assert parse_simple_request(_request(b"\x02\x01\x01" + _IMPRINT)) is not None
