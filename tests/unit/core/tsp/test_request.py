"""Building and parsing TimeStampReq (timeseal.core.tsp.request): a request that does not fit
its own algorithm cannot be made, and the reference parser refuses what RFC 3161 forbids."""

from __future__ import annotations

import pytest
from asn1crypto import core, tsp

from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import MalformedError
from timeseal.core.tsp.request import build_request, parse_request


def test_the_imprint_must_fit_the_algorithm() -> None:
    with pytest.raises(ValueError, match="message imprint is 20 bytes, SHA256 needs 32"):
        build_request(bytes(20))


@pytest.mark.parametrize("nonce", [-1, 1 << 160])
def test_the_nonce_must_be_in_range(nonce: int) -> None:
    with pytest.raises(ValueError, match="nonce must be in"):
        build_request(bytes(32), nonce=nonce)


def test_the_algorithm_is_an_enum_member() -> None:
    with pytest.raises(TypeError, match="HashAlgorithm"):
        build_request(bytes(32), "sha256")  # type: ignore[arg-type]


def test_a_bytearray_takes_the_reference_parser() -> None:
    der = build_request(bytes(48), HashAlgorithm.SHA384).der
    assert parse_request(bytearray(der)) == parse_request(der)  # type: ignore[arg-type]


def test_hash_parameters_must_be_absent_or_null() -> None:
    # asn1crypto itself refuses parameters other than NULL for the SHA-2 family; an algorithm
    # it does not know gets this check before the algorithm is looked up.
    der = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "1.2.3.4", "parameters": core.OctetString(b"")},
                "hashed_message": bytes(32),
            },
        }
    ).dump()
    with pytest.raises(MalformedError, match="parameters must be absent or NULL"):
        parse_request(der)
