"""Canonical JSON (docs/package-format.md): one byte string per value, and strict parsing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timeseal.core.errors import MalformedError
from timeseal.core.package.canonical import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    JSONValue,
    check_json_bounds,
    format_canonical_json,
    parse_canonical_json,
)

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | _text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_text, children, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_round_trip_is_identity_and_canonical(value: JSONValue) -> None:
    data = format_canonical_json(value)
    parsed, canonical = parse_canonical_json(data)
    assert canonical
    assert parsed == value
    assert format_canonical_json(parsed) == data


@given(st.dictionaries(_text, st.integers(0, 9), min_size=2, max_size=6))
def test_pretty_or_reordered_json_parses_but_is_not_canonical(value: dict[str, int]) -> None:
    pretty = json.dumps(value, ensure_ascii=False, indent=1).encode()
    parsed, canonical = parse_canonical_json(pretty)
    assert parsed == value and not canonical
    descending = dict(sorted(value.items(), reverse=True))
    compact = json.dumps(descending, ensure_ascii=False, separators=(",", ":")).encode()
    parsed, canonical = parse_canonical_json(compact)
    assert parsed == value and not canonical


def test_exact_bytes() -> None:
    value: JSONValue = {"b": [1, -2, True, None], "a": '时印\n"\\\x01', "é": {}}
    assert (
        format_canonical_json(value)
        == '{"a":"时印\\n\\"\\\\\\u0001","b":[1,-2,true,null],"é":{}}'.encode()
    )


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1.5}',
        b'{"a":1e3}',
        b'{"a":NaN}',
        b'{"a":1,"a":2}',
        b'{"a":9007199254740992}',
        b"\xff",
        b'{"a":',
        b'"\\ud800"',
    ],
    ids=[
        "fraction",
        "exponent",
        "nan",
        "duplicate-key",
        "too-big",
        "not-utf8",
        "truncated",
        "lone-surrogate",
    ],
)
def test_refuses_what_canonical_json_cannot_hold(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_canonical_json(data)


@pytest.mark.parametrize("value", [1.0, {1: 2}, b"bytes", 2**53, "\ud800"])
def test_format_refuses_non_canonical_values(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        format_canonical_json(value)  # type: ignore[arg-type]


def test_escaped_but_equal_string_is_not_canonical() -> None:
    parsed, canonical = parse_canonical_json(b'"\\u65f6"')
    assert parsed == "时" and not canonical


@pytest.mark.parametrize(
    ("data", "limits", "message"),
    [
        (b'["a","b","c"]', {"max_tokens": 1}, "more than 2 strings"),
        (b'{"a":"b}', {}, "a JSON string does not end"),
        (b"[[],[],[]]", {"max_tokens": 3}, "more than 3 arrays"),
        (b"[[]]]", {}, "brackets do not balance"),
        (b"[[[]]]", {"max_depth": 2}, "nested deeper than 2 levels"),
    ],
    ids=["strings", "open-string", "tokens", "unbalanced", "depth"],
)
def test_bounds_are_checked_before_parsing(
    data: bytes, limits: dict[str, int], message: str
) -> None:
    with pytest.raises(MalformedError, match=message):
        check_json_bounds(data, **limits)


def test_parse_takes_bytes_only() -> None:
    with pytest.raises(TypeError, match="data must be bytes"):
        parse_canonical_json("{}")  # type: ignore[arg-type]


def test_format_refuses_values_nested_too_deep() -> None:
    value: JSONValue = []
    for _ in range(MAX_DEPTH + 1):
        value = [value]
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_DEPTH}"):
        format_canonical_json(value)
