"""Paths inside a package: derived from evidence numbers, never unsafe."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.core.package.helpers import number_with_check
from timeseal.core.package import layout


@pytest.mark.parametrize(
    ("check", "suffix"), [("*", "_32"), ("~", "_33"), ("$", "_34"), ("=", "_35")]
)
def test_unsafe_check_symbols_are_spelled_out(check: str, suffix: str) -> None:
    number = number_with_check(check)
    assert layout.item_id(number) == number[:-1] + suffix
    assert layout.token_path(number) == f"proofs/{number[:-1]}{suffix}.tsr"


def test_non_canonical_numbers_are_refused() -> None:
    number = number_with_check("Z")
    with pytest.raises(ValueError, match="canonical"):
        layout.item_id(number.lower())


@pytest.mark.parametrize(
    ("original", "safe"),
    [
        ("IMG 0001.jpg", "IMG_0001.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\录屏.mp4", "录屏.mp4"),
        ("..hidden", "hidden"),
        ("a$(rm -rf ~)`x`.txt", "a_rm_-rf_x_.txt"),
        ("", "file"),
        ("...", "file"),
        ("x" * 200 + ".mp4", "x" * 76 + ".mp4"),
        ("x" * 200, "x" * 80),  # no extension to keep
        ("x" * 100 + "." + "y" * 20, "x" * 80),  # an "extension" too long to be one
    ],
)
def test_safe_name(original: str, safe: str) -> None:
    assert layout.safe_name(original) == safe


@given(st.text(max_size=300))
def test_derived_paths_are_always_safe(original: str) -> None:
    path = layout.item_path(number_with_check("$"), original)
    assert layout.unsafe_reason(path) is None
    assert not set(path) & set(" \t\n'\"$`\\;&|<>()*?[]{}!#~")


@pytest.mark.parametrize(
    "name", ["", "/abs", "C:x", "a\\b", "a/../b", "./a", "a//b", "a/\x00", "e\u0301.txt"]
)
def test_unsafe_names(name: str) -> None:
    assert layout.unsafe_reason(name) is not None


def test_certificate_paths() -> None:
    number = number_with_check("Z")
    assert layout.certificate_path(number, case=False) == "certificate.pdf"
    assert layout.certificate_path(number, case=True) == f"certificates/{number}.pdf"


def test_safe_name_takes_a_str() -> None:
    with pytest.raises(TypeError, match="original name must be a str"):
        layout.safe_name(b"IMG.jpg")  # type: ignore[arg-type]


def test_overlong_paths_are_unsafe() -> None:
    assert layout.unsafe_reason("items/" + "x" * 400) == "longer than 400 bytes"
