"""Parsing and verifying arbitrary or mutated responses: a named result or a core error, never
a crash."""

from __future__ import annotations

import datetime as dt
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.pki import make_pki
from timeseal.core.errors import MalformedError, UnsupportedError
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder

PKI = make_pki()
DIGEST = hashlib.sha256(b"fuzz").digest()
_authority = PKI.authority()
VALID = _authority.issue(
    _authority.check(build_request(DIGEST, nonce=1).der),
    gen_time=dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC),
    serial_number=99,
).response_der
VERIFIER = TimestampVerifierBuilder().add_root(PKI.root.certificate).build()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "set", "truncate"]))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[pos] = draw(st.integers(0, 255))
        else:
            del data[pos:]
            break
    return bytes(data)


def test_the_valid_response_verifies() -> None:
    assert VERIFIER.verify(parse_response(VALID), DIGEST).ok


@settings(max_examples=400, deadline=None)
@given(data=st.one_of(mutated(), st.binary(max_size=200)))
def test_mutations_never_crash_and_never_verify_falsely(data: bytes) -> None:
    try:
        response = parse_response(data)
    except (MalformedError, UnsupportedError):
        return
    result = VERIFIER.verify(response, DIGEST)
    if result.ok:
        # Only bytes outside what is signed may change (e.g. the unsigned certificate list
        # order); the signed TSTInfo must be the original one.
        assert response.token is not None
        assert response.token.tst_info.serial_number == 99
        assert response.token.tst_info.message_imprint == DIGEST
