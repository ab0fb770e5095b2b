"""The canonical text pieces behind every C2SP parser (timeseal.core.tlog._text)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timeseal.core.errors import MalformedError
from timeseal.core.tlog._text import decode_base64, is_valid_key_name, parse_decimal

B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


@settings(max_examples=1000)
@given(text=st.text(alphabet=B64_CHARS, max_size=12) | st.text(max_size=12))
def test_decode_base64_is_canonical_and_only_raises_malformed(text: str) -> None:
    try:
        data = decode_base64(text, "x")
    except MalformedError:
        return
    assert base64.b64encode(data).decode() == text


@settings(max_examples=300)
@given(data=st.binary(max_size=40))
def test_decode_base64_round_trip(data: bytes) -> None:
    assert decode_base64(base64.b64encode(data).decode(), "x") == data


@pytest.mark.parametrize("text", ["AB==", "AAB=", "AA", "AA=A", "A===", "=AAA", "AA\nAA", "ÀÀÀÀ"])
def test_non_canonical_base64(text: str) -> None:
    with pytest.raises(MalformedError):
        decode_base64(text, "x")


def test_decimals() -> None:
    assert parse_decimal("0", "x", 10) == 0
    assert parse_decimal("10", "x", 10) == 10
    for bad in ("", "01", "+1", "-1", " 1", "1 ", "11", "١", "1_0", "100"):
        with pytest.raises(MalformedError):
            parse_decimal(bad, "x", 10)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("example.com/log", True),
        ("时印/日志", True),
        ("oid/1.3.6.1.4.1", True),
        ("", False),
        ("a+b", False),
        ("a b", False),
        ("a\u0085b", False),  # NEL: a Unicode space (Go unicode.IsSpace)
        ("a\u200ab", False),  # hair space
        ("a\u205fb", False),
        ("a\x7fb", True),  # DEL is not below U+0020
        ("a\x1fb", False),
        ("\udc00", False),
    ],
)
def test_key_names(name: str, valid: bool) -> None:
    assert is_valid_key_name(name) is valid
