"""The strict loader over asn1crypto (timeseal.core._asn1): what it refuses before, while and
after parsing."""

from __future__ import annotations

import pytest
from asn1crypto import core

from timeseal.core import _asn1
from timeseal.core.errors import MalformedError


def test_only_bytes_are_parsed() -> None:
    with pytest.raises(TypeError, match="Thing: expected bytes, got str"):
        _asn1.load(core.Integer, "0201 05", "Thing")  # type: ignore[arg-type]


def test_oversized_input_is_refused_unparsed() -> None:
    with pytest.raises(MalformedError, match="larger than"):
        _asn1.load(core.OctetString, bytes(_asn1.MAX_DER_SIZE + 1), "Thing")


def test_a_value_that_cannot_be_re_encoded_is_not_der() -> None:
    # asn1crypto reads a GeneralizedTime without a zone but refuses to encode one.
    naive = b"\x18\x0e20261129100200"
    assert _asn1.load(core.GeneralizedTime, naive, "Time").dump() == naive
    with pytest.raises(MalformedError, match="Time: bad DER"):
        _asn1.load(core.GeneralizedTime, naive, "Time", require_der=True)


def test_a_long_form_length_is_not_der() -> None:
    assert _asn1.load(core.Integer, b"\x02\x81\x01\x05", "Int").native == 5
    with pytest.raises(MalformedError, match="Int: not DER-canonical"):
        _asn1.load(core.Integer, b"\x02\x81\x01\x05", "Int", require_der=True)
