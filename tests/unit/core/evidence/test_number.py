from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import (
    ALPHABET,
    new_evidence_number,
    parse_evidence_number,
)

DAY = dt.date(2026, 11, 29)
symbols = st.text(alphabet=ALPHABET, min_size=7, max_size=7)


def test_shape_and_round_trip() -> None:
    number = new_evidence_number(DAY)
    assert number.startswith("TS-20261129-")
    assert len(number) == len("TS-20261129-7Q4K-M2XD")
    assert parse_evidence_number(number) == number


def test_forgiving_input_gives_the_canonical_form() -> None:
    number = new_evidence_number(DAY, "0Q4K1M2")
    typed = number.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert parse_evidence_number(typed) == number


@given(symbols, st.integers(0, 6), st.sampled_from(ALPHABET))
def test_any_single_substitution_is_caught(random: str, pos: int, new: str) -> None:
    number = new_evidence_number(DAY, random)
    if random[pos] == new:
        return
    wrong = random[:pos] + new + random[pos + 1 :]
    typo = f"TS-20261129-{wrong[:4]}-{wrong[4:]}{number[-1]}"
    with pytest.raises(MalformedError, match="check symbol"):
        parse_evidence_number(typo)


@given(symbols, st.integers(0, 5))
def test_any_neighbour_swap_is_caught(random: str, pos: int) -> None:
    if random[pos] == random[pos + 1]:
        return
    number = new_evidence_number(DAY, random)
    swapped = random[:pos] + random[pos + 1] + random[pos] + random[pos + 2 :]
    with pytest.raises(MalformedError):
        parse_evidence_number(f"TS-20261129-{swapped[:4]}-{swapped[4:]}{number[-1]}")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "TS-2026112-7Q4K-M2XD",
        "XX-20261129-7Q4K-M2XD",
        "TS-20261340-7Q4K-M2X0",
        "TS-20261129-7Q4K-M2XDD",
    ],
)
def test_malformed(bad: str) -> None:
    with pytest.raises(MalformedError):
        parse_evidence_number(bad)


@given(st.text(max_size=40))
def test_arbitrary_text_only_raises_malformed(text: str) -> None:
    try:
        number = parse_evidence_number(text)
    except MalformedError:
        return
    assert parse_evidence_number(number) == number


def test_random_symbols_must_be_seven_crockford_symbols() -> None:
    for bad in ("0Q4K1M", "0Q4K1MU"):
        with pytest.raises(ValueError, match="7 Crockford Base32 symbols"):
            new_evidence_number(DAY, bad)


def test_only_short_strings_are_parsed() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        parse_evidence_number(b"TS-20261129-7Q4K-M2XD")  # type: ignore[arg-type]
    with pytest.raises(MalformedError, match="too long"):
        parse_evidence_number("TS-20261129-7Q4K-M2XD" + " " * 60)


def test_u_is_not_a_crockford_symbol() -> None:
    with pytest.raises(MalformedError, match="not Crockford Base32"):
        parse_evidence_number("TS-20261129-7Q4U-M2XD")
